"""SSDP: datagrams, the advertisement set, a search responder and an advertiser (UDA 1.1 §1).

Theory of operation
===================

Datagrams in, datagrams out. :func:`parse_datagram` turns bytes into an
:class:`SsdpMessage` or raises :class:`RemoteProtocolError` (never anything
else). :class:`SearchResponder` answers M-SEARCH datagrams and
:class:`Advertiser` schedules NOTIFY ssdp:alive/ssdp:byebye; both return
:class:`Outgoing` datagrams with the (monotonic) time they are due, and take
``now`` and a :class:`random.Random` from the caller (aioquic's contract:
``handle_…(…, now)``, ``next_deadline()``, ``handle_timer(now)``).

The advertisement set (UDA 1.1 §1.2.2)
------------------------------------
A root device with d devices (root included) sends 3 + 2(d-1) + k messages:
``upnp:rootdevice`` once; per device ``uuid:D`` and its device type; per
device, once per distinct service type it holds (k in all).

Search rules (UDA 1.1 §1.3.2-1.3.3)
--------------------------------------------------------
S1  Only ``M-SEARCH * HTTP/1.1`` with ``MAN: "ssdp:discover"`` (quoted) and an
    ``ST`` is answered; anything else is ignored.
S2  A multicast search needs an integer MX >= 1; a missing, 0, negative or
    non-integer MX is ignored. MX above 5 counts as 5 (UDA 1.1). Each reply is
    due at a random time within [0, MX - 0.25] seconds: inside the MX window,
    with a margin so that a searcher that waits exactly MX still hears it.
S3  A unicast search (HOST is not the multicast group) needs no MX and is
    answered at once.
S4  ST ``ssdp:all`` → every advertisement; ``upnp:rootdevice`` → the root;
    ``uuid:X`` → that device; a device or service type → one reply per
    device that has it with a version >= the one asked for (the reply's ST
    echoes the request). Never two replies for one advertisement.
S5  Reflection defence: a search from outside the device's own networks is
    not answered. At most ``max_rate`` searches per second per source are
    answered. One global reply budget covers every source, multicast and
    unicast alike: at most ``max_pending`` replies are waiting to be sent or
    were due within the last second (an immediate unicast reply counts too).
S8  The budget is shared fairly, per source first, then globally: a source
    may hold at most ``max_pending // (n + 2)`` of those replies (at least
    one), n being the other sources that hold some; all sources together
    hold at most ``max_pending``, and sources that keep searching (one
    answered in the last second, or replies still pending) leave one such
    share of it free for a searcher that does not. A flood from many
    sources cannot starve a control point that searches now and then, and
    one source gets at most half the budget (it could take all of it before).
S6  Garbage, datagrams over 8 KiB, more than 64 header lines or a header line
    over 1 KiB are dropped (:func:`parse_datagram` raises).

Advertising rules (UDA 1.1 §1.2)
--------------------------------
A1  On start every alive message is sent twice, the copies 0.1-0.3 s apart.
A2  The whole set is sent again before max-age/2 has passed (at a random time
    between 35 % and 45 % of max-age), with the copies spread over 1 s.
A3  On stop a byebye for every advertisement is sent (twice).
A4  BOOTID.UPNP.ORG is in every message; CONFIGID.UPNP.ORG too unless the
    profile says otherwise (Sonos sends none).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from upnpcm.core.description import Device
from upnpcm.core.http import Headers, decimal, format_head, format_host, plain_ip
from upnpcm.errors import RemoteProtocolError

if TYPE_CHECKING:
    from upnpcm.core.http import Network

__all__ = [
    "MAX_DATAGRAM",
    "SSDP_GROUP_V4",
    "SSDP_GROUP_V6",
    "SSDP_PORT",
    "Advertisement",
    "Advertiser",
    "Outgoing",
    "SearchResponder",
    "SsdpConfig",
    "SsdpMessage",
    "advertisements",
    "build_msearch",
    "build_notify",
    "build_search_response",
    "location_matches_source",
    "parse_datagram",
    "ssdp_host",
]

SSDP_GROUP_V4: Final = "239.255.255.250"
SSDP_GROUP_V6: Final = "ff02::c"
SSDP_PORT: Final = 1900
MAX_DATAGRAM: Final = 8192
MAX_HEADER_LINES: Final = 64
MAX_LINE: Final = 1024
_TYPE_RE: Final = re.compile(r"urn:([^:]+):(device|service):([^:]+):([0-9]+)\Z")

Address = tuple[str, int]
Kind = Literal["M-SEARCH", "NOTIFY", "RESPONSE"]


# ----------------------------------------------------------------------- codec


@dataclass(frozen=True, slots=True, kw_only=True)
class SsdpMessage:
    """One parsed SSDP datagram."""

    kind: Kind
    headers: Headers
    status: int = 0

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), stripped."""
        value = self.headers.get(name)
        return value.strip() if value is not None else None


