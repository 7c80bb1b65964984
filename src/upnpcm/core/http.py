"""Transport-neutral HTTP request and response values.

The device core answers :class:`HttpRequest` with :class:`HttpResponse`; the
asyncio adapter only converts. Headers are kept as ordered pairs with
duplicates visible (h11's rule), so a doubled ``Host``, ``SID`` or
``CALLBACK`` can be refused (UDA 1.1 §4.1.2; RFC 9110 §7.2).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Final, overload

from upnpcm.errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
    from typing import TypeAlias

    #: An IPv4 or IPv6 network (an interface's, or where a callback must lie).
    Network: TypeAlias = IPv4Network | IPv6Network

__all__ = [
    "MAX_DIGITS",
    "REASONS",
    "ChunkedBody",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "decimal",
    "format_head",
    "format_host",
    "http_date",
    "is_xml_media_type",
    "normalise_ip",
    "parse_host_header",
    "preferred_media_type",
]

#: Reason phrases for the statuses upnpcm produces.
REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class Headers:
    """Immutable, ordered HTTP header pairs with case-insensitive lookup."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)
        index: dict[str, list[str]] = {}
        for name, value in self._items:
            index.setdefault(name.lower(), []).append(value)
        self._index = index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and other._items == self._items

    def __hash__(self) -> int:
        return hash(self._items)

    @property
    def items(self) -> tuple[tuple[str, str], ...]:
        """The pairs in their original order."""
        return self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` (case-insensitive), or ``default``."""
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order (empty list when absent)."""
        return list(self._index.get(name.lower(), ()))

    def get_agreed(self, name: str) -> str | None:
        """The value of ``name`` if every copy of it says the same, or None when absent.

        Raises:
            RemoteProtocolError: copies that differ (400): which one would be meant?
        """
        values = self._index.get(name.lower())
        if not values:
            return None
        if len(values) > 1 and len({value.strip() for value in values}) > 1:
            raise RemoteProtocolError(f"conflicting {name} headers")
        return values[0]

    def get_single(self, name: str) -> str | None:
        """The only value of ``name``, or None when absent.

        Raises:
            RemoteProtocolError: the header appears more than once (400).
        """
        values = self._index.get(name.lower())
        if not values:
            return None
        if len(values) > 1:
            raise RemoteProtocolError(f"duplicate {name} header")
        return values[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One HTTP request as the device core sees it.

    ``peer`` is the client's IP address and ``local``/``local_port`` the address
    and port the request arrived on (needed for the Host check and CallStranger).
    """

    method: str
    path: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    peer: str = ""
    local: str = ""
    local_port: int = 0
    query: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponse:
    """One HTTP response produced by the core."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def reason(self) -> str:
        """The reason phrase for :attr:`status`."""
        return REASONS.get(self.status, "Unknown")

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


#: Most digits a protocol integer may have (rule B8): 20 hold any 64-bit value; Python's
#: ``int`` refuses more than 4,300 with a ValueError, and a long run costs time.
MAX_DIGITS: Final = 20


@overload
def decimal(
    text: str | None, *, default: int, signed: bool = ..., max_digits: int = ...
) -> int: ...
@overload
def decimal(
    text: str | None, *, default: None = None, signed: bool = ..., max_digits: int = ...
) -> int | None: ...
def decimal(
    text: str | None,
    *,
    default: int | None = None,
    signed: bool = False,
    max_digits: int = MAX_DIGITS,
) -> int | None:
    """``text`` as a decimal integer, else ``default``: the one integer parser of peer input.

    ASCII digits only (``str.isdigit`` alone would admit superscript two, on
    which ``int`` raises, or Arabic-Indic digits, which ``int`` reads as
    numbers the peer never wrote in ASCII), at most ``max_digits`` of them
    (rule B8: the digits are counted before anything is converted), with a
    leading ``+`` or ``-`` only when ``signed``. Whitespace is the caller's
    to strip. Absent (None), empty, or anything else gives ``default``;
    this never raises.
    """
    if text is None:
        return default
    digits = text[1:] if signed and text[:1] in ("+", "-") else text
    if not 0 < len(digits) <= max_digits or not digits.isascii() or not digits.isdigit():
        return default
    return int(text)


_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_CR, _LF, _SEMICOLON = 13, 10, 59
(_SIZE, _EXTENSION, _SIZE_LF, _DATA, _DATA_CR, _DATA_LF, _TRAILER, _TRAILER_LINE, _END_LF) = range(
    9
)


class ChunkedBody:
    """What a chunked request body announces, read before the framing parser sees it (rule B9).

    The framing itself (RFC 9112 §7.1) is llhttp's; llhttp does not report
    chunk sizes or extensions, so a size over the body cap would be waited
    for and a kilobyte of extensions accepted. :meth:`feed` reads the same
    bytes first: a chunk-size that takes the body over ``max_body`` raises
    413 at once, before its data; one of more than :data:`MAX_DIGITS` digits,
    a size line that does not start with hex digits, or chunk extensions over
    ``max_extension`` bytes raise 400. It returns where the body (last chunk and trailer
    section included) ends, so that what follows is the next request.
    """

    __slots__ = (
        "_digits",
        "_extension",
        "_left",
        "_max_body",
        "_max_extension",
        "_state",
        "_total",
    )

    def __init__(self, *, max_body: int, max_extension: int = 256) -> None:
        self._max_body = max_body
        self._max_extension = max_extension
        self._state = _SIZE
        self._digits = bytearray()
        self._extension = 0
        self._left = 0  # data bytes of the current chunk still to come
        self._total = 0  # data bytes announced so far

    def feed(self, data: bytes, start: int = 0) -> int | None:
        """Read ``data[start:]``; the index just past the body's end, or None if it goes on.

        Raises:
            RemoteProtocolError: 413 for a size over the cap, 400 for a bad size
                line or too long extensions.
        """
        position, end = start, len(data)
        while position < end:
            state = self._state
            if state == _DATA:
                step = min(self._left, end - position)
                self._left -= step
                position += step
                if not self._left:
                    self._state = _DATA_CR
                continue
            byte = data[position]
            position += 1
            if state == _SIZE:
                if byte in _HEX:
                    self._digits.append(byte)
                    if len(self._digits) > MAX_DIGITS:  # B8: not a number we read
                        raise RemoteProtocolError("chunk size of too many digits")
                elif not self._digits:
                    raise RemoteProtocolError("bad chunk size")
                elif byte == _CR:
                    self._state = _SIZE_LF
                else:  # ";" (or what llhttp will refuse): chunk extensions
                    self._state = _EXTENSION
                    self._count_extension()
            elif state == _EXTENSION:
                if byte == _CR:
                    self._state = _SIZE_LF
                else:
                    self._count_extension()
            elif state == _SIZE_LF:
                if byte != _LF:
                    raise RemoteProtocolError("bad chunk size line")
                self._start_chunk()
            elif state == _DATA_CR:
                self._state = _DATA_LF  # llhttp checks the CRLF after the data
            elif state == _DATA_LF:
                self._state = _SIZE
            elif state == _TRAILER:
                self._state = _END_LF if byte == _CR else _TRAILER_LINE
            elif state == _TRAILER_LINE:
                if byte == _LF:
                    self._state = _TRAILER
            elif state == _END_LF:
                return position
        return None

    def _count_extension(self) -> None:
        self._extension += 1
        if self._extension > self._max_extension:
            raise RemoteProtocolError(
                f"chunk extensions over {self._max_extension} bytes", http_status=400
            )

    def _start_chunk(self) -> None:
        size = int(self._digits, 16)  # at most MAX_DIGITS hex digits: bounded
        self._digits.clear()
        self._extension = 0
        if not size:
            self._state = _TRAILER
            return
        self._total += size
        if self._total > self._max_body:
            raise RemoteProtocolError(f"chunked body over {self._max_body} bytes", http_status=413)
        self._left = size
        self._state = _DATA


#: The media types of UPnP's XML bodies (UDA 1.1 §2.1, §3.2.1, §4.2: ``text/xml``; some stacks
#: send ``application/xml``, which means the same).
XML_MEDIA_TYPES: Final = frozenset({"text/xml", "application/xml"})


def is_xml_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type header names an XML media type (parameters ignored)."""
    return (content_type or "").split(";", 1)[0].strip().lower() in XML_MEDIA_TYPES


def http_date(wall_time: float) -> str:
    """RFC 9110 IMF-fixdate for ``wall_time`` (seconds since the epoch)."""
    t = _time.gmtime(wall_time)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def parse_host_header(value: str) -> tuple[str, int | None]:
    """Split a Host header into an IP literal and an optional port.

    Returns:
        ``(ip, port)`` with IPv6 literals unbracketed and normalised.

    Raises:
        RemoteProtocolError: not an IP literal (a DNS name is refused: DNS
            rebinding defence, CVE-2021-29462) or a bad port.
    """
    value = value.strip()
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise RemoteProtocolError("malformed Host header")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise RemoteProtocolError("malformed Host header")
            port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif ":" in value:
        raise RemoteProtocolError("IPv6 Host must be bracketed")
    try:
        import ipaddress  # here, not at import: it is needed late and costs CLI start-up

        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError as exc:
        raise RemoteProtocolError("Host header is not an IP literal") from exc
    port: int | None = None
    if port_text:
        port = decimal(port_text) if len(port_text) <= 5 else None
        if port is None or not 0 < port < 65536:
            raise RemoteProtocolError("bad port in Host header")
    return normalise_ip(str(address)), port


def plain_ip(text: str) -> IPv4Address | IPv6Address | None:
    """An IP address without its IPv6 zone, IPv4-mapped IPv6 as IPv4; None if not an IP."""
    import ipaddress

    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=1024)
def normalise_ip(text: str) -> str:
    """Canonical text of an IP address; IPv4-mapped IPv6 becomes IPv4."""
    address = plain_ip(text)
    return text if address is None else str(address)


def format_head(
    start_line: str, fields: Iterable[tuple[str, str]], *, encoding: str = "latin-1"
) -> bytes:
    """A start line and header fields, each line ending in CRLF (RFC 9112 §2.1, §5.1).

    The one serialiser of HTTP heads (requests, responses, SSDP's HTTPU); the
    caller adds the empty line (and the framing fields) it needs. An empty
    value is written ``Name:``. SSDP heads are UTF-8, HTTP heads latin-1.

    Raises:
        LocalProtocolError: CR or LF in a name or value (they would split the head).
    """
    lines = [start_line]
    for name, value in fields:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise LocalProtocolError(f"CR/LF in the header field {name!r}")
        lines.append(f"{name}: {value}" if value else f"{name}:")
    lines.append("")
    return "\r\n".join(lines).encode(encoding)


def format_host(ip: str, port: int) -> str:
    """``ip:port`` with IPv6 literals bracketed, for URLs and Host headers."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _accept_ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, weight) of each media range of an Accept value; malformed ones skipped."""
    ranges: list[tuple[str, str, float]] = []
    for item in accept.split(",")[:64]:
        media, *params = item.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = -1.0
        if 0.0 <= weight <= 1.0:
            ranges.append((kind, sub, weight))
    return ranges


def preferred_media_type(accept: str | None, offers: Sequence[str]) -> str:
    """Which of ``offers`` (media types, the server's preference first) ``accept`` prefers.

    Rule H11: each offer gets the weight of the most specific media range
    that matches it (``type/sub`` over ``type/*`` over ``*/*``); the highest
    weight above 0 wins, the server's order breaking ties. No Accept, or one
    that accepts none of the offers, gets the first offer (a server may
    disregard Accept rather than answer 406).
    """
    if not offers:
        raise ValueError("no media type to offer")
    if not accept:
        return offers[0]
    ranges = _accept_ranges(accept)
    best, best_weight = offers[0], 0.0
    for offer in offers:
        kind, _, sub = offer.split(";")[0].strip().lower().partition("/")
        weight, specificity = 0.0, -1
        for r_kind, r_sub, r_weight in ranges:
            if (r_kind, r_sub) == (kind, sub):
                rank = 2
            elif r_kind == kind and r_sub == "*":
                rank = 1
            elif (r_kind, r_sub) == ("*", "*"):
                rank = 0
            else:
                continue
            if rank > specificity:
                weight, specificity = r_weight, rank
        if weight > best_weight:
            best, best_weight = offer, weight
    return best
