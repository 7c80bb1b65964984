"""The UI's control point: discovery, loading, calls, subscriptions, the matrix, checks.

Everything UPnP is done by the library — :func:`~upnpcm.aio.discovery.discover`
and the core's :class:`~upnpcm.core.discovery.Presence` (rules A8, A9, M7;
LOCATIONs fetched only from their sender, rule D1), the
:class:`~upnpcm.aio.control_point.ControlPoint` (SCPD checks before sending,
faults), :class:`~upnpcm.aio.events.EventListener` (renewal, resubscription,
SSDP healing), :mod:`upnpcm.negotiation`, :func:`~upnpcm.core.content.compare_lists`
and :func:`upnpcm.check.run_checks`. This module only keeps what the page
shows (:mod:`upnpcm.ui.model`, every table bounded) and tells the pages
(:class:`~upnpcm.ui.hub.Hub`) what changed.

The exact bytes of each action call are recorded by :class:`RecordingHttp`,
which wraps the control point's HTTP client: a context variable set around
one call collects its exchanges, so concurrent calls never mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from upnpcm.aio.control_point import ControlPoint, RemoteDevice, RemoteService
from upnpcm.aio.discovery import discover
from upnpcm.aio.events import EventListener, Subscription
from upnpcm.aio.http_client import DEFAULT_MAX_BYTES, HttpReply, LeanHttpClient
from upnpcm.core.content import compare_lists
from upnpcm.core.discovery import Discovered, Presence, PresenceChange
from upnpcm.core.protocol_info import parse_list
from upnpcm.core.ssdp import location_matches_source
from upnpcm.core.subscription import EventReceived, SubscriptionEvent
from upnpcm.errors import (
    ActionArgumentError,
    LocalProtocolError,
    NegotiationError,
    RemoteProtocolError,
    TransportError,
    UpnpCmError,
    UPnPError,
)
from upnpcm.ui.hub import Hub
from upnpcm.ui.model import (
    RENDERER_TYPE,
    SERVER_TYPE,
    CheckRun,
    DeviceEntry,
    Lists,
    SubscriptionEntry,
    UiLimits,
    cut,
    lists_json,
)

__all__ = ["RecordingHttp", "UiApp", "UiError"]

_LOG: Final = logging.getLogger("upnpcm.ui")
#: Seconds between two searches (announcements are heard all the time).
SEARCH_EVERY: Final = 300.0

_EXCHANGES: ContextVar[list[dict[str, str]] | None] = ContextVar(
    "upnpcm_ui_exchanges", default=None
)


class UiError(UpnpCmError):
    """A request of the page that cannot be done; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _reply_text(reply: HttpReply) -> str:
    head = [f"HTTP/1.1 {reply.status} {reply.reason}".rstrip()]
    head += [f"{name}: {value}" for name, value in reply.headers]
    return "\r\n".join(head) + "\r\n\r\n" + reply.body.decode("utf-8", "replace")


def _rss() -> int | None:
    """This process's resident memory in bytes (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class RecordingHttp:
    """The control point's HTTP client, recording the exchanges of calls that ask for it."""

    def __init__(self, inner: LeanHttpClient, *, limit: int) -> None:
        self.inner = inner
        self.limit = limit

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> HttpReply:
        """Send (see :class:`~upnpcm.aio.http_client.HttpClient`); record it when asked to."""
        record = _EXCHANGES.get()
        if record is None:
            return await self.inner.request(
                method, url, headers=headers, body=body, timeout=timeout, max_bytes=max_bytes
            )
        sent = self.inner.encode_request(method, url, headers, body).decode("utf-8", "replace")
        exchange = {"request": cut(sent, self.limit), "response": ""}
        record.append(exchange)
        try:
            reply = await self.inner.request(
                method, url, headers=headers, body=body, timeout=timeout, max_bytes=max_bytes
            )
        except TransportError as exc:
            exchange["response"] = f"(no answer: {exc})"
            raise
        exchange["response"] = cut(_reply_text(reply), self.limit)
        return reply

    async def close(self) -> None:
        """Release the inner client."""
        await self.inner.close()