def parse_datagram(data: bytes) -> SsdpMessage:
    r"""Parse an SSDP datagram (bare ``\n`` line ends accepted, as SoCo sends them).

    Raises:
        RemoteProtocolError: too big, too many or too long header lines, an
            unknown start line, or a header line without a colon (S6).
    """
    if len(data) > MAX_DATAGRAM:
        raise RemoteProtocolError(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM}")
    text = data.decode("utf-8", "replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if start.upper() == "M-SEARCH * HTTP/1.1":
        kind: Kind = "M-SEARCH"
        status = 0
    elif start.upper() == "NOTIFY * HTTP/1.1":
        kind = "NOTIFY"
        status = 0
    elif (
        start.upper().startswith("HTTP/1.")
        and len(start.split()) >= 2
        and (code := decimal(start.split()[1], max_digits=3)) is not None
    ):
        kind = "RESPONSE"
        status = code
    else:
        raise RemoteProtocolError("not an SSDP start line")
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            raise RemoteProtocolError("SSDP header line too long")
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise RemoteProtocolError("malformed SSDP header line")
        pairs.append((name.strip(), value.strip()))
        if len(pairs) > MAX_HEADER_LINES:
            raise RemoteProtocolError("too many SSDP header lines")
    return SsdpMessage(kind=kind, headers=Headers(pairs), status=status)


def _serialize(start: str, headers: Iterable[tuple[str, str]]) -> bytes:
    return format_head(start, headers, encoding="utf-8") + b"\r\n"


def build_msearch(
    st: str,
    *,
    mx: int | None = 2,
    host: str = f"{SSDP_GROUP_V4}:{SSDP_PORT}",
    user_agent: str | None = None,
) -> bytes:
    """An M-SEARCH datagram (``mx=None`` for a unicast search)."""
    headers = [("HOST", host), ("MAN", '"ssdp:discover"')]
    if mx is not None:
        headers.append(("MX", str(mx)))
    headers.append(("ST", st))
    if user_agent:
        headers.append(("USER-AGENT", user_agent))
    return _serialize("M-SEARCH * HTTP/1.1", headers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Advertisement:
    """One (NT, USN) pair of the advertisement set."""

    nt: str
    usn: str
    udn: str
    is_root: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SsdpConfig:
    """What every message of a device carries (A4 and profile extras).

    ``headers`` are extra header lines; ``{boot_id}`` in a value is replaced by
    the BOOTID, and nothing else in it is interpreted (braces stay as written).
    """

    server: str
    boot_id: int
    config_id: int | None = None
    max_age: int = 1800
    cache_control: str | None = None  # default "max-age=<max_age>"
    headers: Mapping[str, str] = field(default_factory=dict)
    search_port: int | None = None

    def common(self) -> list[tuple[str, str]]:
        """BOOTID, CONFIGID, SEARCHPORT and the extras."""
        pairs = [("BOOTID.UPNP.ORG", str(self.boot_id))]
        if self.config_id is not None:
            pairs.append(("CONFIGID.UPNP.ORG", str(self.config_id)))
        if self.search_port is not None:
            pairs.append(("SEARCHPORT.UPNP.ORG", str(self.search_port)))
        pairs.extend(
            (name, value.replace("{boot_id}", str(self.boot_id)))
            for name, value in self.headers.items()
        )
        return pairs

    @property
    def cache_control_value(self) -> str:
        """The CACHE-CONTROL header value."""
        return self.cache_control or f"max-age={self.max_age}"


def build_notify(
    ad: Advertisement,
    nts: Literal["ssdp:alive", "ssdp:byebye", "ssdp:update"],
    config: SsdpConfig,
    *,
    location: str = "",
    host: str = f"{SSDP_GROUP_V4}:{SSDP_PORT}",
    next_boot_id: int | None = None,
) -> bytes:
    """A NOTIFY datagram for ``ad`` (UDA 1.1 §1.2.2-1.2.4)."""
    headers: list[tuple[str, str]] = [("HOST", host)]
    if nts == "ssdp:alive":
        headers.append(("CACHE-CONTROL", config.cache_control_value))
    if nts != "ssdp:byebye":
        headers.append(("LOCATION", location))
    headers.append(("NT", ad.nt))
    headers.append(("NTS", nts))
    if nts == "ssdp:alive":
        headers.append(("SERVER", config.server))
    headers.append(("USN", ad.usn))
    headers.extend(config.common())
    if nts == "ssdp:update" and next_boot_id is not None:
        headers.append(("NEXTBOOTID.UPNP.ORG", str(next_boot_id)))
    return _serialize("NOTIFY * HTTP/1.1", headers)


def build_search_response(
    ad: Advertisement, st: str, config: SsdpConfig, *, location: str, date: str | None = None
) -> bytes:
    """The unicast reply to a search for ``st`` matched by ``ad`` (UDA 1.1 §1.3.3)."""
    headers = [("CACHE-CONTROL", config.cache_control_value)]
    if date:
        headers.append(("DATE", date))
    headers += [
        ("EXT", ""),
        ("LOCATION", location),
        ("SERVER", config.server),
        ("ST", st),
        ("USN", ad.usn),
        *config.common(),
    ]
    return _serialize("HTTP/1.1 200 OK", headers)


def advertisements(root: Device) -> list[Advertisement]:
    """The advertisement set of ``root`` (3 + 2(d-1) + k messages; UDA 1.1 §1.2.2)."""
    ads = [
        Advertisement(
            nt="upnp:rootdevice", usn=f"{root.udn}::upnp:rootdevice", udn=root.udn, is_root=True
        )
    ]
    for device in root.iter_devices():
        ads.append(
            Advertisement(nt=device.udn, usn=device.udn, udn=device.udn, is_root=device is root)
        )
        ads.append(
            Advertisement(
                nt=device.device_type,
                usn=f"{device.udn}::{device.device_type}",
                udn=device.udn,
                is_root=device is root,
            )
        )
        ads.extend(
            Advertisement(nt=service_type, usn=f"{device.udn}::{service_type}", udn=device.udn)
            for service_type in dict.fromkeys(s.service_type for s in device.services)
        )
    return ads


def _type_parts(value: str) -> tuple[str, str, str, int] | None:
    match = _TYPE_RE.match(value)
    version = decimal(match.group(4)) if match is not None else None
    if match is None or version is None:
        return None
    return match.group(1), match.group(2), match.group(3), version


def matches(ad: Advertisement, st: str) -> bool:
    """Whether a search for ``st`` is answered by ``ad`` (rule S4)."""
    if st == "ssdp:all":
        return True
    if st == "upnp:rootdevice":
        return ad.nt == "upnp:rootdevice"
    if st.startswith("uuid:"):
        return ad.nt == st
    wanted = _type_parts(st)
    have = _type_parts(ad.nt)
    if wanted is None or have is None:
        return False
    return wanted[:3] == have[:3] and have[3] >= wanted[3]


# ------------------------------------------------------------------- outgoing


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """A datagram to send to ``address`` at ``send_at`` (monotonic seconds).

    ``interface`` names the local address it must leave from ("" = any).
    """

    data: bytes
    address: Address
    send_at: float
    interface: str = ""


def _in_networks(ip: str, networks: Sequence[Network]) -> bool:
    address = plain_ip(ip)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)


def location_matches_source(location: str, source_ip: str) -> bool:
    """True when ``location``'s host is the address the SSDP datagram came from.

    Rule D1: a search reply (or announcement) may name any URL,
    and fetching it blindly lets anyone on the network make us request an
    arbitrary host (SSRF). A LOCATION is trusted only when its host is an IP
    literal equal to the packet's source address (an IPv6 zone is ignored,
    ``::ffff:a.b.c.d`` equals ``a.b.c.d``). A host name, an unparsable URL
    or a different address gives False. Pure: no name is resolved.
    """
    try:
        host = urlsplit(location.strip()).hostname
    except ValueError:
        return False
    if not host:
        return False
    wanted = plain_ip(host)
    return wanted is not None and wanted == plain_ip(source_ip)


class SearchResponder:
    """Answer M-SEARCH datagrams (rules S1-S6)."""

    def __init__(
        self,
        ads: Sequence[Advertisement],
        config: SsdpConfig,
        *,
        rng: random.Random,
        max_mx: int = 5,
        max_pending: int = 100,
        max_rate: int = 10,
        max_sources: int = 1024,
    ) -> None:
        self._ads = list(ads)
        self._config = config
        self._rng = rng
        self._max_mx = max_mx
        self._max_pending = max_pending
        self._max_rate = max_rate
        self._max_sources = max_sources
        #: source ip -> due times of its replies waiting or sent < 1 s ago (S5, S8)
        self._pending: dict[str, list[float]] = {}
        self._pending_total = 0
        self._recent: dict[str, list[float]] = {}  # source ip -> times of answered searches
        self.ignored = 0
        self.answered = 0

    @property
    def config(self) -> SsdpConfig:
        """The headers every reply carries."""
        return self._config

    def set_config(self, config: SsdpConfig) -> None:
        """Replace the headers (e.g. a new BOOTID)."""
        self._config = config

    def handle_datagram(
        self,
        data: bytes,
        source: Address,
        *,
        now: float,
        location: str,
        networks: Sequence[Network],
        date: str | None = None,
        interface: str = "",
    ) -> list[Outgoing]:
        """The replies (if any) to one received datagram; never raises.

        Args:
            data: the datagram.
            source: who sent it.
            now: monotonic seconds.
            location: our description URL as reachable on the receiving interface.
            networks: the device's own networks on that interface (S5).
            date: the DATE header value for replies, if any.
            interface: the local address replies must leave from.
        """
        try:
            message = parse_datagram(data)
        except RemoteProtocolError:
            self.ignored += 1
            return []
        if message.kind != "M-SEARCH":
            return []
        st = message.get("ST")
        if message.get("MAN") != '"ssdp:discover"' or not st:
            self.ignored += 1
            return []
        host = (message.get("HOST") or "").lower()
        multicast = host in ("", f"{SSDP_GROUP_V4}:{SSDP_PORT}", SSDP_GROUP_V4) or host.startswith(
            "[ff0"
        )
        delay_max = 0.0
        if multicast:
            mx = decimal(message.get("MX") or "")
            if mx is None or mx < 1:
                self.ignored += 1
                return []
            delay_max = float(min(mx, self._max_mx)) - 0.25
        if not _in_networks(source[0], networks):
            self.ignored += 1
            return []
        quiet = not any(t > now - 1.0 for t in self._recent.get(source[0], ()))
        if not self._admit(source[0], now):
            self.ignored += 1
            return []
        room = self._room(source[0], newcomer=quiet)
        replies = self._replies(st, delay_max, source, now, location, date, interface, room)
        if replies:
            self._pending.setdefault(source[0], []).extend(r.send_at for r in replies)
            self._pending_total += len(replies)
            self.answered += 1
        return replies

    def _replies(
        self,
        st: str,
        delay_max: float,
        source: Address,
        now: float,
        location: str,
        date: str | None,
        interface: str,
        room: int,
    ) -> list[Outgoing]:
        """One reply per advertisement ``st`` matches (S4), due within ``delay_max`` (S2), at most ``room`` (S5, S8)."""
        replies: list[Outgoing] = []
        for ad in self._ads:
            if not matches(ad, st):
                continue
            if len(replies) >= room:
                break
            due = now + (self._rng.uniform(0.0, delay_max) if delay_max else 0.0)
            reply_st = ad.nt if st == "ssdp:all" else st
            data_out = build_search_response(
                ad, reply_st, self._config, location=location, date=date
            )
            replies.append(
                Outgoing(data=data_out, address=source, send_at=due, interface=interface)
            )
        return replies

    def _room(self, source: str, *, newcomer: bool) -> int:
        """How many more replies ``source`` may have now: its fair share, then the budget (S8).

        A ``newcomer`` (no reply pending, no search answered in the last second)
        may use the whole budget; a source that keeps searching leaves one
        newcomer's share of it free.
        """
        held = len(self._pending.get(source, ()))
        others = len(self._pending) - (1 if held else 0)
        share = max(1, self._max_pending // (others + 2))
        ceiling = self._max_pending
        if held or not newcomer:
            ceiling -= max(1, self._max_pending // (len(self._pending) + 2))
        return max(0, min(share - held, ceiling - self._pending_total))

    def _forget_old(self, now: float) -> None:
        """Drop replies due more than a second ago (S5); sources with none left go."""
        total = 0
        for ip in list(self._pending):
            kept = [due for due in self._pending[ip] if due > now - 1.0]
            if kept:
                self._pending[ip] = kept
                total += len(kept)
            else:
                del self._pending[ip]
        self._pending_total = total

    def _admit(self, source: str, now: float) -> bool:
        self._forget_old(now)
        times = [t for t in self._recent.get(source, ()) if t > now - 1.0]
        if len(times) >= self._max_rate:
            self._recent[source] = times
            return False
        times.append(now)
        if source not in self._recent and len(self._recent) >= self._max_sources:
            # Bounded: forget sources that have been quiet for a second.
            self._recent = {ip: ts for ip, ts in self._recent.items() if ts and ts[-1] > now - 1.0}
            if len(self._recent) >= self._max_sources:
                return False
        self._recent[source] = times
        return True


class Advertiser:
    """Schedule ssdp:alive rounds and the closing byebye (rules A1-A4).

    ``locations`` maps each local interface address to the LOCATION URL that
    is reachable there; one copy of each message goes out per interface.
    """

    def __init__(
        self,
        ads: Sequence[Advertisement],
        config: SsdpConfig,
        locations: Mapping[str, str],
        *,
        rng: random.Random,
        targets: Callable[[str], Address] | None = None,
    ) -> None:
        self._ads = list(ads)
        self._config = config
        self._locations = dict(locations)
        self._rng = rng
        self._targets = targets or _default_target
        self._queue: list[Outgoing] = []
        self._next_round: float | None = None
        self._stopped = False

    def _round(self, now: float, *, spread: float, copies: int) -> list[Outgoing]:
        out: list[Outgoing] = []
        for interface, location in self._locations.items():
            target = self._targets(interface)
            host = ssdp_host(target)
            for copy in range(copies):
                base = now + (self._rng.uniform(0.1, 0.3) * copy if copy else 0.0)
                for ad in self._ads:
                    data = build_notify(
                        ad, "ssdp:alive", self._config, location=location, host=host
                    )
                    due = base + self._rng.uniform(0.0, spread)
                    out.append(
                        Outgoing(data=data, address=target, send_at=due, interface=interface)
                    )
        return out

    def start(self, now: float) -> list[Outgoing]:
        """The initial burst (A1); also schedules the first re-advertisement."""
        self._queue = self._round(now, spread=0.0, copies=2)
        self._schedule(now)
        return self._due(now)

    def _schedule(self, now: float) -> None:
        self._next_round = now + self._config.max_age * self._rng.uniform(0.35, 0.45)

    def _due(self, now: float) -> list[Outgoing]:
        due = sorted((o for o in self._queue if o.send_at <= now), key=lambda o: o.send_at)
        self._queue = [o for o in self._queue if o.send_at > now]
        return due

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` has something to do next, or None."""
        if self._stopped:
            return None
        times = [o.send_at for o in self._queue]
        if self._next_round is not None:
            times.append(self._next_round)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Outgoing]:
        """Everything due by ``now`` (A1 copies, A2 rounds)."""
        if self._stopped:
            return []
        if self._next_round is not None and now >= self._next_round:
            self._queue.extend(self._round(now, spread=1.0, copies=2))
            self._schedule(now)
        return self._due(now)

    def stop(self, now: float) -> list[Outgoing]:
        """A byebye for every advertisement on every interface, twice (A3)."""
        self._stopped = True
        self._queue = []
        out: list[Outgoing] = []
        for interface in self._locations:
            target = self._targets(interface)
            host = ssdp_host(target)
            for _copy in range(2):
                out.extend(
                    Outgoing(
                        data=build_notify(ad, "ssdp:byebye", self._config, host=host),
                        address=target,
                        send_at=now,
                        interface=interface,
                    )
                    for ad in self._ads
                )
        return out


def _default_target(interface: str) -> Address:
    return (SSDP_GROUP_V6, SSDP_PORT) if ":" in interface else (SSDP_GROUP_V4, SSDP_PORT)


def ssdp_host(target: Address) -> str:
    """The HOST header for a datagram to ``target`` (UDA 1.1 §1.3.2: ``[FF02::C]:1900``)."""
    ip, port = target
    return format_host(ip.upper(), port)
