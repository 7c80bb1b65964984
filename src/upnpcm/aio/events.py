"""Event subscriptions for the control point: a NOTIFY listener and self-healing subscriptions.

::

    async with EventListener(cp.http) as listener:
        subscription = await listener.subscribe(device.service("AVTransport"))
        async for event in subscription:          # Subscribed, EventReceived, Resubscribing, …
            ...

The listener is an HTTP server (the same llhttp protocol the device side
uses) that answers NOTIFY per :class:`~upnpcm.core.subscription.NotifyRouter`
(200 / 400 / 412, anything but NOTIFY → 405, a body over 1 MiB → 413). The
address it *binds* and the address it *advertises* in CALLBACK are set
separately (Docker, NAT); by default it binds every IPv4 and IPv6 address on
one port and advertises the local address that routes to each device. Bound
to one address, it advertises that address unless told otherwise.
Callbacks run in the listener's task: an exception in one is logged and
never costs the device an answer or the subscription its task.

Each subscription is driven by a task that sends what the state machine asks
for, when it asks (renewal at about half the granted TIMEOUT, fresh SUBSCRIBE
on 412 or a SEQ gap, capped backoff). A given-up SID is unsubscribed in the
background so it does not hold one of the device's slots; closing a
subscription (or the listener) sends UNSUBSCRIBE.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from upnpcm.aio.control_point import RemoteService
from upnpcm.aio.http_client import RAW, HttpClient, raw_text
from upnpcm.aio.http_server import (
    ConnectionGate,
    HttpLimits,
    HttpProtocol,
    close_connections,
    listen,
    quiet_accept_errors,
    reap_connections,
)
from upnpcm.core.gena import MAX_NOTIFY_BYTES
from upnpcm.core.http import Headers, HttpRequest, HttpResponse, format_host
from upnpcm.core.subscription import (
    ClientSubscription,
    NotifyRouter,
    RebootWatch,
    Resubscribing,
    Subscribed,
    SubscriptionEvent,
    SubscriptionState,
    Unsubscribed,
)
from upnpcm.errors import ConnectError, TransportError

__all__ = ["EventListener", "Subscription", "local_address_for", "specific_address"]

_LOG: Final = logging.getLogger("upnpcm.events")


async def _resolve(host: str) -> str:
    """``host`` as an IP address (looked up off the event loop if it is a name)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    return str(infos[0][4][0])


