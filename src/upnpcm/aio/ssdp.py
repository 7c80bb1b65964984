"""SSDP for a hosted device: multicast sockets per interface around the sans-I/O core.

One receiving socket per address family listens on port 1900 (shared with
other SSDP stacks through SO_REUSEADDR/SO_REUSEPORT) and joins the group on
every chosen interface; one sending socket per interface fixes the outgoing
interface (IP_MULTICAST_IF), TTL 2 and the source address. A search is
answered on the interface whose network holds the searcher: that is both the
LOCATION it gets and the reflection defence (a searcher on no network of ours
gets nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import random
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import ifaddr

from upnpcm.core.description import Device
from upnpcm.core.http import format_host, http_date
from upnpcm.core.ssdp import (
    SSDP_GROUP_V4,
    SSDP_GROUP_V6,
    SSDP_PORT,
    Advertiser,
    Outgoing,
    SearchResponder,
    SsdpConfig,
    advertisements,
)

if TYPE_CHECKING:
    from upnpcm.core.http import Network

__all__ = [
    "Interface",
    "SsdpServer",
    "local_interfaces",
    "multicast_receive_socket",
    "multicast_send_socket",
    "reachable_addresses",
    "resolve_interfaces",
    "serving_networks",
]

_LOG: Final = logging.getLogger("upnpcm.ssdp")
TTL: Final = 2


@dataclass(frozen=True, slots=True)
class Interface:
    """One local address SSDP runs on."""

    name: str
    ip: str
    network: Network
    index: int = 0

    @property
    def family(self) -> int:
        """``socket.AF_INET`` or ``socket.AF_INET6``."""
        return socket.AF_INET6 if self.network.version == 6 else socket.AF_INET


def local_interfaces(*, ipv6: bool = True) -> list[Interface]:
    """Every local address with its interface (IPv6 link-local left out: see below)."""
    found: list[Interface] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                network: Network = ipaddress.ip_network(
                    f"{ip.ip}/{ip.network_prefix}", strict=False
                )
                found.append(Interface(adapter.name, ip.ip, network, adapter.index or 0))
            elif ipv6:
                address = ipaddress.IPv6Address(ip.ip[0].split("%", 1)[0])
                if address.is_link_local:
                    continue
                network = ipaddress.ip_network(f"{address}/{ip.network_prefix}", strict=False)
                found.append(Interface(adapter.name, str(address), network, adapter.index or 0))
    return found


def resolve_interfaces(selectors: Sequence[str] = (), *, ipv6: bool = True) -> list[Interface]:
    """The interfaces to use: those named (by name or address), else every non-loopback one.

    With no selector and no non-loopback interface, loopback is used. IPv6 is
    used only on addresses that are not link-local (a link-local LOCATION
    needs a zone most control points cannot use).

    Raises:
        ValueError: a selector matches no local interface.
    """
    found = local_interfaces(ipv6=ipv6)
    if selectors:
        chosen = [i for i in found if i.name in selectors or i.ip in selectors]
        missing = [s for s in selectors if not any(s in (i.name, i.ip) for i in found)]
        for alias in [s for s in missing if _loopback_alias(s)]:
            # 127.0.0.2 … are local on the loopback interface though none lists them.
            loopback = next((i for i in found if i.ip == "127.0.0.1"), None)
            if loopback is not None:
                chosen.append(Interface(loopback.name, alias, loopback.network, loopback.index))
                missing.remove(alias)
        if missing:
            raise ValueError(f"no such interface or address: {', '.join(missing)}")
        return chosen
    outside = [i for i in found if not ipaddress.ip_address(i.ip).is_loopback]
    return outside or [i for i in found if ipaddress.ip_address(i.ip).is_loopback]


def _loopback_alias(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


def reachable_addresses(addresses: Sequence[str]) -> list[str]:
    """The addresses a client can use to reach a server listening on ``addresses``.

    A wildcard (``0.0.0.0``, ``::``) stands for every local address of its
    family, loopback included (IPv6 link-local left out); a specific address
    for itself.
    """
    found: list[str] = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if address.is_unspecified:
            found += [i.ip for i in local_interfaces() if i.network.version == address.version]
        else:
            found.append(str(address))
    return list(dict.fromkeys(found))


def serving_networks(addresses: Sequence[str]) -> list[Network]:
    """The networks of the local interfaces behind listening ``addresses``.

    A wildcard address (``0.0.0.0``, ``::``) stands for every interface of its
    family (IPv6 link-local left out, as in :func:`resolve_interfaces`); a
    specific one for the interface networks holding it, or just itself when
    no interface lists it. Loopback addresses give loopback networks.
    """
    adapters = [(ipaddress.ip_address(i.ip), i.network) for i in local_interfaces()]
    found: list[Network] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if address.is_unspecified:
            nets = [net for ip, net in adapters if ip.version == address.version]
        else:
            nets = [net for ip, net in adapters if ip == address] or [
                net for _, net in adapters if address.version == net.version and address in net
            ]
            if not nets:
                nets = [ipaddress.ip_network(address)]
        found.extend(net for net in nets if net not in found)
    return found


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, owner: SsdpServer) -> None:
        self._owner = owner

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        self._owner.received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        _LOG.debug("SSDP receive error: %s", exc)


class SsdpServer:
    """Advertise a device and answer searches on the given interfaces.

    A device on loopback alone (a virtual household on 127.0.0.x) also listens
    on every other IPv4 interface, where control points such as
    ``soco.discover()`` search, and answers searches that come from this
    host's own addresses: its replies never leave the machine (rule S10).
    """

    def __init__(
        self,
        root: Device,
        config: SsdpConfig,
        *,
        http_port: int,
        description_path: str,
        interfaces: Sequence[Interface],
        rng: random.Random | None = None,
    ) -> None:
        self._root = root
        self._config = config
        self._http_port = http_port
        self._path = description_path
        self._interfaces = list(interfaces)
        self._rng = rng or random.SystemRandom()
        ads = advertisements(root)
        self.responder = SearchResponder(ads, config, rng=self._rng)
        self.advertiser = Advertiser(
            ads, config, {i.ip: self.location(i) for i in self._interfaces}, rng=self._rng
        )
        #: Rule S10: only a device on loopback alone hears (and answers) this host's other addresses.
        self._loopback_only = bool(self._interfaces) and all(
            ipaddress.ip_address(i.ip).is_loopback for i in self._interfaces
        )
        self._own_addresses: frozenset[str] = frozenset()
        self._receivers: list[asyncio.DatagramTransport] = []
        self._senders: dict[str, asyncio.DatagramTransport] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._scheduled: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Datagrams whose handling raised (a bug; each is logged and dropped).
        self.failures = 0

    def location(self, interface: Interface) -> str:
        """The description URL as reachable on ``interface``."""
        return f"http://{format_host(interface.ip, self._http_port)}{self._path}"

    @property
    def interfaces(self) -> list[Interface]:
        """The interfaces in use."""
        return list(self._interfaces)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the sockets, join the groups and send the initial burst.

        Raises:
            OSError: port 1900 or an interface could not be used; every socket
                opened so far is closed again.
        """
        loop = self._loop = asyncio.get_running_loop()
        families = {i.family for i in self._interfaces}
        others: list[Interface] = []
        if self._loopback_only:
            present = local_interfaces(ipv6=False)
            self._own_addresses = frozenset(i.ip for i in present)
            others = [i for i in present if not ipaddress.ip_address(i.ip).is_loopback]
        try:
            for family in families:
                sock = multicast_receive_socket(
                    family,
                    [i for i in self._interfaces if i.family == family],
                    also=[i for i in others if i.family == family],
                )
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(self), sock=sock
                )
                self._receivers.append(transport)
            for interface in self._interfaces:
                transport, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, sock=multicast_send_socket(interface)
                )
                self._senders[interface.ip] = transport
        except BaseException:
            self._close_transports()
            raise
        self._send(self.advertiser.start(loop.time()))
        self._rearm()

    def _close_transports(self) -> None:
        for transport in [*self._receivers, *self._senders.values()]:
            transport.close()
        self._receivers.clear()
        self._senders.clear()

    async def stop(self) -> None:
        """Send a byebye for every advertisement, then close."""
        loop = self._loop or asyncio.get_running_loop()
        self._cancel_timers()
        if self._senders:
            self._send(self.advertiser.stop(loop.time()))
            await asyncio.sleep(0.05)  # let the byebyes leave before the sockets close
        self._close_transports()

    def close(self) -> None:
        """Close without a byebye (the device vanished from the network)."""
        self._cancel_timers()
        self._close_transports()

    def _cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for handle in self._scheduled.values():
            handle.cancel()
        self._scheduled.clear()

    # ------------------------------------------------------------------ events

    def received(self, data: bytes, source: tuple[str, int]) -> None:
        """A datagram arrived: answer it if it is a search we should answer.

        Never raises: one bad datagram must not reach the event loop (the core
        promises not to raise; should it ever, the datagram is logged and dropped).
        """
        try:
            self._received(data, source)
        except Exception:
            self.failures += 1
            _LOG.warning(
                "SSDP datagram from %s dropped: handling it failed", source[0], exc_info=True
            )

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        assert self._loop is not None
        interface = self._interface_for(source[0])
        if interface is None:
            self.responder.ignored += 1  # not from a network of ours: reflection defence
            return
        networks: list[Network] = [interface.network]
        if self._loopback_only and source[0] in self._own_addresses:
            networks.append(ipaddress.ip_network(source[0]))  # S10
        replies = self.responder.handle_datagram(
            data,
            source,
            now=self._loop.time(),
            location=self.location(interface),
            networks=networks,
            date=http_date(time.time()),
            interface=interface.ip,
        )
        self._send(replies)

    def _interface_for(self, ip: str) -> Interface | None:
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return None
        for interface in self._interfaces:
            if address.version == interface.network.version and address in interface.network:
                return interface
        if self._loopback_only and str(address) in self._own_addresses:
            return self._interfaces[0]  # S10: a search from this host, answered over loopback
        return None

    def _send(self, outgoing: list[Outgoing]) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for item in outgoing:
            if item.send_at <= now:
                self._transmit(item)
            else:
                key = next(self._keys)
                self._scheduled[key] = self._loop.call_at(item.send_at, self._fire, key, item)

    def _fire(self, key: int, item: Outgoing) -> None:
        self._scheduled.pop(key, None)
        self._transmit(item)

    def _transmit(self, item: Outgoing) -> None:
        transport = self._senders.get(item.interface) or next(iter(self._senders.values()), None)
        if transport is None:
            return
        try:
            transport.sendto(item.data, item.address)
        except OSError as exc:  # pragma: no cover - interface vanished
            _LOG.debug("SSDP send to %s failed: %s", item.address, exc)

    def _rearm(self) -> None:
        assert self._loop is not None
        deadline = self.advertiser.next_deadline()
        if deadline is None:
            return
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer = None
        self._send(self.advertiser.handle_timer(self._loop.time()))
        self._rearm()


def multicast_receive_socket(
    family: int, interfaces: Sequence[Interface], *, also: Sequence[Interface] = ()
) -> socket.socket:
    """A socket on port 1900 (shared) that joined the SSDP group on ``interfaces``.

    ``also`` are joined where possible (an interface without multicast is skipped).
    """
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Room for bursts (a storm of junk must not crowd out the next real search).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(("::", SSDP_PORT))
            group = socket.inet_pton(socket.AF_INET6, SSDP_GROUP_V6)
            for interface in interfaces:
                membership = group + struct.pack("@I", interface.index)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
        else:
            sock.bind(("", SSDP_PORT))
            for interface in interfaces:
                membership = socket.inet_aton(SSDP_GROUP_V4) + socket.inet_aton(interface.ip)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            for interface in also:
                membership = socket.inet_aton(SSDP_GROUP_V4) + socket.inet_aton(interface.ip)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def multicast_send_socket(interface: Interface) -> socket.socket:
    """A socket bound to ``interface`` that multicasts out of it with TTL 2."""
    sock = socket.socket(interface.family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if interface.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface.index)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, TTL)
            sock.bind((interface.ip, 0))
        else:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface.ip)
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.bind((interface.ip, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
