"""Serve a :class:`~upnpcm.core.device.DeviceCore` over HTTP: convert, call, send.

The HTTP framing is :mod:`upnpcm.aio.http_server` (llhttp via httptools).
This adapter's own decisions are only those that need the I/O world: the
monotonic clock, randomness for SIDs, logging, and starting NOTIFY delivery
once a SUBSCRIBE response has left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Callable, Iterable
from typing import Final, cast

from upnpcm.aio.http_server import (
    HttpLimits,
    HttpProtocol,
    close_connections,
    reap_connections,
    serialize_response,
)
from upnpcm.aio.notifier import Notifier
from upnpcm.aio.ssdp import Network, serving_networks
from upnpcm.core.device import DeviceCore
from upnpcm.core.http import HttpRequest, HttpResponse, format_host, normalise_ip

__all__ = ["DeviceServer"]

_LOG: Final = logging.getLogger("upnpcm.server")
_ACCESS: Final = logging.getLogger("upnpcm.access")


class _Refuse(asyncio.Protocol):
    """A connection over the limit: a 503 and close, nothing read or kept."""

    def __init__(self, server_header: str) -> None:
        self._server_header = server_header

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503 and close."""
        tcp = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        tcp.pause_reading()
        response = HttpResponse(
            status=503,
            headers=(("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "1")),
            body=b"503 Service Unavailable: too many connections\n",
        )
        tcp.write(serialize_response(response, close=True, server=self._server_header))
        tcp.close()


class DeviceServer:
    """Serve a :class:`DeviceCore`, with GENA delivery.

    Use ``async with DeviceServer(core, host="127.0.0.1", port=0) as server:``
    or :meth:`start` / :meth:`stop`. ``host=None`` listens on every IPv4 and
    IPv6 address; ``port=0`` picks a free port (the same on every address),
    read back from :attr:`port`.

    ``networks`` are the device's own networks for ``callback_scope="subnet"``
    (default: those of the interfaces behind the bound addresses).

    At most ``limits.max_connections`` connections are open at once: one more
    is answered 503 and closed at once, without reading it. :meth:`stop`
    gives open connections ``stop_grace`` seconds to take their last bytes,
    then aborts them.
    """

    def __init__(
        self,
        core: DeviceCore,
        *,
        host: str | Iterable[str] | None = None,
        port: int = 1400,
        notifier: Notifier | None = None,
        limits: HttpLimits | None = None,
        stop_grace: float = 1.0,
        networks: Iterable[Network] | None = None,
    ) -> None:
        self.core = core
        self._hosts: list[str] | None = (
            None if host is None else [host] if isinstance(host, str) else list(host)
        )
        self._requested_port = port
        self.notifier = notifier or Notifier(core)
        self.limits = limits or HttpLimits(max_body=core.limits.max_body)
        self._servers: list[asyncio.Server] = []
        self._connections: set[HttpProtocol] = set()
        self._addresses: list[tuple[str, int]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_grace = stop_grace
        self._networks = None if networks is None else list(networks)
        self._sweep_poke = asyncio.Event()
        self._sweep_at = float("inf")
        #: Connections refused because ``limits.max_connections`` were open.
        self.refused_connections = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: an address could not be bound (e.g. the port is in use).
        """
        loop = self._loop = asyncio.get_running_loop()
        hosts = self._hosts
        if hosts is None:
            hosts = ["0.0.0.0", "::"] if socket.has_ipv6 else ["0.0.0.0"]  # noqa: S104 - the default is all interfaces
        port = self._requested_port
        try:
            for index, host in enumerate(hosts):
                try:
                    server = await loop.create_server(
                        self._protocol, host=host, port=port, reuse_address=True
                    )
                except OSError:
                    if self._hosts is None and host == "::" and index > 0:
                        continue  # no IPv6 on this machine: IPv4 alone will do
                    raise
                self._servers.append(server)
                if port == 0:
                    port = int(server.sockets[0].getsockname()[1])  # every address on one port
        except BaseException:
            await close_connections(self._servers, self._connections, grace=self._stop_grace)
            raise
        self._addresses = [
            (normalise_ip(str(sock.getsockname()[0])), int(sock.getsockname()[1]))
            for server in self._servers
            for sock in server.sockets
        ]
        # The networks served on decide what callback_scope="subnet" accepts.
        networks = self._networks
        if networks is None:
            networks = serving_networks([ip for ip, _ in self._addresses])
        self.core.set_networks(networks)
        self.notifier.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="upnpcm-gena-sweeper")
        self._reaper = asyncio.create_task(
            reap_connections(self._connections), name="upnpcm-http-reaper"
        )

    def _protocol(self) -> asyncio.Protocol:
        if len(self._connections) >= self.limits.max_connections:
            self.refused_connections += 1
            return _Refuse(self.core.server_header)
        protocol = HttpProtocol(
            self._handle,
            self.limits,
            server_header=self.core.server_header,
            on_close=self._connections.discard,
        )
        self._connections.add(protocol)
        return protocol

    @property
    def connections(self) -> frozenset[HttpProtocol]:
        """The open client connections."""
        return frozenset(self._connections)

    async def stop(self) -> None:
        """Stop delivering events, close connections and unbind.

        Returns within about ``stop_grace`` seconds (plus NOTIFY cancellation),
        whether or not the peers read: no transport is left open.
        """
        for task in (self._sweeper, self._reaper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._sweeper = self._reaper = None
        await self.notifier.close()
        await close_connections(self._servers, self._connections, grace=self._stop_grace)
        self._addresses = []

    async def __aenter__(self) -> DeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        if not self._addresses:
            raise RuntimeError("server not started")
        return self._addresses[0][1]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(ip, port) of every listening socket."""
        return list(self._addresses)

    def url(self, ip: str, path: str = "") -> str:
        """``http://ip:port`` + path, for a given reachable address of this device."""
        return f"http://{format_host(ip, self.port)}{path}"

    def flush_events(self) -> None:
        """Deliver changes made through the API (e.g. new protocol lists)."""
        self.notifier.wake(self.core.flush_events())

    # ------------------------------------------------------------------ requests

    def _handle(self, request: HttpRequest) -> tuple[HttpResponse, Callable[[], None] | None]:
        assert self._loop is not None
        entropy = secrets.randbits(128) if request.method == "SUBSCRIBE" else 0
        result = self.core.handle(request, now=self._loop.time(), entropy=entropy)
        if result.error is not None:
            _LOG.error(
                "%s raised in %s",
                type(result.error).__name__,
                result.operation,
                exc_info=result.error,
            )
        if _ACCESS.isEnabledFor(logging.INFO):
            _ACCESS.info(
                '%s "%s %s" %d %s',
                request.peer,
                request.method,
                request.path,
                result.response.status,
                result.operation or "-",
            )
        for path, sid in result.ended:
            self.notifier.forget(path, sid)
        if result.operation == "PrepareForConnection":
            # A new row may expire before the sweeper's next wake-up (short leases).
            deadline = self.core.next_lease_deadline()
            if deadline is not None and deadline < self._sweep_at:
                self._sweep_poke.set()
        if not result.wake:
            return result.response, None
        wake = result.wake
        return result.response, lambda: self.notifier.wake(wake)

    async def _sweep(self) -> None:
        # Subscription expiry (GENA) and idle leases (ConnectionManager rows, rule H7).
        loop = asyncio.get_running_loop()
        while True:
            deadlines = [t.next_deadline() for t in self.core.tables().values()]
            deadlines.append(self.core.next_lease_deadline())
            upcoming = [d for d in deadlines if d is not None]
            delay = min(upcoming) - loop.time() if upcoming else 60.0
            delay = min(max(delay, 0.05), 60.0)
            self._sweep_at = loop.time() + delay
            self._sweep_poke.clear()
            with contextlib.suppress(TimeoutError):  # woken early: a nearer deadline
                await asyncio.wait_for(self._sweep_poke.wait(), delay)
            now = loop.time()
            for path, sid in self.core.expire(now):
                _LOG.info("subscription %s on %s expired", sid, path)
                self.notifier.forget(path, sid)
            wake = self.core.expire_leases(now)
            if wake:
                _LOG.info("idle connections expired; %d subscribers told", len(wake))
                self.notifier.wake(wake)
