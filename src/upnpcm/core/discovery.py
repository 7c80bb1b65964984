"""SSDP replies and announcements as the control point reads them, sans-I/O.

:func:`interpret` turns one datagram (and where it came from) into a
:class:`Discovered`, or None when it is not a search reply or announcement
or does not parse. Numbers that are absent or malformed read as None.

What a conformant message holds is judged here too (for a conformance
checker), never by the reader, which stays tolerant:

S7  A search reply is ``HTTP/1.1 200`` with CACHE-CONTROL (a max-age), EXT,
    LOCATION (an absolute http URL), SERVER, ST and USN.
A6  An ssdp:alive has HOST, CACHE-CONTROL (a max-age), LOCATION, NT, NTS,
    SERVER and USN; an ssdp:byebye HOST, NT, NTS and USN.
A7  max-age is at least 1800 seconds.

What a control point that keeps a list of devices makes of the messages
(:class:`Presence`):

A8  A root device is present from its first ssdp:alive or search reply for
    ``upnp:rootdevice`` until an ssdp:byebye of its UDN, or until its
    CACHE-CONTROL max-age passes without any message of its UDN (or of the
    UDN of one of its embedded devices) renewing it.
A9  A BOOTID.UPNP.ORG or CONFIGID.UPNP.ORG other than the one known means the
    device restarted or changed its description: it is reported as changed
    (to be loaded again), and then its LOCATION is the one it now gives from
    the address it was first seen at. Other LOCATIONs it is heard with (one
    per address of a device on IPv4 and IPv6) are kept, bounded, as
    alternatives.
M7  The list holds a bounded number of devices, in all and per sender address,
    and a bounded number of embedded UDNs per device; what is over a bound is
    refused and counted, never evicting a device already there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit

from upnpcm.core.http import decimal
from upnpcm.core.ssdp import SsdpMessage, parse_datagram
from upnpcm.errors import RemoteProtocolError

__all__ = [
    "MIN_MAX_AGE",
    "Discovered",
    "Kind",
    "Presence",
    "PresenceChange",
    "PresentDevice",
    "announcement_problems",
    "interpret",
    "max_age",
    "reply_problems",
    "uda_version",
]

#: The smallest CACHE-CONTROL max-age UDA recommends (A7; UDA 1.1 §1.2.2).
MIN_MAX_AGE: Final = 1800
_UDA_TOKEN: Final = re.compile(r"UPnP/([0-9]+)\.([0-9]+)", re.IGNORECASE)

Kind = Literal["response", "alive", "byebye", "update"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovered:
    """A search reply or an announcement."""

    kind: Kind
    usn: str
    nt: str
    location: str | None
    source: tuple[str, int]
    server: str | None = None
    boot_id: int | None = None
    config_id: int | None = None
    max_age: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def udn(self) -> str:
        """The device UDN (the USN up to ``::``)."""
        return self.usn.split("::", 1)[0]

    @classmethod
    def from_message(cls, message: SsdpMessage, source: tuple[str, int]) -> Discovered | None:
        """Build from a parsed datagram; None when it is not a reply or announcement."""
        headers = {name.upper(): value for name, value in message.headers}
        if message.kind == "RESPONSE":
            if message.status != 200:
                return None
            kind: Kind = "response"
            nt = headers.get("ST", "")
        elif message.kind == "NOTIFY":
            nts = headers.get("NTS", "").lower()
            if nts not in ("ssdp:alive", "ssdp:byebye", "ssdp:update"):
                return None
            kind = (
                "alive" if nts == "ssdp:alive" else "byebye" if nts == "ssdp:byebye" else "update"
            )
            nt = headers.get("NT", "")
        else:
            return None
        usn = headers.get("USN", "")
        if not usn:
            return None
        return cls(
            kind=kind,
            usn=usn,
            nt=nt,
            location=headers.get("LOCATION") or None,
            source=source,
            server=headers.get("SERVER"),
            boot_id=decimal(
                (headers.get("BOOTID.UPNP.ORG") or headers.get("X-RINCON-BOOTSEQ") or "").strip()
            ),
            config_id=decimal(headers.get("CONFIGID.UPNP.ORG", "").strip()),
            max_age=max_age(headers.get("CACHE-CONTROL")),
            headers=headers,
        )


def max_age(text: str | None) -> int | None:
    """The seconds of a CACHE-CONTROL ``max-age`` directive; None when absent or malformed."""
    if not text:
        return None
    name, _, value = text.partition("=")  # "max-age = 1800" (Sonos) too
    return decimal(value.strip()) if name.strip().lower() == "max-age" else None


def interpret(data: bytes, source: tuple[str, int]) -> Discovered | None:
    """One datagram from ``source``; None when it does not parse or is neither reply nor announcement."""
    try:
        message = parse_datagram(data)
    except RemoteProtocolError:
        return None
    return Discovered.from_message(message, source)


def _missing(message: SsdpMessage, names: tuple[str, ...]) -> list[str]:
    return [f"no {name} header" for name in names if message.get(name) is None]


def _location_problem(message: SsdpMessage) -> list[str]:
    location = message.get("LOCATION")
    if location is None:
        return []
    try:
        parts = urlsplit(location)
        _ = parts.port
    except ValueError:
        return [f"LOCATION {location!r} is not a URL"]
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return [f"LOCATION {location!r} is not an absolute http URL"]
    return []


def _max_age_problem(message: SsdpMessage) -> list[str]:
    text = message.get("CACHE-CONTROL")
    if text is not None and max_age(text) is None:
        return [f"CACHE-CONTROL {text!r} has no max-age"]
    return []


def reply_problems(message: SsdpMessage) -> list[str]:
    """S7: what a search reply lacks (empty: complete)."""
    if message.kind != "RESPONSE":
        return ["not an HTTP response"]
    problems = [] if message.status == 200 else [f"status {message.status}, not 200"]
    problems += _missing(message, ("CACHE-CONTROL", "EXT", "LOCATION", "SERVER", "ST", "USN"))
    return problems + _max_age_problem(message) + _location_problem(message)


def announcement_problems(message: SsdpMessage) -> list[str]:
    """A6: what an ssdp:alive or ssdp:byebye lacks (empty: complete)."""
    if message.kind != "NOTIFY":
        return ["not a NOTIFY"]
    nts = (message.get("NTS") or "").lower()
    if nts == "ssdp:alive":
        names: tuple[str, ...] = (
            "HOST", "CACHE-CONTROL", "LOCATION", "NT", "NTS", "SERVER", "USN"
        )  # fmt: skip
        return _missing(message, names) + _max_age_problem(message) + _location_problem(message)
    if nts == "ssdp:byebye":
        return _missing(message, ("HOST", "NT", "NTS", "USN"))
    return [f"NTS {nts!r} is neither ssdp:alive nor ssdp:byebye"]


def uda_version(server: str | None) -> tuple[int, int] | None:
    """The UDA version a SERVER (or USER-AGENT) header names (``UPnP/1.1``), or None."""
    match = _UDA_TOKEN.search(server or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(slots=True, kw_only=True)
class PresentDevice:
    """A root device the network says is there (mutable; owned by its :class:`Presence`)."""

    udn: str
    location: str | None
    #: The address its messages come from.
    source: str
    server: str | None
    boot_id: int | None
    config_id: int | None
    max_age: int
    first_seen: float
    last_seen: float
    expires_at: float
    #: UDNs of its embedded devices (whose messages renew it too).
    embedded: tuple[str, ...] = ()
    #: Every (sender, LOCATION) it was heard with, the first one first (a device on
    #: IPv4 and IPv6, or on two interfaces, gives one per address), at most
    #: ``Presence.max_locations``.
    locations: tuple[tuple[str, str], ...] = ()


PresenceKind = Literal["appeared", "changed", "seen", "gone", "expired"]


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """What one message (or the clock) changed: ``device`` appeared, changed, was seen, left."""

    kind: PresenceKind
    device: PresentDevice
    #: Why a device changed (``BOOTID 3 → 4``) or left (``ssdp:byebye``).
    reason: str = ""


class Presence:
    """Which root devices are present, by what SSDP says (rules A8, A9, M7). Pure: ``now`` is an argument."""

    def __init__(
        self,
        *,
        max_devices: int = 512,
        max_per_peer: int = 64,
        max_embedded: int = 16,
        max_locations: int = 4,
        default_max_age: int = MIN_MAX_AGE,
    ) -> None:
        if max_devices < 1 or max_per_peer < 1 or max_embedded < 0:
            raise ValueError("presence bounds must be at least 1")
        self.max_devices = max_devices
        self.max_per_peer = max_per_peer
        self.max_embedded = max_embedded
        self.max_locations = max_locations
        self.default_max_age = default_max_age
        self._devices: dict[str, PresentDevice] = {}
        self._roots: dict[str, str] = {}  # embedded UDN -> root UDN
        self._per_peer: dict[str, int] = {}
        #: Messages of new devices refused by a bound (M7).
        self.refused = 0

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[PresentDevice]:
        return iter(list(self._devices.values()))

    def get(self, udn: str) -> PresentDevice | None:
        """The present root device ``udn`` (or the root of the embedded device ``udn``)."""
        return self._devices.get(self._roots.get(udn, udn))

    def peers(self) -> dict[str, int]:
        """Devices per sender address."""
        return dict(self._per_peer)

    def observe(self, found: Discovered, now: float) -> PresenceChange | None:
        """What ``found`` changes (A8, A9); None when nothing (or it was refused, M7)."""
        udn = found.udn
        root = self._roots.get(udn, udn)
        known = self._devices.get(root)
        if found.kind == "byebye":
            if known is None or udn != root:
                return None
            self._remove(known)
            return PresenceChange("gone", known, "ssdp:byebye")
        max_age = found.max_age if found.max_age else self.default_max_age
        if known is None:
            if found.nt.strip().lower() != "upnp:rootdevice":
                return None  # an embedded device or a service: its root's own message will come
            source = found.source[0]
            if (
                len(self._devices) >= self.max_devices
                or self._per_peer.get(source, 0) >= self.max_per_peer
            ):
                self.refused += 1
                return None
            device = PresentDevice(
                udn=udn,
                location=found.location,
                source=source,
                server=found.server,
                boot_id=found.boot_id,
                config_id=found.config_id,
                max_age=max_age,
                first_seen=now,
                last_seen=now,
                expires_at=now + max_age,
                locations=((source, found.location),) if found.location else (),
            )
            self._devices[udn] = device
            self._per_peer[source] = self._per_peer.get(source, 0) + 1
            return PresenceChange("appeared", device)
        known.last_seen = now
        known.max_age = max_age
        known.expires_at = max(known.expires_at, now + max_age)
        boot_id = found.boot_id
        if found.kind == "update":  # UDA 1.1 §1.2.3: the next BOOTID is announced
            boot_id = decimal(found.headers.get("NEXTBOOTID.UPNP.ORG", "").strip()) or boot_id
        changes = []
        if boot_id is not None and known.boot_id is not None and boot_id != known.boot_id:
            changes.append(f"BOOTID {known.boot_id} → {boot_id}")
        if (
            found.config_id is not None
            and known.config_id is not None
            and found.config_id != known.config_id
        ):
            changes.append(f"CONFIGID {known.config_id} → {found.config_id}")
        if boot_id is not None:
            known.boot_id = boot_id
        if found.config_id is not None:
            known.config_id = found.config_id
        if found.server:
            known.server = found.server
        where = (found.source[0], found.location) if found.location and udn == root else None
        if changes:
            if where is not None and where[0] == known.source:
                known.location = where[1]
                known.locations = (where,)  # the others will say where they are now
            return PresenceChange("changed", known, ", ".join(changes))
        if (
            where is not None
            and where not in known.locations
            and len(known.locations) < self.max_locations
        ):
            known.locations = (*known.locations, where)
        return PresenceChange("seen", known)

    def set_embedded(self, root: str, udns: Iterable[str]) -> None:
        """The embedded devices of ``root`` (from its description): their messages renew it (M7)."""
        device = self._devices.get(root)
        if device is None:
            return
        for old in device.embedded:
            self._roots.pop(old, None)
        chosen = tuple(u for u in dict.fromkeys(udns) if u != root and u not in self._devices)
        device.embedded = chosen[: self.max_embedded]
        for udn in device.embedded:
            self._roots[udn] = root

    def expire(self, now: float) -> list[PresenceChange]:
        """Devices whose max-age has passed unrenewed (A8)."""
        gone = [d for d in self._devices.values() if d.expires_at <= now]
        for device in gone:
            self._remove(device)
        return [PresenceChange("expired", d, f"no message for {d.max_age} s") for d in gone]

    def next_deadline(self) -> float | None:
        """When the next device expires, or None."""
        return min((d.expires_at for d in self._devices.values()), default=None)

    def _remove(self, device: PresentDevice) -> None:
        del self._devices[device.udn]
        for udn in device.embedded:
            self._roots.pop(udn, None)
        left = self._per_peer.get(device.source, 0) - 1
        if left > 0:
            self._per_peer[device.source] = left
        else:
            self._per_peer.pop(device.source, None)
