"""SSDP discovery for the control point: M-SEARCH and passive listening, per interface.

::

    async for found in discover("urn:schemas-upnp-org:device:ZonePlayer:1", timeout=3):
        print(found.usn, found.location)

Per interface, a socket bound to that interface's address sends the M-SEARCH
(twice, as UDA advises for UDP) with IP_MULTICAST_IF and TTL 2, and collects
the unicast replies. With ``passive=True`` a socket on port 1900 also hears
ssdp:alive / ssdp:byebye / ssdp:update announcements. Each distinct
(kind, USN, LOCATION) is yielded once. Datagrams that do not parse are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from upnpcm.aio.ssdp import (
    Interface,
    multicast_receive_socket,
    multicast_send_socket,
    resolve_interfaces,
)
from upnpcm.core.http import decimal
from upnpcm.core.ssdp import (
    SSDP_GROUP_V4,
    SSDP_GROUP_V6,
    SSDP_PORT,
    SsdpMessage,
    build_msearch,
    parse_datagram,
)
from upnpcm.errors import RemoteProtocolError

__all__ = ["Discovered", "discover"]

_LOG: Final = logging.getLogger("upnpcm.discovery")

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
            boot_id=_int(headers.get("BOOTID.UPNP.ORG") or headers.get("X-RINCON-BOOTSEQ")),
            config_id=_int(headers.get("CONFIGID.UPNP.ORG")),
            max_age=_max_age(headers.get("CACHE-CONTROL")),
            headers=headers,
        )


def _int(text: str | None) -> int | None:
    """A non-negative decimal header value; None when absent or malformed (never raises)."""
    if text is None:
        return None
    return decimal(text.strip())


def _max_age(text: str | None) -> int | None:
    if not text:
        return None
    name, _, value = text.partition("=")  # "max-age = 1800" (Sonos) too
    return _int(value) if name.strip().lower() == "max-age" else None


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[Discovered]) -> None:
        self._queue = queue

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        try:
            message = parse_datagram(data)
        except RemoteProtocolError:
            return
        found = Discovered.from_message(message, (str(addr[0]), int(addr[1])))
        if found is not None and not self._queue.full():
            self._queue.put_nowait(found)


async def discover(
    st: str = "ssdp:all",
    *,
    timeout: float | None = 3.0,
    mx: int = 2,
    interfaces: Sequence[str] = (),
    passive: bool = False,
    search: bool = True,
    unique: bool = True,
) -> AsyncIterator[Discovered]:
    """Yield replies to an M-SEARCH for ``st`` (and announcements, if ``passive``) until ``timeout``.

    Args:
        st: the search target.
        timeout: seconds to listen in all (None: until the caller stops iterating).
        mx: the MX sent (devices answer within it); capped below ``timeout``.
        interfaces: names or addresses (default: every non-loopback interface).
        passive: also listen for NOTIFY announcements on port 1900.
        search: send M-SEARCH (False: only listen; needs ``passive``).
        unique: yield each (kind, USN, LOCATION) once (False: every datagram).

    Raises:
        ValueError: an interface selector matches nothing.
        OSError: a socket could not be opened.
    """
    loop = asyncio.get_running_loop()
    chosen = resolve_interfaces(interfaces)
    queue: asyncio.Queue[Discovered] = asyncio.Queue(maxsize=10_000)
    transports: list[asyncio.BaseTransport] = []
    try:
        if passive:
            for family in {i.family for i in chosen}:
                sock = multicast_receive_socket(family, [i for i in chosen if i.family == family])
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Collector(queue), sock=sock
                )
                transports.append(transport)
        senders: list[tuple[asyncio.DatagramTransport, Interface]] = []
        if search:
            wait = max(1, min(mx, int(timeout))) if timeout is not None else max(1, mx)
            for interface in chosen:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Collector(queue), sock=multicast_send_socket(interface)
                )
                transports.append(transport)
                senders.append((transport, interface))
            for copy in range(2):
                for transport, interface in senders:
                    group = (
                        (SSDP_GROUP_V6, SSDP_PORT)
                        if interface.family == socket.AF_INET6
                        else (SSDP_GROUP_V4, SSDP_PORT)
                    )
                    host = (
                        f"[{SSDP_GROUP_V6.upper()}]:{SSDP_PORT}"
                        if interface.family == socket.AF_INET6
                        else f"{SSDP_GROUP_V4}:{SSDP_PORT}"
                    )
                    with contextlib.suppress(OSError):
                        transport.sendto(build_msearch(st, mx=wait, host=host), group)
                if copy == 0:
                    await asyncio.sleep(0.1)
        seen: set[tuple[str, str, str | None]] = set()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            try:
                found = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return
            if unique:
                key = (found.kind, found.usn, found.location)
                if key in seen:
                    continue
                seen.add(key)
            yield found
    finally:
        for opened in transports:
            opened.close()