def specific_address(host: str | None) -> str | None:
    """``host`` if it is one IP address (not a wildcard such as 0.0.0.0, not a name), else None."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


def local_address_for(remote_ip: str) -> str:
    """The local address the kernel would use to reach ``remote_ip``.

    A UDP ``connect`` only looks up the route: nothing is sent.
    """
    family = socket.AF_INET6 if ":" in remote_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((remote_ip, 9))
        return str(sock.getsockname()[0])


class Subscription:
    """One subscription: an async iterator of its events, until closed."""

    def __init__(
        self, listener: EventListener, service: RemoteService, machine: ClientSubscription
    ) -> None:
        self.service = service
        self.machine = machine
        self._listener = listener
        self._queue: asyncio.Queue[SubscriptionEvent | None] = asyncio.Queue(maxsize=1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.callbacks: list[Callable[[SubscriptionEvent], None]] = []

    @property
    def sid(self) -> str | None:
        """The current SID (None while (re)subscribing)."""
        return self.machine.sid

    def __aiter__(self) -> AsyncIterator[SubscriptionEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[SubscriptionEvent]:
        while True:
            item = await self._queue.get()
            if item is None:  # the subscription ended
                return
            yield item

    def push(self, events: list[SubscriptionEvent]) -> None:
        """Hand events to the iterator and callbacks (oldest dropped if nobody reads).

        A callback that raises is logged; the others and the iterator still get the event.
        """
        for event in events:
            for callback in self.callbacks:
                try:
                    callback(event)
                except Exception:
                    _LOG.exception("event callback %r failed on %r", callback, event)
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(event)

    def wake(self) -> None:
        """The state machine has something new to send."""
        self._wake.set()

    async def close(self) -> None:
        """UNSUBSCRIBE (bounded by the HTTP timeout) and end the iterator."""
        loop = asyncio.get_running_loop()
        self.push(self.machine.close(loop.time()))
        self.wake()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._listener.timeout + 1)
            except TimeoutError:
                self._task.cancel()
        self._listener._forget(self)

    async def run(self) -> None:
        """Drive the state machine until it is closed."""
        loop = asyncio.get_running_loop()
        http = self._listener.http
        try:
            while self.machine.state is not SubscriptionState.CLOSED:
                request = self.machine.poll(loop.time())
                if request is not None:
                    status = None
                    headers = None
                    try:
                        reply = await http.request(
                            request.method,
                            self.machine.event_url,
                            headers=dict(request.headers),
                            timeout=self._listener.timeout,
                        )
                        status, headers = reply.status, reply.headers
                    except TransportError as exc:
                        _LOG.info("%s %s failed: %s", request.method, self.machine.event_url, exc)
                    events = self.machine.on_reply(status, headers or Headers(), loop.time())
                    if any(isinstance(event, Subscribed) for event in events):
                        # New SID: route it, and replay NOTIFYs that beat this answer.
                        events += self._listener.router.bind(self.machine, loop.time())
                    self._after(events)
                    continue
                deadline = self.machine.next_deadline()
                self._wake.clear()
                delay = None if deadline is None else max(0.0, deadline - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    def _after(self, events: list[SubscriptionEvent]) -> None:
        self.push(events)
        for event in events:
            if isinstance(event, Resubscribing) and event.old_sid:
                self._listener.spawn_unsubscribe(self.machine.event_url, event.old_sid)
            if isinstance(event, Unsubscribed):
                _LOG.debug("unsubscribed %s", event.sid)


class EventListener:
    """NOTIFY server plus the subscriptions it serves."""

    def __init__(
        self,
        http: HttpClient,
        *,
        bind_host: str | None = None,
        bind_port: int = 0,
        advertise_host: str | None = None,
        advertise_port: int | None = None,
        timeout: float = 10.0,
        requested_timeout: int = 1800,
        rng: random.Random | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.http = http
        #: Sizes, timeouts and connection caps of the NOTIFY listener (rules B3, B4).
        self.limits = limits or HttpLimits(
            max_body=MAX_NOTIFY_BYTES,
            keepalive_timeout=60.0,
            max_connections=256,
            max_connections_per_peer=32,
        )
        self._gate = ConnectionGate(self.limits)
        self.bind_host = bind_host
        self.bind_port = bind_port
        self.advertise_host = advertise_host
        self.advertise_port = advertise_port
        self.timeout = timeout
        self.requested_timeout = requested_timeout
        self.router = NotifyRouter()
        self._rng = rng or random.SystemRandom()
        self._servers: list[asyncio.Server] = []
        self._families: set[int] = set()
        self._connections = self._gate.connections
        self._reaper: asyncio.Task[None] | None = None
        self._subscriptions: list[Subscription] = []
        self._by_state: dict[int, Subscription] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        """Start listening for NOTIFY.

        Raises:
            OSError: the bind address or port cannot be used.
        """
        loop = asyncio.get_running_loop()
        limits, gate = self.limits, self._gate
        quiet_accept_errors()

        def make(local: tuple[str, int] | None) -> HttpProtocol:
            return HttpProtocol(self._handle, limits, gate=gate, loop=loop, local=local)

        if self.bind_host is not None:
            hosts: list[str] = [self.bind_host]
        else:  # one port for both families: bind IPv4 first, then IPv6 on its port
            hosts = ["0.0.0.0", "::"]  # noqa: S104 - devices must reach it
        for host in hosts:
            try:
                server = await listen(gate, make, host, self.port or self.bind_port)
            except OSError:
                if self.bind_host is not None or not self._servers:
                    await close_connections(self._servers, self._connections)
                    raise
                _LOG.debug("no IPv6 NOTIFY listener (%s unavailable)", host)
                continue
            self._servers.append(server)
            self._families.update(sock.family for sock in server.sockets)
            self.port = int(server.sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(reap_connections(self._connections))

    async def stop(self) -> None:
        """UNSUBSCRIBE everything (bounded), then stop listening."""
        await asyncio.gather(
            *(s.close() for s in list(self._subscriptions)), return_exceptions=True
        )
        if self._background:
            await asyncio.wait(self._background, timeout=self.timeout)
        if self._reaper is not None:
            self._reaper.cancel()
        await close_connections(self._servers, self._connections)

    async def __aenter__(self) -> EventListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def callback_url(self, device_ip: str) -> str:
        """The CALLBACK URL a device at ``device_ip`` (an IP address) should use.

        The advertised address is ``advertise_host`` if set, else the bound
        address if the listener is bound to one, else the local address that
        routes to the device. Logs a warning when that address is of a family
        the listener has not bound (NOTIFYs to it would be refused).
        """
        host = (
            self.advertise_host or specific_address(self.bind_host) or local_address_for(device_ip)
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if self.advertise_host is None and self._families and family not in self._families:
            _LOG.warning(
                "CALLBACK %s is %s but the NOTIFY listener is bound to %s only",
                host,
                "IPv6" if family == socket.AF_INET6 else "IPv4",
                self.bind_host,
            )
        return f"http://{format_host(host, self.advertise_port or self.port)}/notify"

    async def subscribe(
        self,
        service: RemoteService,
        *,
        timeout: int | None = None,
        on_event: Callable[[SubscriptionEvent], None] | None = None,
    ) -> Subscription:
        """Subscribe to ``service``; the returned handle yields its events.

        The first SUBSCRIBE is sent at once; failures to reach the device are
        retried with backoff (they show up as events, not exceptions).

        Raises:
            ConnectError: the event URL's host does not resolve or has no route,
                so there is no address to put in CALLBACK.
        """
        loop = asyncio.get_running_loop()
        device_ip = await _resolve(urlsplit(service.event_url).hostname or "127.0.0.1")
        try:
            callback_url = self.callback_url(device_ip)
        except OSError as exc:
            raise ConnectError(f"no route to {device_ip} for {service.event_url}: {exc}") from exc
        state = ClientSubscription(
            event_url=service.event_url,
            callback_url=callback_url,
            requested_timeout=timeout or self.requested_timeout,
            rng=self._rng,
            now=loop.time(),
        )
        handle = Subscription(self, service, state)
        if on_event is not None:
            handle.callbacks.append(on_event)
        self.router.add(state)
        self._subscriptions.append(handle)
        self._by_state[id(state)] = handle
        handle._task = asyncio.create_task(
            handle.run(), name=f"subscription {service.qualified_name}"
        )
        return handle

    async def watch_ssdp(self, *, interfaces: Sequence[str] = ()) -> None:
        """Heal on SSDP news, until cancelled.

        Listens (passively) for announcements of the devices subscribed to: a
        BOOTID.UPNP.ORG (or X-RINCON-BOOTSEQ) that changes, or a device that
        announces itself again after its ssdp:byebye, restarts its
        subscriptions at once.
        """
        # rule C5: a BOOTID change or a return after byebye restarts subscriptions
        from upnpcm.aio.discovery import discover

        watch = RebootWatch()
        async for found in discover(
            timeout=None, passive=True, search=False, interfaces=interfaces, unique=False
        ):
            udn = found.udn
            if any(h.service.device.udn == udn for h in self._subscriptions):
                watch.watch(udn)
            else:
                watch.unwatch(udn)
            reason = watch.observe(udn, found.kind, found.boot_id)
            if reason is not None:
                self.restart_device(udn, reason)

    def restart_device(self, udn: str, reason: str) -> None:
        """The device ``udn`` rebooted or came back: resubscribe its services."""
        # rule C5
        loop = asyncio.get_running_loop()
        for handle in self._subscriptions:
            if handle.service.device.udn == udn:
                handle.push(handle.machine.restart(reason, loop.time()))
                handle.wake()

    def spawn_unsubscribe(self, event_url: str, sid: str) -> None:
        """Best-effort UNSUBSCRIBE of a SID given up."""

        async def unsubscribe() -> None:
            with contextlib.suppress(TransportError):
                await self.http.request(
                    "UNSUBSCRIBE", event_url, headers={"SID": sid}, timeout=self.timeout
                )

        task = asyncio.create_task(unsubscribe())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _forget(self, handle: Subscription) -> None:
        if handle in self._subscriptions:
            self._subscriptions.remove(handle)
        self._by_state.pop(id(handle.machine), None)
        self.router.remove(handle.machine)

    def _handle(self, request: HttpRequest) -> tuple[HttpResponse, Callable[[], None] | None]:
        if RAW.isEnabledFor(logging.INFO):  # -DDD: NOTIFYs as they arrive
            text = raw_text(request.headers, request.body)
            RAW.info("<<< %s %s from %s\n%s", request.method, request.path, request.peer, text)
        if request.method != "NOTIFY":
            return HttpResponse(status=405, headers=(("Allow", "NOTIFY"),)), None
        loop = asyncio.get_running_loop()
        status, state, events = self.router.handle(request, loop.time())
        handle = self._by_state.get(id(state)) if state is not None else None
        if handle is not None:
            handle._after(events)
            if any(isinstance(e, Resubscribing) for e in events):
                handle.wake()
        return HttpResponse(status=status), None
