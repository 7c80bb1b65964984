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
"""

from __future__ import annotations

import re
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
