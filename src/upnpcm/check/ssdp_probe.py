"""SSDP for the checker: send crafted M-SEARCH datagrams and hear what comes back or is announced.

Each search gets a socket of its own (bound to the chosen interface's address,
multicast out of it with TTL 2), so every reply is attributed to the search
that caused it; a passive socket on port 1900 (shared) hears ssdp:alive and
ssdp:byebye for the whole run. Datagrams are kept as they came, with their
arrival time, and parsed by the core (:func:`~upnpcm.core.ssdp.parse_datagram`).
Bounded: at most 10 000 datagrams kept per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from upnpcm.aio.ssdp import Interface, multicast_receive_socket, multicast_send_socket
from upnpcm.core.ssdp import SSDP_GROUP_V4, SSDP_GROUP_V6, SSDP_PORT, SsdpMessage, parse_datagram
from upnpcm.errors import RemoteProtocolError

__all__ = ["Heard", "Search", "SsdpProbe"]

MAX_KEPT: Final = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Heard:
    """One datagram as it arrived."""

    data: bytes
    source: tuple[str, int]
    at: float
    message: SsdpMessage | None


class _Collect(asyncio.DatagramProtocol):
    def __init__(self, into: list[Heard]) -> None:
        self._into = into

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        if len(self._into) >= MAX_KEPT:
            return
        try:
            message: SsdpMessage | None = parse_datagram(data)
        except RemoteProtocolError:
            message = None
        loop = asyncio.get_running_loop()
        self._into.append(
            Heard(data=data, source=(str(addr[0]), int(addr[1])), at=loop.time(), message=message)
        )


def _collector(into: list[Heard]) -> Callable[[], asyncio.DatagramProtocol]:
    return lambda: _Collect(into)


@dataclass(slots=True, kw_only=True)
class Search:
    """One M-SEARCH sent: what, when, and every datagram that came back to its socket."""

    name: str
    datagram: bytes
    mx: int
    sent_at: float = 0.0
    replies: list[Heard] = field(default_factory=list)


def group_of(interface: Interface) -> tuple[tuple[str, int], str]:
    """(destination, HOST header value) of the SSDP group on ``interface``'s family."""
    if interface.family == socket.AF_INET6:
        return (SSDP_GROUP_V6, SSDP_PORT), f"[{SSDP_GROUP_V6.upper()}]:{SSDP_PORT}"
    return (SSDP_GROUP_V4, SSDP_PORT), f"{SSDP_GROUP_V4}:{SSDP_PORT}"


class SsdpProbe:
    """Searches and a passive listener on the chosen interfaces."""

    def __init__(self, interfaces: Sequence[Interface]) -> None:
        self.interfaces = list(interfaces)
        self.announcements: list[Heard] = []
        self._transports: list[asyncio.BaseTransport] = []

    async def listen(self) -> None:
        """Start hearing announcements on port 1900 (until :meth:`close`).

        Raises:
            OSError: port 1900 or the group could not be joined.
        """
        loop = asyncio.get_running_loop()
        for family in {i.family for i in self.interfaces}:
            sock = multicast_receive_socket(
                family, [i for i in self.interfaces if i.family == family]
            )
            transport, _ = await loop.create_datagram_endpoint(
                _collector(self.announcements), sock=sock
            )
            self._transports.append(transport)

    async def search(self, searches: Sequence[Search], *, rate: float, slack: float) -> None:
        """Send each search on every interface, ``rate`` per second; listen until every MX is over.

        Replies are heard until ``slack`` seconds after the MX of the search that ends last.
        """
        loop = asyncio.get_running_loop()
        opened: list[asyncio.DatagramTransport] = []
        try:
            for index, search in enumerate(searches):
                if index:
                    await asyncio.sleep(1.0 / rate)
                for interface in self.interfaces:
                    destination, _ = group_of(interface)
                    sender, _ = await loop.create_datagram_endpoint(
                        _collector(search.replies), sock=multicast_send_socket(interface)
                    )
                    opened.append(sender)
                    search.sent_at = loop.time()
                    with contextlib.suppress(OSError):
                        sender.sendto(search.datagram, destination)
            end = max((s.sent_at + s.mx + slack for s in searches), default=loop.time())
            await asyncio.sleep(max(0.0, end - loop.time()))
        finally:
            for sender in opened:
                sender.close()

    def close(self) -> None:
        """Stop listening."""
        for transport in self._transports:
            transport.close()
        self._transports.clear()
