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
from typing import Final

from upnpcm.aio.ssdp import (
    Interface,
    multicast_receive_socket,
    multicast_send_socket,
    resolve_interfaces,
)
from upnpcm.core.discovery import Discovered, interpret
from upnpcm.core.ssdp import SSDP_GROUP_V4, SSDP_GROUP_V6, SSDP_PORT, build_msearch, ssdp_host

__all__ = ["discover"]

_LOG: Final = logging.getLogger("upnpcm.discovery")


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[Discovered]) -> None:
        self._queue = queue

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        found = interpret(data, (str(addr[0]), int(addr[1])))
        if found is not None and not self._queue.full():
            self._queue.put_nowait(found)


async def _listen_for_announcements(
    chosen: Sequence[Interface],
    queue: asyncio.Queue[Discovered],
    transports: list[asyncio.BaseTransport],
) -> None:
    """Join the SSDP group on ``chosen`` (one socket per family); add each to ``transports``."""
    loop = asyncio.get_running_loop()
    for family in {i.family for i in chosen}:
        sock = multicast_receive_socket(family, [i for i in chosen if i.family == family])
        transport, _ = await loop.create_datagram_endpoint(lambda: _Collector(queue), sock=sock)
        transports.append(transport)


async def _search(
    st: str,
    wait: int,
    chosen: Sequence[Interface],
    queue: asyncio.Queue[Discovered],
    transports: list[asyncio.BaseTransport],
) -> None:
    """Send an M-SEARCH for ``st`` twice on each interface (each socket added to ``transports``)."""
    loop = asyncio.get_running_loop()
    senders: list[tuple[asyncio.DatagramTransport, Interface]] = []
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
            with contextlib.suppress(OSError):
                transport.sendto(build_msearch(st, mx=wait, host=ssdp_host(group)), group)
        if copy == 0:
            await asyncio.sleep(0.1)


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
            await _listen_for_announcements(chosen, queue, transports)
        if search:
            wait = max(1, min(mx, int(timeout))) if timeout is not None else max(1, mx)
            await _search(st, wait, chosen, queue, transports)
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