@dataclass(slots=True)
class _Negotiated:
    id: int
    server: str
    renderer: str
    server_connection: int
    renderer_connection: int
    result: dict[str, Any]


class UiApp:
    """The state behind the pages, and the UPnP work they ask for."""

    def __init__(
        self,
        *,
        interfaces: tuple[str, ...] = (),
        limits: UiLimits | None = None,
        discovery: bool = True,
        timeout: float = 10.0,
        check_timeout: float = 10.0,
    ) -> None:
        self.interfaces = interfaces
        self.limits = limits or UiLimits()
        self.discovery = discovery
        self.check_timeout = check_timeout
        self.hub = Hub(self.limits)
        self.presence = Presence(
            max_devices=self.limits.max_devices, max_per_peer=self.limits.max_devices_per_peer
        )
        self.http = RecordingHttp(
            LeanHttpClient(connect_timeout=min(5.0, timeout)), limit=self.limits.max_exchange
        )
        self.cp = ControlPoint(http=self.http, timeout=timeout)
        self.listener = EventListener(self.http, timeout=timeout)
        self.devices: dict[str, DeviceEntry] = {}
        self.subscriptions: dict[int, SubscriptionEntry] = {}
        self._handles: dict[int, Subscription] = {}
        self.calls: deque[dict[str, Any]] = deque(maxlen=self.limits.max_calls)
        self.negotiated: deque[_Negotiated] = deque(maxlen=self.limits.max_connections)
        self.check: CheckRun | None = None
        self._check_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._loads = asyncio.Semaphore(self.limits.concurrent_loads)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._tasks_started: list[asyncio.Task[Any]] = []
        self._searches: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        #: Added to a monotonic time, gives epoch seconds (for "last seen").
        self.wall = 0.0
        self.searches = 0

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen for NOTIFY; with discovery, search and listen for announcements.

        Raises:
            OSError: a socket could not be opened.
            ValueError: an interface selector matches nothing.
        """
        loop = asyncio.get_running_loop()
        self.wall = time.time() - loop.time()
        await self.listener.start()
        if self.discovery:
            from upnpcm.aio.ssdp import resolve_interfaces

            resolve_interfaces(self.interfaces)  # a bad --interface fails here, not later
            for work in (
                self._listen(),
                self._search_forever(),
                self._expire_forever(),
                self.listener.watch_ssdp(interfaces=self.interfaces),
            ):
                self._tasks_started.append(self._spawn(work))

    async def stop(self) -> None:
        """Cancel the work in progress, unsubscribe everything (bounded), close."""
        if self._check_task is not None:
            self._check_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._check_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.listener.stop()
        await self.cp.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def now(self) -> float:
        """Monotonic seconds (the clock presence and subscriptions use)."""
        return asyncio.get_running_loop().time()

    # --------------------------------------------------------------- discovery

    async def _listen(self) -> None:
        async for found in discover(
            timeout=None, passive=True, search=False, interfaces=self.interfaces, unique=False
        ):
            self.on_found(found)

    async def _search_forever(self) -> None:
        while True:
            await self.search()
            await asyncio.sleep(SEARCH_EVERY)

    async def search(self, seconds: float = 3.0) -> None:
        """Send an M-SEARCH for root devices and take the replies for ``seconds``."""
        self.searches += 1
        self.hub.publish("search", {"searching": True})
        try:
            async for found in discover(
                "upnp:rootdevice",
                timeout=seconds,
                mx=2,
                interfaces=self.interfaces,
                unique=False,
            ):
                self.on_found(found)
        finally:
            self.hub.publish("search", {"searching": False})

    def start_search(self) -> None:
        """Search in the background (the page's button)."""
        self._searches.append(self._spawn(self.search()))
        del self._searches[:-4]

    async def _expire_forever(self) -> None:
        while True:
            deadline = self.presence.next_deadline()
            delay = 60.0 if deadline is None else max(0.05, deadline - self.now())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(delay, 60.0))
            for change in self.presence.expire(self.now()):
                self._gone(change)

    def on_found(self, found: Discovered) -> None:
        """One search reply or announcement (A8, A9 decide what it changes)."""
        change = self.presence.observe(found, self.now())
        if change is None:
            return
        if change.kind == "gone":
            self._gone(change)
            return
        udn = change.device.udn
        entry = self.devices.get(udn)
        if change.kind == "appeared" or entry is None:
            if entry is None:
                entry = DeviceEntry(
                    udn=udn,
                    location=change.device.location,
                    source=change.device.source,
                    added=self.now(),
                )
                self.devices[udn] = entry
            entry.present = change.device
            self._wake.set()  # an earlier expiry to wait for
            self._load_soon(entry)
        elif change.kind == "changed":
            entry.location = change.device.location
            _LOG.info("%s changed: %s", udn, change.reason)
            self._load_soon(entry, reason=change.reason)
        elif entry.state in ("error", "skipped") and len(change.device.locations) > entry.tried:
            self._load_soon(entry)  # heard at another address: try that one too
        else:
            self.hub.publish("seen", {"udn": udn, "lastSeen": entry.summary(self.wall)["lastSeen"]})

    def _gone(self, change: PresenceChange) -> None:
        entry = self.devices.pop(change.device.udn, None)
        task = self._loading.pop(change.device.udn, None)
        if task is not None:
            task.cancel()
        if entry is not None:
            self.hub.publish("gone", {"udn": entry.udn, "reason": change.reason})
            self.hub.publish("matrix", {})

    def _load_soon(self, entry: DeviceEntry, *, reason: str = "") -> None:
        if entry.location is None:
            entry.state, entry.error = "skipped", "no LOCATION"
        elif not self._candidates(entry):
            # rule D1: a LOCATION on another host than the sender is never fetched
            entry.state = "skipped"
            entry.tried = len(entry.present.locations) if entry.present is not None else 0
            entry.error = (
                f"LOCATION {entry.location} is not on {entry.source}, which sent it: not fetched"
            )
        else:
            entry.state, entry.error = "loading", None
            old = self._loading.pop(entry.udn, None)
            if old is not None:
                old.cancel()
            self._loading[entry.udn] = self._spawn(self._load(entry, reason))
        self.hub.publish("device", entry.summary(self.wall))

    def _candidates(self, entry: DeviceEntry) -> list[tuple[str, str]]:
        """(sender, LOCATION) to load from: the first heard, then the others, IPv4 first (D1)."""
        heard = list(entry.present.locations) if entry.present is not None else []
        if entry.location is not None and (entry.source, entry.location) not in heard:
            heard.insert(0, (entry.source, entry.location))
        usable = [
            (ip, url) for ip, url in heard if entry.manual or location_matches_source(url, ip)
        ]
        return sorted(usable, key=lambda pair: ":" in pair[0])  # stable: IPv4, then IPv6

    async def _load(self, entry: DeviceEntry, reason: str) -> None:
        present = entry.present
        try:
            async with self._loads:
                failure: Exception | None = None
                candidates = self._candidates(entry)
                entry.tried = len(present.locations) if present is not None else len(candidates)
                for source, location in candidates:
                    try:
                        remote = await self.cp.load(
                            location,
                            boot_id=present.boot_id if present is not None else None,
                            config_id=present.config_id if present is not None else None,
                        )
                    except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
                        failure = failure or exc
                        continue
                    entry.source, entry.location = source, location
                    break
                else:
                    raise failure or TransportError("no LOCATION to load from")
                entry.remote = remote
                self.presence.set_embedded(
                    entry.udn, [d.udn for d in list(remote.root.iter_devices())[1:]]
                )
                await self._read_lists(entry)
        except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
            entry.state, entry.error = "error", cut(str(exc), 500)
        else:
            entry.state, entry.error = "ready", None
        finally:
            if self._loading.get(entry.udn) is asyncio.current_task():
                del self._loading[entry.udn]
        if self.devices.get(entry.udn) is entry:
            summary = entry.summary(self.wall)
            if reason:
                summary["changed"] = reason
            self.hub.publish("device", summary)
            self.hub.publish("matrix", {})

    async def _read_lists(self, entry: DeviceEntry) -> None:
        """GetProtocolInfo of each ConnectionManager of a MediaServer or MediaRenderer."""
        lists: dict[str, Lists] = {}
        for _, remote in entry.connection_managers():
            try:
                answer = await remote.call("GetProtocolInfo")
            except (UPnPError, TransportError, RemoteProtocolError, LocalProtocolError) as exc:
                lists[remote.peer_id] = Lists(error=cut(str(exc), 300))
                continue
            lists[remote.peer_id] = Lists(
                source=parse_list(str(answer.get("Source", ""))).entries,
                sink=parse_list(str(answer.get("Sink", ""))).entries,
            )
        entry.lists = lists

    async def add(self, location: str) -> dict[str, Any]:
        """Load a device by its description URL (one SSDP does not reach).

        Raises:
            UiError: too many devices added, or it cannot be loaded.
        """
        if sum(1 for e in self.devices.values() if e.manual) >= self.limits.max_manual:
            raise UiError(f"at most {self.limits.max_manual} devices can be added by URL", 429)
        try:
            remote = await self.cp.load(location)
        except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
            raise UiError(f"cannot load {location}: {exc}", 502) from None
        udn = remote.root.udn
        entry = self.devices.get(udn)
        if entry is None:
            from urllib.parse import urlsplit

            entry = DeviceEntry(
                udn=udn,
                location=location,
                source=urlsplit(location).hostname or "",
                manual=True,
                added=self.now(),
            )
            self.devices[udn] = entry
        entry.remote, entry.state = remote, "ready"
        await self._read_lists(entry)
        summary = entry.summary(self.wall)
        self.hub.publish("device", summary)
        self.hub.publish("matrix", {})
        return summary

    # ------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        """Everything a page needs to start (then it follows the event stream)."""
        return {
            "devices": [e.summary(self.wall) for e in self.devices.values()],
            "subscriptions": [
                {**s.summary(), "tail": list(s.tail)} for s in self.subscriptions.values()
            ],
            "calls": list(self.calls),
            "check": self.check.view() if self.check is not None else None,
            "negotiated": [self._negotiated_json(n) for n in self.negotiated],
            "interfaces": list(self.interfaces),
            "discovery": self.discovery,
        }

    def entry(self, udn: str) -> DeviceEntry:
        """The device ``udn``.

        Raises:
            UiError: 404, not known.
        """
        entry = self.devices.get(udn)
        if entry is None:
            raise UiError(f"no device {udn}", 404)
        return entry

    def detail(self, udn: str) -> dict[str, Any]:
        """A device's tree, every service with its SCPD, and its ConnectionManagers' lists."""
        from upnpcm.cli.render import device_json

        entry = self.entry(udn)
        out: dict[str, Any] = {"summary": entry.summary(self.wall)}
        if entry.remote is not None:
            out["description"] = device_json(entry.remote, with_scpd=True)
            out["lists"] = lists_json(entry.lists)
        return out

    def service(self, udn: str, selector: str) -> tuple[DeviceEntry, RemoteService]:
        """A service of a loaded device.

        Raises:
            UiError: 404 no such device or service; 409 not loaded yet.
        """
        entry = self.entry(udn)
        remote: RemoteDevice | None = entry.remote
        if remote is None:
            raise UiError(f"{udn} is not loaded ({entry.state}: {entry.error or 'wait'})", 409)
        try:
            return entry, remote.service(selector)
        except LookupError as exc:
            raise UiError(str(exc), 404) from None

    def stats(self) -> dict[str, Any]:
        """The size of every table (what the memory-bound test reads)."""
        return {
            "devices": len(self.devices),
            "present": len(self.presence),
            "refused": self.presence.refused,
            "perPeer": max(self.presence.peers().values(), default=0),
            "subscriptions": len(self.subscriptions),
            "tails": sum(len(s.tail) for s in self.subscriptions.values()),
            "maxTail": max((len(s.tail) for s in self.subscriptions.values()), default=0),
            "variables": sum(len(s.values) for s in self.subscriptions.values()),
            "calls": len(self.calls),
            "checkRows": len(self.check.rows) if self.check is not None else 0,
            "clients": len(self.hub),
            "queued": self.hub.queued(),
            "cutOffs": self.hub.cut_offs,
            "published": self.hub.published,
            "descriptions": len(self.cp.descriptions),
            "rss": _rss(),
            "limits": {
                "maxDevices": self.limits.max_devices,
                "maxDevicesPerPeer": self.limits.max_devices_per_peer,
                "eventTail": self.limits.event_tail,
                "maxVariables": self.limits.max_variables,
                "clientQueue": self.limits.client_queue,
            },
        }

    # ------------------------------------------------------------------ calls

    async def call(
        self, udn: str, selector: str, action: str, arguments: Mapping[str, str]
    ) -> dict[str, Any]:
        """Call an action with the form's values (strings, checked by the SCPD as the CLI's are).

        The answer says what happened: ``ok`` (out-arguments), ``fault``
        (the device's UPnP error), ``refused`` (the arguments failed the SCPD
        checks: nothing was sent) or ``error`` (network, unusable answer),
        with the exact request and response when there were any.
        """
        entry, remote = self.service(udn, selector)
        from upnpcm.cli.render import jsonable

        exchanges: list[dict[str, str]] = []
        token = _EXCHANGES.set(exchanges)
        record: dict[str, Any] = {
            "id": next(self._ids),
            "at": round(time.time() * 1000),
            "udn": udn,
            "device": entry.summary(self.wall)["name"],
            "service": remote.qualified_name,
            "selector": selector,
            "action": action,
            "arguments": dict(arguments),
        }
        try:
            values = await remote.call(action, **dict(arguments))
        except ActionArgumentError as exc:
            record.update(outcome="refused", code=exc.code, message=str(exc))
        except UPnPError as exc:
            record.update(outcome="fault", code=exc.code, message=exc.description or exc.meaning)
        except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
            record.update(outcome="error", message=str(exc))
        else:
            record.update(outcome="ok", values=jsonable(values))
        finally:
            _EXCHANGES.reset(token)
        record["request"] = exchanges[-1]["request"] if exchanges else None
        record["response"] = exchanges[-1]["response"] if exchanges else None
        self.calls.append(record)
        self.hub.publish("call", record)
        return record

    # ---------------------------------------------------------- subscriptions

    async def subscribe(self, udn: str, selector: str) -> dict[str, Any]:
        """Subscribe to a service; its events reach the pages as they arrive.

        Raises:
            UiError: 429 over a bound, 409 already subscribed, 502 no route.
        """
        entry, remote = self.service(udn, selector)
        if len(self.subscriptions) >= self.limits.max_subscriptions:
            raise UiError(f"at most {self.limits.max_subscriptions} subscriptions", 429)
        mine = [s for s in self.subscriptions.values() if s.udn == udn]
        if len(mine) >= self.limits.max_subscriptions_per_device:
            raise UiError(
                f"at most {self.limits.max_subscriptions_per_device} subscriptions per device", 429
            )
        if any(s.selector == selector for s in mine):
            raise UiError(f"already subscribed to {remote.qualified_name}", 409)
        sub = SubscriptionEntry(
            id=next(self._ids),
            udn=udn,
            selector=selector,
            service=f"{entry.summary(self.wall)['name']} · {remote.qualified_name}",
            limits=self.limits,
        )
        self.subscriptions[sub.id] = sub

        def on_event(event: SubscriptionEvent) -> None:
            row = sub.record(event, time.time())
            self._trim_tails()
            self.hub.publish("event", {"sub": sub.id, "row": row, "state": sub.summary()})
            if isinstance(event, EventReceived):
                self._lists_from_event(udn, remote, event.changes)

        try:
            handle = await self.listener.subscribe(remote, on_event=on_event)
        except UpnpCmError as exc:
            del self.subscriptions[sub.id]
            raise UiError(str(exc), 502) from None
        self._handles[sub.id] = handle
        summary = {**sub.summary(), "tail": list(sub.tail)}
        self.hub.publish("subscription", summary)
        return summary

    def _trim_tails(self) -> None:
        """Over every subscription at most ``max_events`` rows: the longest tail gives one up."""
        subs = self.subscriptions.values()
        while sum(len(s.tail) for s in subs) > self.limits.max_events:
            max(subs, key=lambda s: len(s.tail)).tail.popleft()

    def _lists_from_event(
        self, udn: str, remote: RemoteService, changes: Mapping[str, str]
    ) -> None:
        """A ConnectionManager evented new lists: the matrix follows."""
        entry = self.devices.get(udn)
        lists = entry.lists.get(remote.peer_id) if entry is not None else None
        if lists is None or not ({"SourceProtocolInfo", "SinkProtocolInfo"} & changes.keys()):
            return
        if "SourceProtocolInfo" in changes:
            lists.source = parse_list(changes["SourceProtocolInfo"]).entries
        if "SinkProtocolInfo" in changes:
            lists.sink = parse_list(changes["SinkProtocolInfo"]).entries
        self.hub.publish("matrix", {})

    async def unsubscribe(self, sub_id: int) -> None:
        """UNSUBSCRIBE and forget it.

        Raises:
            UiError: 404 no such subscription.
        """
        handle = self._handles.pop(sub_id, None)
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            raise UiError(f"no subscription {sub_id}", 404)
        if handle is not None:
            await handle.close()
        self.hub.publish("unsubscribed", {"sub": sub_id})

    # ------------------------------------------------------------------ matrix

    def _cms(self, role: str) -> list[tuple[DeviceEntry, RemoteService, Lists]]:
        found = []
        for entry in self.devices.values():
            for kind, remote in entry.connection_managers():
                lists = entry.lists.get(remote.peer_id)
                if kind == role and lists is not None:
                    found.append((entry, remote, lists))
        return found[: self.limits.matrix_size]

    def matrix(self) -> dict[str, Any]:
        """Every MediaServer and MediaRenderer seen, crossed: each cell the best pair and why (P3, F3)."""

        def head(entry: DeviceEntry, remote: RemoteService, lists: Lists) -> dict[str, Any]:
            return {
                "key": remote.peer_id,
                "udn": entry.udn,
                "name": remote.device.friendly_name or entry.udn,
                "selector": entry.remote.selector_for(remote) if entry.remote else "",
                "entries": len(lists.source) + len(lists.sink),
                "error": lists.error,
            }

        servers, renderers = self._cms(SERVER_TYPE), self._cms(RENDERER_TYPE)
        cells = []
        for _, server, s_lists in servers:
            row = []
            for _, renderer, r_lists in renderers:
                result = compare_lists(s_lists.source, r_lists.sink)
                row.append(
                    {
                        "server": server.peer_id,
                        "renderer": renderer.peer_id,
                        "compatible": result.compatible,
                        "pairs": result.pairs,
                        "sources": result.sources,
                        "sinks": result.sinks,
                        "best": None
                        if result.best is None
                        else {
                            "source": str(result.best.source),
                            "sink": str(result.best.sink),
                            "score": result.best.score,
                        },
                        "explanation": list(result.explanation),
                    }
                )
            cells.append(row)
        return {
            "servers": [head(*s) for s in servers],
            "renderers": [head(*r) for r in renderers],
            "cells": cells,
        }

    def _by_peer_id(self, key: str) -> RemoteService:
        for entry in self.devices.values():
            for _, remote in entry.connection_managers():
                if remote.peer_id == key:
                    return remote
        raise UiError(f"no ConnectionManager {key}", 404)

    async def refresh_lists(self) -> None:
        """GetProtocolInfo again on every ConnectionManager of the matrix."""
        for entry in list(self.devices.values()):
            if entry.remote is not None:
                await self._read_lists(entry)
        self.hub.publish("matrix", {})

    async def negotiate(self, server_key: str, renderer_key: str) -> dict[str, Any]:
        """PrepareForConnection on both sides (:func:`upnpcm.negotiation.negotiate`)."""
        from upnpcm.cli.render import negotiation_error_json, negotiation_json
        from upnpcm.negotiation import negotiate

        server, renderer = self._by_peer_id(server_key), self._by_peer_id(renderer_key)
        try:
            done = await negotiate(server, renderer)
        except NegotiationError as exc:
            return {"ok": False, **negotiation_error_json(exc)}
        except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
            return {"ok": False, "error": str(exc)}
        record = _Negotiated(
            id=next(self._ids),
            server=server_key,
            renderer=renderer_key,
            server_connection=done.server.connection_id,
            renderer_connection=done.renderer.connection_id,
            result=negotiation_json(done),
        )
        self.negotiated.append(record)
        out = {"ok": True, **self._negotiated_json(record)}
        self.hub.publish("negotiated", out)
        return out

    def _negotiated_json(self, record: _Negotiated) -> dict[str, Any]:
        return {
            "id": record.id,
            "server": record.server,
            "renderer": record.renderer,
            "result": record.result,
        }

    async def complete(self, negotiated_id: int) -> dict[str, Any]:
        """ConnectionComplete on both sides of a negotiated connection.

        Raises:
            UiError: 404 no such connection.
        """
        from upnpcm.negotiation import disconnect

        record = next((n for n in self.negotiated if n.id == negotiated_id), None)
        if record is None:
            raise UiError(f"no negotiated connection {negotiated_id}", 404)
        outcome = await disconnect(
            self._by_peer_id(record.server),
            record.server_connection,
            self._by_peer_id(record.renderer),
            record.renderer_connection,
        )
        self.negotiated.remove(record)
        self.hub.publish("completed", {"id": negotiated_id, "outcome": outcome})
        return {"id": negotiated_id, "outcome": outcome}

    # ------------------------------------------------------------------ check

    def start_check(
        self, udn: str, *, only: tuple[str, ...] = (), changes: bool = True
    ) -> dict[str, Any]:
        """Run ``upnpcm check`` on a device in the background; its rows reach the pages.

        Raises:
            UiError: 409 a check is already running; 400 a bad suite name.
        """
        from upnpcm.check import CheckOptions, select_checks

        entry = self.entry(udn)
        if self.check is not None and self.check.state == "running":
            raise UiError("a check is running already: wait for it or stop it", 409)
        if entry.location is None:
            raise UiError(f"{udn} has no LOCATION to check", 409)
        try:
            select_checks(only)
        except ValueError as exc:
            raise UiError(str(exc)) from None
        run = CheckRun(id=next(self._ids), udn=udn, location=entry.location)
        self.check = run
        options = CheckOptions(
            timeout=self.check_timeout, changes=changes, interfaces=self.interfaces, only=only
        )
        self._check_task = self._spawn(self._run_check(run, options))
        self.hub.publish("check", run.view())
        return run.view()

    async def _run_check(self, run: CheckRun, options: Any) -> None:
        from upnpcm.check import Result, run_checks

        def on_result(result: Result) -> None:
            row = result.as_json()
            if len(run.rows) < self.limits.max_check_rows:
                run.rows.append(row)
            else:
                run.dropped += 1
            self.hub.publish("checkrow", {"id": run.id, "row": row})

        def on_progress(suite: str, check: str, text: str) -> None:
            run.progress = cut(f"{suite}: {text}", 200)
            self.hub.publish("checkprogress", {"id": run.id, "progress": run.progress})

        try:
            summary = await run_checks(
                run.location, options, on_result=on_result, on_progress=on_progress
            )
        except asyncio.CancelledError:
            run.state, run.summary = "cancelled", "stopped (what it had set up was undone)"
            self.hub.publish("check", run.view())
            raise
        except Exception as exc:  # the device could not be checked at all
            _LOG.info("check of %s failed: %s", run.location, exc)
            run.state, run.summary = "failed", cut(f"{type(exc).__name__}: {exc}", 500)
        else:
            run.state, run.summary = "done", summary.text()
        self.hub.publish("check", run.view())

    async def stop_check(self) -> None:
        """Stop the running check (it undoes what it set up first)."""
        task = self._check_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
