"""Serve a :class:`~upnpcm.core.device.DeviceCore` over HTTP: convert, call, send.

The HTTP framing is :mod:`upnpcm.aio.http_server` (llhttp via httptools).
This adapter's own decisions are only those that need the I/O world: the
monotonic clock, randomness for SIDs, logging, one timer armed at the core's
:meth:`~DeviceCore.next_deadline`, carrying out the core's effects (rule
T3) once the response they belong to is written, and awaiting the actions a
service answers asynchronously, each in a task of its own, up to the core's
deadline (rule I2).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from upnpcm.aio.http_server import (
    ConnectionGate,
    HttpLimits,
    HttpProtocol,
    Reply,
    WriteBatch,
    close_connections,
    listen,
    plain_answer,
    quiet_accept_errors,
    reap_connections,
)
from upnpcm.aio.notifier import Notifier
from upnpcm.aio.ssdp import serving_networks
from upnpcm.core.device import DeviceCore, DeviceResult, PendingAction
from upnpcm.core.effects import Effect, LeasesExpired, SendNotify, ServiceFailed, SubscriptionEnded
from upnpcm.core.http import HttpRequest, HttpResponse, format_host, normalise_ip
from upnpcm.core.memo import HeadMemo

if TYPE_CHECKING:
    from upnpcm.core.http import Network

__all__ = ["DeviceServer"]

_LOG: Final = logging.getLogger("upnpcm.server")
_ACCESS: Final = logging.getLogger("upnpcm.access")
#: Seconds after a deadline that its timer fires (never before the work is due).
_TIMER_SLACK: Final = 0.001


#: The answer to a request that arrives while the device is stopping.
_STOPPING: Final = plain_answer(503, "the device is stopping")


class DeviceServer:
    """Serve a :class:`DeviceCore`, with GENA delivery.

    Use ``async with DeviceServer(core, host="127.0.0.1", port=0) as server:``
    or :meth:`start` / :meth:`stop`. ``host=None`` listens on every IPv4 and
    IPv6 address; ``port=0`` picks a free port (the same on every address),
    read back from :attr:`port`.

    ``networks`` are the device's own networks for ``callback_scope="subnet"``
    (default: those of the interfaces behind the bound addresses).

    At most ``limits.max_connections`` connections are open at once, and at most
    ``limits.max_connections_per_peer`` from one address: one more is answered
    503 and closed at once, without reading it. :meth:`stop`
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
        batch_writes: bool = True,
    ) -> None:
        self.core = core
        #: Hand the answers of one turn of the loop to the kernel together (rule HW1).
        self.batch_writes = batch_writes
        self._batch: WriteBatch | None = None
        self._hosts: list[str] | None = (
            None if host is None else [host] if isinstance(host, str) else list(host)
        )
        #: The port bound by the next :meth:`start` (0: any free one).
        self.requested_port = port
        self.notifier = notifier or Notifier(core)
        self.notifier.on_effects = self.perform
        self.limits = limits or HttpLimits(max_body=core.limits.max_body)
        self._servers: list[asyncio.Server] = []
        self.gate = ConnectionGate(self.limits)
        #: Request heads read before, for every connection (rule M6).
        self._heads = HeadMemo(enabled=core.memo.enabled)
        self._connections = self.gate.connections
        self._addresses: list[tuple[str, int]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_grace = stop_grace
        self._networks = None if networks is None else list(networks)
        #: Actions being awaited (I2), cancelled by stop().
        self._actions: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: an address could not be bound (e.g. the port is in use).
        """
        self._loop = asyncio.get_running_loop()
        self._batch = WriteBatch(self._loop) if self.batch_writes else None
        quiet_accept_errors()
        hosts = self._hosts
        if hosts is None:
            hosts = ["0.0.0.0", "::"] if socket.has_ipv6 else ["0.0.0.0"]  # noqa: S104 - the default is all interfaces
        port = self.requested_port
        try:
            for index, host in enumerate(hosts):
                try:
                    server = await listen(
                        self.gate, self._protocol, host, port, server_header=self.core.server_header
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
        self._rearm()
        self._reaper = asyncio.create_task(
            reap_connections(self._connections), name="upnpcm-http-reaper"
        )

    def _protocol(self, local: tuple[str, int] | None) -> HttpProtocol:
        return HttpProtocol(
            self._handle,
            self.limits,
            server_header=self.core.server_header,
            gate=self.gate,
            loop=self._loop,
            local=local,
            memory=self,
            heads=self._heads,
            batch=self._batch,
        )

    @property
    def refused_connections(self) -> int:
        """Connections refused, over the global or the per-peer cap."""
        return self.gate.refused

    @property
    def connections(self) -> frozenset[HttpProtocol]:
        """The open client connections."""
        return frozenset(self._connections)

    async def stop(self) -> None:
        """Stop delivering events, close connections and unbind.

        Returns within about ``stop_grace`` seconds (plus NOTIFY cancellation),
        whether or not the peers read: no transport is left open.
        """
        self._loop = None  # nothing is performed or re-armed from here on
        self._disarm()
        for task in list(self._actions):
            task.cancel()
        await asyncio.gather(*self._actions, return_exceptions=True)
        self._actions.clear()
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        self._reaper = None
        await self.notifier.close()
        self.core.stop_delivery()  # what was in flight will never be reported
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
        if self._loop is not None:
            self.perform(self.core.flush_events(self._loop.time()))

    # ------------------------------------------------------------------ requests

    def recall(self, raw: bytes, local: str, local_port: int) -> tuple[HttpResponse, bool] | None:
        """The core's answer to a whole request it knows by its bytes (rule M5), or None.

        None while access lines are logged: each request then goes the slow way and is logged.
        """
        if _ACCESS.isEnabledFor(logging.INFO):
            return None
        return self.core.recall(raw, local, local_port)

    def remember(self, raw: bytes, request: HttpRequest, keep_alive: bool) -> bool:
        """Tell the core the bytes of a request it just answered (rule M5); True if kept."""
        return self.core.remember(raw, request, keep_alive)

    def _handle(self, request: HttpRequest) -> Reply | asyncio.Future[Reply]:
        loop = self._loop
        if loop is None:  # stop() has begun: the connections are closing (RFC 9110 §15.6.4)
            return _STOPPING, None
        entropy = secrets.randbits(128) if request.method == "SUBSCRIBE" else 0
        result = self.core.handle(request, now=loop.time(), entropy=entropy)
        if isinstance(result, PendingAction):
            answer: asyncio.Future[Reply] = loop.create_future()
            task = loop.create_task(self._await(result, request, answer), name="upnpcm-action")
            self._actions.add(task)
            task.add_done_callback(self._actions.discard)
            return answer
        return self._reply(request, result)

    async def _await(
        self, pending: PendingAction, request: HttpRequest, answer: asyncio.Future[Reply]
    ) -> None:
        """Await an action up to its deadline (I2), then answer it."""
        loop = asyncio.get_running_loop()
        deadline = asyncio.timeout_at(pending.deadline)
        try:
            try:
                async with deadline:
                    outputs = await pending.awaitable
            except TimeoutError as exc:
                if deadline.expired():
                    result = self.core.finish_action(pending, loop.time(), timed_out=True)
                else:  # the service's own TimeoutError
                    result = self.core.finish_action(pending, loop.time(), error=exc)
            except Exception as exc:
                result = self.core.finish_action(pending, loop.time(), error=exc)
            else:
                result = self.core.finish_action(pending, loop.time(), outputs=outputs)
        except BaseException:
            if not answer.done():  # stop() cancelled the action: the device is stopping
                answer.set_result((_STOPPING, None))
            raise
        if not answer.done():
            answer.set_result(self._reply(request, result))

    def _reply(self, request: HttpRequest, result: DeviceResult) -> Reply:
        if _ACCESS.isEnabledFor(logging.INFO):
            _ACCESS.info(
                '%s "%s %s" %d %s',
                request.peer,
                request.method,
                request.path,
                result.response.status,
                result.operation or "-",
            )
        if not result.effects:
            self._rearm()
            return result.response, None
        effects = list(result.effects)
        return result.response, lambda: self.perform(effects)

    # ------------------------------------------------------------------- effects

    def perform(self, effects: list[Effect]) -> None:
        """Carry out what the core asked for, then re-arm the timer (rules T1, T3)."""
        if self._loop is None:
            return  # stopped
        for effect in effects:
            if isinstance(effect, SendNotify):
                self.notifier.send(effect)
            elif isinstance(effect, ServiceFailed):
                _LOG.error(
                    "%s raised in %s",
                    type(effect.error).__name__,
                    effect.operation,
                    exc_info=effect.error,
                )
            elif isinstance(effect, SubscriptionEnded):
                _LOG.info("subscription %s on %s %s", effect.sid, effect.path, effect.reason)
            elif isinstance(effect, LeasesExpired):
                _LOG.info("idle state of %s expired: %s", effect.path, effect.dropped)
        self._rearm()

    def _rearm(self) -> None:
        """Have a timer fire at the core's next deadline, or before it.

        A timer already armed for an earlier moment is kept: it fires, the
        core finds nothing due yet, and the timer is armed again then. So a
        deadline that moves later with every request (an idle lease renewed,
        the oldest connection completed) costs no timer per request.
        """
        loop = self._loop
        if loop is None:
            return
        deadline = self.core.next_deadline()
        armed = self._timer_at
        if deadline is None or (armed is not None and armed <= deadline):
            return
        self._disarm()
        # A hair late rather than early: the core then finds the work due.
        self._timer = loop.call_at(deadline + _TIMER_SLACK, self._on_timer)
        self._timer_at = deadline

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._loop is not None:
            self.perform(self.core.handle_timer(self._loop.time()))
