"""A UPnP device as a pure function of HTTP requests (UDA 1.1 §2, §3, §4).

:class:`DeviceCore` routes an :class:`HttpRequest` to the description, an
SCPD, a control URL or an event URL and returns an :class:`HttpResponse` plus
the effects it asks for. The asyncio adapter (upnpcm.aio.server) converts
and sends; nothing here does I/O.

The loop contract, aioquic style (rules T1-T3, T5): every call returns the
effects to carry out (:mod:`upnpcm.core.effects`); the core owns its timers
(subscription expiry, idle leases, NOTIFY pacing) behind :meth:`DeviceCore.next_deadline`
and :meth:`DeviceCore.handle_timer`, and drives NOTIFY delivery itself
(:mod:`upnpcm.core.delivery`): the adapter sends what it is handed and reports
each outcome with :meth:`DeviceCore.notify_done`.

HTTP answers (rules H1-H7, B1-B4)
--------------------------------------------------------
H1  A method nobody defines for HTTP or UPnP → 501.
H2  A Host header that is missing, doubled, not an IP literal or not the
    address and port the request arrived on → 400 (DNS rebinding defence),
    unless listed in ``allowed_hosts``. Applies to every route.
H3  Unknown path → 404 (paths match exactly, byte for byte: no decoding, so
    no traversal). A known path with the wrong method → 405 with ``Allow``.
H4  Control: a non-XML ``Content-Type`` → 415; a body over ``max_body``
    → 413; a missing/bad SOAPACTION or unparsable envelope → 400.
H10 Control: two ``Content-Type`` or ``SOAPACTION`` headers that differ,
    or an envelope with two Bodies → 400; a Body with two action elements
    → 401 fault.
H5  Control: UPnP errors are faults (HTTP 500, UPnPError code): 401 unknown
    action (or one for another service type, or a body that contradicts the
    SOAPACTION), 402/601 from the SCPD checks, the service's own codes.
    Any other exception in a service → fault 501 "Action Failed" with a
    generic text; the exception is handed back for logging, never sent.
H6  Event: GENA answers with plain statuses (400, 412, 503) and no body.
H7  Leases: a handler with an idle lease (:class:`LeasedHandler`, e.g. the
    ConnectionManager's rows) gets the request's ``now`` with each action,
    and :meth:`DeviceCore.handle_timer` lets it drop what expired; the
    evented changes that causes are queued like any other.

Hosted services of one's own (rules I1-I4, I6, I7, Q4)
----------------------------------------------
I1  A handler with a clock (:class:`TimedHandler`: LastChange moderation, a
    playing track's end) is moved to ``now`` before its changes are drained,
    and woken at its :meth:`~TimedHandler.next_deadline` like every other
    timed duty (T1).
I2  A handler may answer an action with an awaitable (an ``async`` action):
    :meth:`DeviceCore.handle` then returns a :class:`PendingAction` instead of
    a response; the adapter awaits it, at most until its ``deadline``
    (``now`` + ``DeviceLimits.action_timeout``), and hands the outcome to
    :meth:`DeviceCore.finish_action`, which builds the answer. Past the
    deadline the answer is fault 501 and the awaitable is cancelled. Other
    requests are answered meanwhile; the core never waits.
I3  An action that fails still has its state changes evented: changes are
    drained after faults as after answers.
I4  A value outside an argument's allowed list or range is 601, unless the
    service names its own code for that state variable (``value_faults``).
I6  A service may ignore in-arguments its SCPD does not list
    (``ignore_extra_arguments``) instead of answering 402.
I7  A service may answer SOAPACTIONs that name other service types it lists
    (``type_aliases``) as if they named its own.
Q4  Pending values of a variable with a merge rule (``event_merges``:
    LastChange) are merged for each subscriber, not replaced.
H11 A :class:`Page` (a document made per request, e.g. a status page in
    HTML, JSON or text) is chosen by the request's Accept header
    (:func:`~upnpcm.core.http.preferred_media_type`), answered with
    ``Vary: Accept`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Final, Literal, Protocol, cast, runtime_checkable

from upnpcm.core.activity import ActivityLog
from upnpcm.core.arguments import decode_in_arguments, encode_arguments
from upnpcm.core.connection_manager import StateVariablesChanged
from upnpcm.core.datatypes import UPnPValue
from upnpcm.core.delivery import DeliveryPolicy, NotifyScheduler
from upnpcm.core.description import (
    Action,
    DeviceDescription,
    Service,
    ServiceDescription,
    render_device_description,
)
from upnpcm.core.effects import Effect, LeasesExpired, ServiceFailed, SubscriptionEnded
from upnpcm.core.gena import GenaPolicy, SubscriberTable
from upnpcm.core.http import (
    Headers,
    HttpRequest,
    HttpResponse,
    decimal,
    is_xml_media_type,
    parse_host_header,
    preferred_media_type,
)
from upnpcm.core.memo import Memo, OutPlan, ReadKey
from upnpcm.core.soap import (
    CONTENT_TYPE,
    MAX_REQUEST_BYTES,
    build_action_response,
    build_fault,
)
from upnpcm.errors import LocalProtocolError, RemoteProtocolError, SubscriptionError, UPnPError

if TYPE_CHECKING:
    from upnpcm.core.http import Network

__all__ = [
    "AddressedHandler",
    "CacheableHandler",
    "DeviceCore",
    "DeviceLimits",
    "DeviceResult",
    "HostedService",
    "LeasedHandler",
    "Page",
    "PendingAction",
    "Resource",
    "ServiceHandler",
    "TimedHandler",
]

#: Every method HTTP/1.1 or UPnP defines; anything else is answered 501 (H1).
KNOWN_METHODS: Final = frozenset(
    {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "PATCH",
        "TRACE",
        "CONNECT",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "NOTIFY",
        "M-POST",
        "M-SEARCH",
    }
)
XML_CONTENT_TYPE: Final = CONTENT_TYPE
_GENERIC_FAILURE: Final = "Action Failed"


class ServiceHandler(Protocol):
    """What a hosted service implements (the ConnectionManager is one)."""

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object] | Awaitable[Mapping[str, object]]:
        """Run an action with checked arguments; return its out-arguments by name.

        ``now`` is the request's monotonic time (for leases; ignore it if unused).
        An awaitable answer is awaited by the adapter (rule I2).
        """
        ...

    def evented_state(self) -> dict[str, str]:
        """Every evented variable's current wire value (the initial event)."""
        ...

    def events(self) -> list[StateVariablesChanged]:
        """Drain the evented changes made since the last call."""
        ...


class AddressedHandler(ServiceHandler, Protocol):
    """A handler whose answers name the address the request arrived on.

    With ``wants_local_address`` true, :meth:`handle_action` also receives
    ``local``: the IP address the request arrived on ("" when the adapter
    could not tell). Such a handler's answers are never cached.
    """

    wants_local_address: bool

    def handle_action(
        self,
        action: str,
        arguments: Mapping[str, object],
        *,
        now: float | None = None,
        local: str = "",
    ) -> Mapping[str, object]:
        """As :meth:`ServiceHandler.handle_action`, with the local address."""
        ...


class CacheableHandler(ServiceHandler, Protocol):
    """A handler whose read-only actions may be answered from a cache.

    ``state_version`` must change whenever anything those actions report
    changes; ``cacheable_actions`` names the actions whose answer depends only
    on their arguments and that state.
    """

    cacheable_actions: frozenset[str]
    state_version: int


@runtime_checkable
class LeasedHandler(Protocol):
    """A handler whose state expires when unused (rule H7)."""

    def expire_idle(self, now: float) -> Sequence[object]:
        """Drop what expired by ``now``; return what was dropped (empty: nothing)."""
        ...

    def next_expiry(self) -> float | None:
        """When :meth:`expire_idle` next has work (monotonic), or None."""
        ...


@runtime_checkable
class TimedHandler(Protocol):
    """A handler with a clock of its own (rule I1): moderation windows, timed state."""

    def advance(self, now: float) -> None:
        """Do what is due by ``now`` (queue the events it causes)."""
        ...

    def next_deadline(self) -> float | None:
        """When :meth:`advance` next has work (monotonic), or None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HostedService:
    """A service this device serves: its description entry, SCPD and implementation."""

    service: Service
    scpd: ServiceDescription
    scpd_xml: bytes
    handler: ServiceHandler
    #: State variable name -> the error code for a value outside its allowed list/range (I4).
    value_faults: Mapping[str, int] = field(default_factory=dict)
    #: Evented variable name -> how two pending values of it merge (Q4).
    event_merges: Mapping[str, Callable[[str, str], str]] = field(default_factory=dict)
    #: In-arguments the SCPD does not list are ignored, not answered 402 (I6).
    ignore_extra_arguments: bool = False
    #: Other service types SOAPACTION may name for this service (I7), e.g. Sonos's
    #: Queue, which clients address as ``urn:schemas-upnp-org:service:Queue:1``.
    type_aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingAction:
    """An action whose handler answered with an awaitable (rule I2).

    The adapter awaits :attr:`awaitable` until :attr:`deadline` (monotonic, the
    ``now`` of :meth:`DeviceCore.handle` plus the action timeout) and passes
    the outcome to :meth:`DeviceCore.finish_action`.
    """

    awaitable: Awaitable[Mapping[str, object]]
    deadline: float
    operation: str
    hosted: HostedService
    action: Action


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """A static (or generated) document served on GET/HEAD."""

    content_type: str
    body: bytes | Callable[[], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """A document made for each GET/HEAD, in the media type the request prefers (H11).

    ``render(media_type, now)`` returns the body in one of ``media_types``
    (the first is the default, for requests without a usable Accept).
    """

    media_types: tuple[str, ...]
    render: Callable[[str, float], bytes]
    #: Sent with every form (a Content-Security-Policy, …).
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.media_types:
            raise ValueError("a page needs at least one media type")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResult:
    """The answer to one request and what else it asks of the adapter (rule T3).

    ``operation`` names what was handled (an action, ``SUBSCRIBE``, ``RENEW``,
    ``UNSUBSCRIBE``; "" for documents) for the access log; it asks for nothing.
    """

    response: HttpResponse
    operation: str = ""
    #: Carried out in order, after ``response`` is written.
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class _ResourceRoute:
    resource: Resource | Page
    allow: str = "GET, HEAD"


@dataclass(frozen=True, slots=True)
class _ControlRoute:
    service: HostedService
    #: The service type without its version, and the version (I7 compares them).
    base: tuple[str, int] = ("", 0)
    #: Other service types (without version) SOAPACTION may name (I7).
    aliases: frozenset[str] = frozenset()
    #: Actions answered from the answer cache.
    cacheable: frozenset[str] = frozenset()
    #: The handler, when it is told the local address (its answers are never cached).
    addressed: AddressedHandler | None = None
    allow: str = "POST"


@dataclass(frozen=True, slots=True)
class _EventRoute:
    service: HostedService
    table: SubscriberTable
    allow: str = "SUBSCRIBE, UNSUBSCRIBE"


_Route = _ResourceRoute | _ControlRoute | _EventRoute


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceLimits:
    """Request limits and checks of a device."""

    max_body: int = MAX_REQUEST_BYTES
    check_host: bool = True
    #: Host header values accepted besides the listening ip:port (e.g. a name).
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    #: Seconds an async action may take before it is answered 501 (I2); below the
    #: 30 s a control point waits for an answer (UDA 1.1 §3.2.2).
    action_timeout: float = 25.0

    def __post_init__(self) -> None:
        if not self.action_timeout > 0:
            raise ValueError("action_timeout must be positive")


@lru_cache(maxsize=64)
def _service_base(service_type: str) -> tuple[str, int]:
    head, _, version_text = service_type.rpartition(":")
    version = decimal(version_text)
    return (head, version) if version is not None else (service_type, 0)


class DeviceCore:
    """Route requests for one root device and its hosted services (rules H1-H7, T1-T3).

    Besides :meth:`handle`, the adapter owes the core three things: carry out
    each result's effects after its response is written, report every
    NOTIFY's outcome with :meth:`notify_done`, and call :meth:`handle_timer`
    at :meth:`next_deadline` (asking again after every call into the core).
    """

    def __init__(
        self,
        description: DeviceDescription,
        services: Sequence[HostedService],
        *,
        description_path: str = "/xml/device_description.xml",
        description_xml: bytes | None = None,
        resources: Mapping[str, Resource | Page] | None = None,
        limits: DeviceLimits | None = None,
        gena_policy: GenaPolicy | None = None,
        delivery: DeliveryPolicy | None = None,
        server_header: str = "",
        gena_headers: tuple[tuple[str, str], ...] = (),
        fast_paths: bool = True,
        activity: ActivityLog | None = None,
    ) -> None:
        self.description = description
        #: What the device evented lately, for a status page (None: nothing is recorded).
        self.activity = activity
        self.limits = limits or DeviceLimits()
        #: Every fast path of this device (M1); ``fast_paths=False`` turns them off.
        self.memo = Memo(enabled=fast_paths)
        self.server_header = server_header  # also builds the SOAP response headers
        self.gena_headers = gena_headers
        self._services = tuple(services)
        # Checked once: isinstance against a runtime Protocol is slow, and handlers are fixed.
        self._leased: tuple[tuple[HostedService, LeasedHandler], ...] = tuple(
            (hosted, hosted.handler)
            for hosted in self._services
            if isinstance(hosted.handler, LeasedHandler)
        )
        self._timed: dict[int, TimedHandler] = {
            id(hosted): hosted.handler
            for hosted in self._services
            if isinstance(hosted.handler, TimedHandler)
        }
        leased_by_id = {id(hosted): handler for hosted, handler in self._leased}
        #: Per hosted service with a clock or leases: (lease, clock) deadline sources.
        self._clocks: dict[int, tuple[LeasedHandler | None, TimedHandler | None]] = {
            key: (leased_by_id.get(key), self._timed.get(key))
            for key in {*leased_by_id, *self._timed}
        }
        #: Handlers told the address a request arrived on (their answers differ per address).
        self._addressed: dict[int, AddressedHandler] = {
            id(h): cast("AddressedHandler", h.handler)
            for h in services
            if getattr(h.handler, "wants_local_address", False)
        }
        self._cacheable = {
            id(h): frozenset(getattr(h.handler, "cacheable_actions", ()))
            for h in services
            if id(h) not in self._addressed
        }
        self._versions = {id(h): _service_base(h.service.service_type) for h in services}
        self._by_id = {id(h): h for h in services}
        #: The last request answered from the answer cache, and its key (M5).
        self._last_hit: tuple[HttpRequest, ReadKey] | None = None
        self._aliases = {
            id(h): frozenset(_service_base(alias)[0] for alias in h.type_aliases)
            for h in services
            if h.type_aliases
        }
        self._routes: dict[str, _Route] = {}
        self._tables: dict[str, SubscriberTable] = {}
        self._handler_paths: dict[int, str] = {}
        self._delivery = NotifyScheduler(self._tables, delivery or DeliveryPolicy())
        self._deadline: float | None = None
        # next_deadline() is remembered in parts: an action moves only its own
        # service's part (and the pacing part if it queued events), the rest stays.
        self._deadline_stale = True
        self._shared_deadline: float | None = None  # tables and delivery
        self._shared_stale = True
        # The pacing part alone (queued events move it; subscription expiry does not).
        self._tables_deadline: float | None = None
        self._pacing_stale = True
        self._service_deadlines: dict[int, float | None] = {}
        self._stale_services: set[int] = set()
        document = description_xml
        if document is None:
            document = render_device_description(description)
        self._add(description_path, _ResourceRoute(_xml(document)))
        for hosted in self._services:
            self._add_service(hosted, gena_policy)
        for path, resource in (resources or {}).items():
            self._add(path, _ResourceRoute(resource))

    def _add_service(self, hosted: HostedService, gena_policy: GenaPolicy | None) -> None:
        svc = hosted.service
        existing = self._routes.get(svc.scpd_url)
        if existing is None:
            self._add(svc.scpd_url, _ResourceRoute(_xml(hosted.scpd_xml)))
        elif (
            not isinstance(existing, _ResourceRoute)
            or not isinstance(existing.resource, Resource)
            or existing.resource.body != hosted.scpd_xml
        ):
            raise ValueError(f"two different documents at {svc.scpd_url}")
        key = id(hosted)
        self._add(
            svc.control_url,
            _ControlRoute(
                hosted,
                base=self._versions[key],
                aliases=self._aliases.get(key, frozenset()),
                cacheable=self._cacheable.get(key, frozenset()),
                addressed=self._addressed.get(key),
            ),
        )
        table = SubscriberTable(gena_policy, merges=hosted.event_merges)
        self._tables[svc.event_sub_url] = table
        self._handler_paths[id(hosted.handler)] = svc.event_sub_url
        self._add(svc.event_sub_url, _EventRoute(hosted, table))

    def _add(self, path: str, route: _Route) -> None:
        if not path.startswith("/"):
            raise ValueError(f"hosted URLs must be absolute paths, not {path!r}")
        if path in self._routes:
            raise ValueError(f"two routes for {path}")
        self._routes[path] = route

    # ------------------------------------------------------------------ access

    @property
    def server_header(self) -> str:
        """The ``Server`` header of every response ("" for none)."""
        return self._server_header

    @server_header.setter
    def server_header(self, value: str) -> None:
        self._server_header = value
        self._soap_headers = self._headers(("Content-Type", CONTENT_TYPE), ("EXT", ""))
        self.memo.forget_answers()  # invalidates: cached answers carry the old header

    @property
    def services(self) -> tuple[HostedService, ...]:
        """The hosted services, in description order."""
        return self._services

    def paths(self) -> list[str]:
        """Every path this device answers."""
        return list(self._routes)

    def table(self, event_path: str) -> SubscriberTable | None:
        """The subscriber table at ``event_path``, or None."""
        return self._tables.get(event_path)

    def tables(self) -> dict[str, SubscriberTable]:
        """Subscriber tables by event path."""
        return dict(self._tables)

    def table_for(self, handler: ServiceHandler) -> tuple[str, SubscriberTable]:
        """(event path, table) of the service implemented by ``handler``."""
        path = self._handler_paths[id(handler)]
        return path, self._tables[path]

    @property
    def deliveries(self) -> NotifyScheduler:
        """The NOTIFY scheduler (T2): what is in flight, resting or queued."""
        return self._delivery

    def set_networks(self, networks: Iterable[Network]) -> None:
        """Give every subscriber table the networks the device is served on.

        They decide which CALLBACK addresses ``callback_scope="subnet"`` accepts
        (:mod:`upnpcm.core.gena` rule U3); the adapter calls this once bound.
        """
        nets = tuple(networks)
        for table in self._tables.values():
            table.set_networks(nets)

    # ---------------------------------------------------------------- requests

    def handle(
        self, request: HttpRequest, *, now: float = 0.0, entropy: int = 0
    ) -> DeviceResult | PendingAction:
        """Answer one request (rules H1-H7), or hand back an action to await (I2).

        Args:
            request: the request, body fully read (the adapter enforces
                ``limits.max_body`` from Content-Length before reading).
            now: monotonic seconds (GENA expiry, handler leases, pacing).
            entropy: 128 random bits (a new SID, if this is a SUBSCRIBE).
        """
        method = request.method.upper()
        if method not in KNOWN_METHODS:
            return DeviceResult(response=self._plain(501, "method not implemented"))
        if self.limits.check_host:
            problem = self.memo.host_problem(request, self._host_problem)
            if problem:
                return DeviceResult(response=self._plain(400, problem))
        route = self._routes.get(request.path)
        if route is None:
            return DeviceResult(response=self._plain(404, "no such resource"))
        if isinstance(route, _ResourceRoute):
            if method not in ("GET", "HEAD"):
                return self._not_allowed(route)
            if isinstance(route.resource, Page):
                return self._page(route.resource, request, now)
            body = route.resource.body
            return DeviceResult(
                response=HttpResponse(
                    status=200,
                    headers=self._headers(("Content-Type", route.resource.content_type)),
                    body=body() if callable(body) else body,
                )
            )
        if isinstance(route, _ControlRoute):
            if method != "POST":
                return self._not_allowed(route)
            return self._control(route, request, now)
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return self._not_allowed(route)
        self._deadline_stale = True  # invalidates: next_deadline (subscriptions)
        return self._event(request, route.table, route.service, now=now, entropy=entropy)

    def recall(self, raw: bytes, local: str, local_port: int) -> tuple[HttpResponse, bool] | None:
        """The answer to the request whose bytes are ``raw``, without reading it (M5), or None.

        Only a request whose bytes were handed to :meth:`remember` after it
        was answered from the answer cache is known, and only while that
        answer is valid; the second value is the keep-alive verdict that was
        handed over with it. None means: parse it and call :meth:`handle`.
        """
        found = self.memo.recall((raw, local, local_port))
        if found is None:
            return None
        key, keep_alive = found
        version = getattr(self._by_id[key[0]].handler, "state_version", -1)
        hit = self.memo.answer(key, version)
        return None if hit is None else (hit, keep_alive)

    def remember(self, raw: bytes, request: HttpRequest, keep_alive: bool) -> bool:
        """``raw`` are exactly the bytes of ``request``, just answered (M5).

        If that answer came from the answer cache, the same bytes arriving at
        the same address and port are answered by :meth:`recall` from then on
        (with ``keep_alive``, the adapter's verdict on them), while the answer
        stays valid. The adapter calls it only for a request that came whole
        in one read and needed nothing else from it (no ``100 Continue``).
        Returns whether the bytes were kept.
        """
        last, self._last_hit = self._last_hit, None
        if last is not None and last[0] is request and request.method == "POST":
            return self.memo.keep_raw((raw, request.local, request.local_port), last[1], keep_alive)
        return False

    def forget_subscriptions(self) -> list[Effect]:
        """The device restarts (T5): every subscription is gone, renewals get 412 (G3)."""
        self._deadline_stale = True  # invalidates: next_deadline (subscriptions)
        effects: list[Effect] = []
        for path, table in self._tables.items():
            for sid in table.clear():
                self._delivery.forget(path, sid)
                effects.append(SubscriptionEnded(path, sid, "forgotten"))
        return effects

    def stop_delivery(self) -> None:
        """The adapter stopped sending: what was in flight is lost (T5; SEQ shows the gap, E3)."""
        self._deadline_stale = True  # invalidates: next_deadline (pacing, retries)
        self._delivery.abandon()

    def flush_events(self, now: float) -> list[Effect]:
        """Queue the changes made outside a request (API calls); return what to send."""
        effects: list[Effect] = []
        for hosted in self._services:
            effects.extend(self._drain(hosted, now))
        return effects

    def finish_action(
        self,
        pending: PendingAction,
        now: float,
        *,
        outputs: Mapping[str, object] | None = None,
        error: BaseException | None = None,
        timed_out: bool = False,
    ) -> DeviceResult:
        """The answer to an awaited action (I2): its ``outputs``, its ``error``, or a timeout.

        ``timed_out`` means the deadline passed first (the adapter cancelled
        the awaitable): fault 501. An error that is a :class:`UPnPError` is
        its fault; any other is fault 501 with a :class:`ServiceFailed`.
        """
        hosted, operation = pending.hosted, pending.operation
        if timed_out:
            seconds = f"{self.limits.action_timeout:g}"
            result = self._fault(
                UPnPError(501, f"Action Failed: no answer within {seconds} s"), operation=operation
            )
        elif error is not None:
            result = self._failure(error, operation)
        else:
            result = self._answer(hosted, pending.action, outputs or {}, operation)
        return self._with_events(result, hosted, now)

    def notify_done(self, path: str, sid: str, status: int | None, now: float) -> list[Effect]:
        """The outcome of a :class:`SendNotify`: the last status, None if none answered (E4)."""
        table = self._tables.get(path) if self.activity is not None else None
        subscriber = table.get(sid) if table is not None else None
        if subscriber is not None and self.activity is not None:
            self.activity.notified(now, path, sid, subscriber.seq, status)
        effects = self._delivery.done(path, sid, status, now)
        self._pacing_stale = True  # invalidates: next_deadline (pacing)
        if effects and any(type(effect) is SubscriptionEnded for effect in effects):
            self._shared_stale = True  # invalidates: next_deadline (a dropped subscription)
            if self.activity is not None:
                peer = subscriber.peer if subscriber is not None else ""
                for effect in effects:
                    if isinstance(effect, SubscriptionEnded):
                        self.activity.subscription(now, "dropped", path, effect.sid, peer)
        return effects

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` next has work (monotonic), or None (T1)."""
        if self._deadline_stale:
            self._deadline_stale = False
            self._shared_stale = True
            self._stale_services.update(self._clocks)
        elif not (self._shared_stale or self._pacing_stale or self._stale_services):
            return self._deadline
        if self._shared_stale:
            self._shared_stale = False
            self._pacing_stale = True
            deadlines = [table.next_deadline() for table in self._tables.values()]
            self._tables_deadline = min((d for d in deadlines if d is not None), default=None)
        if self._pacing_stale:
            self._pacing_stale = False
            parts = (self._delivery.next_deadline(), self._tables_deadline)
            self._shared_deadline = min((d for d in parts if d is not None), default=None)
        for key in self._stale_services:
            lease, clock = self._clocks[key]
            due = lease.next_expiry() if lease is not None else None
            ticks = clock.next_deadline() if clock is not None else None
            if due is None or (ticks is not None and ticks < due):
                due = ticks
            self._service_deadlines[key] = due
        self._stale_services.clear()
        best = self._shared_deadline
        for due in self._service_deadlines.values():
            if due is not None and (best is None or due < best):
                best = due
        self._deadline = best
        return best

    def handle_timer(self, now: float) -> list[Effect]:
        """Do what is due by ``now``: subscription expiry, idle leases, pacing (T1)."""
        self._deadline_stale = True  # invalidates: next_deadline (done work)
        effects: list[Effect] = []
        for path, table in self._tables.items():
            table.expire(now)
            effects.extend(self._ended(path, table, now))
        for hosted, handler in self._leased:
            dropped = handler.expire_idle(now)
            if dropped:
                effects.append(LeasesExpired(hosted.service.event_sub_url, tuple(dropped)))
                effects.extend(self._drain(hosted, now))
        for hosted in self._services:
            timed = self._timed.get(id(hosted))
            if timed is not None:
                due = timed.next_deadline()
                if due is not None and due <= now:
                    effects.extend(self._drain(hosted, now))  # I1: advances it first
        effects.extend(self._delivery.handle_timer(now))
        return effects

    # ---------------------------------------------------------------- internals

    def _headers(self, *pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        if self._server_header:
            return (*pairs, ("Server", self._server_header))
        return pairs

    def _page(self, page: Page, request: HttpRequest, now: float) -> DeviceResult:
        """A page in the media type Accept prefers (H11)."""
        media_type = preferred_media_type(request.headers.get("Accept"), page.media_types)
        headers = self._headers(
            ("Content-Type", media_type),
            ("Vary", "Accept"),
            ("Cache-Control", "no-store"),
            *page.headers,
        )
        return DeviceResult(
            response=HttpResponse(status=200, headers=headers, body=page.render(media_type, now))
        )

    def _plain(self, status: int, text: str, *, allow: str | None = None) -> HttpResponse:
        headers: list[tuple[str, str]] = [("Content-Type", "text/plain; charset=utf-8")]
        if allow is not None:
            headers.append(("Allow", allow))
        return HttpResponse(
            status=status, headers=self._headers(*headers), body=f"{status} {text}\n".encode()
        )

    def _not_allowed(self, route: _Route) -> DeviceResult:
        return DeviceResult(response=self._plain(405, "method not allowed", allow=route.allow))

    def _host_problem(self, request: HttpRequest) -> str:
        try:
            host = request.headers.get_single("Host")
        except RemoteProtocolError:
            return "duplicate Host header"
        if host is None:
            return "missing Host header"
        if not request.local:
            return ""  # the adapter could not tell the local address: nothing to compare
        key = (host, request.local, request.local_port)
        return self.memo.host_verdict(key, lambda: self._judge_host(*key))

    def _judge_host(self, host: str, local: str, local_port: int) -> str:
        if host.strip() in self.limits.allowed_hosts:
            return ""
        try:
            ip, port = parse_host_header(host)
        except RemoteProtocolError as exc:
            return str(exc)
        if ip != local or (port if port is not None else 80) != local_port:
            return "Host header does not name this device's address and port"
        return ""

    def _fault(
        self, error: UPnPError, *, operation: str, cause: BaseException | None = None
    ) -> DeviceResult:
        try:
            body = build_fault(error.code, error.description or error.meaning)
        except LocalProtocolError:
            # The description echoed request text XML cannot carry (e.g. a NUL).
            body = build_fault(error.code, error.meaning)
        return DeviceResult(
            response=HttpResponse(status=500, headers=self._soap_headers, body=body),
            operation=operation,
            effects=() if cause is None else (ServiceFailed(operation, cause),),
        )

    def _answer(
        self, hosted: HostedService, action: Action, outputs: Mapping[str, object], operation: str
    ) -> DeviceResult:
        """The 200 answer carrying ``outputs``; out-arguments that do not fit are 501 (H5)."""
        if not outputs and not action.out_arguments:  # nothing to say: the same bytes (M1)
            response = self.memo.empty_answer(
                (id(hosted), action.name), hosted, action, build=self._response
            )
            return DeviceResult(response=response, operation=operation)
        plan = self.memo.out_plan(
            (id(hosted), action.name),
            hosted.scpd,
            action,
            hosted.service.service_type,
            derive=OutPlan.derive,
        )
        body = plan.body(outputs) if plan is not None else None
        if body is not None:  # the bytes _response would build (M1)
            response = HttpResponse(status=200, headers=self._soap_headers, body=body)
            return DeviceResult(response=response, operation=operation)
        try:
            pairs = encode_arguments(hosted.scpd, action.out_arguments, outputs)
        except Exception as exc:  # the service answered values its SCPD does not allow
            return self._fault(UPnPError(501, _GENERIC_FAILURE), operation=operation, cause=exc)
        return DeviceResult(response=self._response(hosted, action, pairs), operation=operation)

    def _response(
        self, hosted: HostedService, action: Action, pairs: Sequence[tuple[str, str]] = ()
    ) -> HttpResponse:
        body = build_action_response(hosted.service.service_type, action.name, list(pairs))
        return HttpResponse(status=200, headers=self._soap_headers, body=body)

    def _failure(self, error: BaseException, operation: str) -> DeviceResult:
        """A service's exception as its answer: its own fault, or 501 (H5)."""
        if isinstance(error, UPnPError):
            return self._fault(error, operation=operation)
        return self._fault(UPnPError(501, _GENERIC_FAILURE), operation=operation, cause=error)

    def _with_events(self, result: DeviceResult, hosted: HostedService, now: float) -> DeviceResult:
        """``result`` with the effects of the changes its action made (I3)."""
        drained = self._drain(hosted, now)
        if not drained:
            return result
        return DeviceResult(
            response=result.response,
            operation=result.operation,
            effects=(*result.effects, *drained),
        )

    def _drain(self, hosted: HostedService, now: float) -> list[Effect]:
        # Every path that ran the service (an action, an awaited action, a flush, a
        # timer) drains it: its leases or clock may have moved.
        key = id(hosted)
        if key in self._clocks:
            self._stale_services.add(key)  # invalidates: next_deadline (its leases, clock)
        if self._timed:
            timed = self._timed.get(key)
            if timed is not None:
                timed.advance(now)  # I1
        events = hosted.handler.events()
        if not events:
            return []
        path = hosted.service.event_sub_url
        table = self._tables[path]
        activity = self.activity
        sids: dict[str, None] = {}
        for event in events:
            queued = table.queue_changes(event.changes)
            if queued:
                sids.update(dict.fromkeys(queued))
            if activity is not None:
                activity.evented(now, path, event.changes, len(queued))
        if not sids:
            return []  # nobody subscribed: nothing to pace
        self._pacing_stale = True  # invalidates: next_deadline (pacing of the events queued)
        effects: list[Effect] = []
        for sid in sids:
            effects.extend(self._delivery.wake(path, sid, now))
        return effects

    def _ended(self, path: str, table: SubscriberTable, now: float) -> list[Effect]:
        """Subscriptions the table dropped by expiry, forgotten by the scheduler too."""
        effects: list[Effect] = []
        for sid in table.drain_expired():
            self._delivery.forget(path, sid)
            effects.append(SubscriptionEnded(path, sid, "expired"))
            if self.activity is not None:
                self.activity.subscription(now, "expired", path, sid, "")
        return effects

    def _control(
        self, route: _ControlRoute, request: HttpRequest, now: float
    ) -> DeviceResult | PendingAction:
        hosted = route.service
        try:  # H10: two Content-Types or SOAPACTIONs that differ are 400
            xml, soapaction = self.memo.control_head(request.headers, request.peer, _control_head)
        except RemoteProtocolError as exc:
            return DeviceResult(response=self._plain(400, str(exc)))
        if not xml:
            return DeviceResult(response=self._plain(415, "Content-Type must be text/xml"))
        if len(request.body) > self.limits.max_body:
            return DeviceResult(response=self._plain(413, "request body too large"))
        try:
            call = self.memo.parse_action_request(
                soapaction, request.body, max_bytes=self.limits.max_body
            )
        except RemoteProtocolError as exc:
            return DeviceResult(response=self._plain(exc.http_status, str(exc)))
        except UPnPError as exc:
            return self._fault(exc, operation="?")
        operation = call.action
        ours, our_version = route.base
        theirs, their_version = _service_base(call.service_type)
        if (
            theirs != ours and theirs not in route.aliases  # I7
        ) or not 0 < their_version <= our_version:
            return self._fault(
                UPnPError(401, f"{call.service_type} is not served here"), operation=operation
            )
        action = hosted.scpd.action(call.action)
        if action is None:
            return self._fault(UPnPError(401, f"no action {call.action}"), operation=operation)
        key: ReadKey = (id(hosted), call.action, call.arguments)
        version = -1
        cacheable = call.action in route.cacheable
        if cacheable:
            version = getattr(hosted.handler, "state_version", -1)
            hit = self.memo.answer(key, version)
            if hit is not None:
                self._last_hit = (request, key)
                return DeviceResult(response=hit, operation=operation)
        try:
            arguments = self._decode(hosted, action, key)
        except UPnPError as exc:
            return self._fault(exc, operation=operation)
        outputs: Mapping[str, object] | Awaitable[Mapping[str, object]]
        try:
            addressed = route.addressed
            if addressed is not None:
                outputs = addressed.handle_action(
                    call.action, arguments, now=now, local=request.local
                )
            else:
                outputs = hosted.handler.handle_action(call.action, arguments, now=now)
        except Exception as exc:
            return self._with_events(self._failure(exc, operation), hosted, now)
        if type(outputs) is not dict and inspect.isawaitable(outputs):
            return PendingAction(
                awaitable=outputs,
                deadline=now + self.limits.action_timeout,
                operation=operation,
                hosted=hosted,
                action=action,
            )
        result = self._answer(hosted, action, outputs, operation)
        if cacheable and result.response.status == 200:
            self.memo.keep_answer(key, version, result.response)
        return self._with_events(result, hosted, now)

    def _decode(self, hosted: HostedService, action: Action, key: ReadKey) -> dict[str, UPnPValue]:
        # Control points repeat the same arguments (PrepareForConnection with the same
        # protocolInfo, polling with the same InstanceID): each distinct set of
        # arguments is checked once (M1). Only accepted sets are kept; the handler gets a copy.
        values = self.memo.decoded(
            key,
            lambda: decode_in_arguments(
                hosted.scpd,
                action,
                key[2],
                value_faults=hosted.value_faults,
                ignore_extra=hosted.ignore_extra_arguments,
            ),
        )
        return dict(values)

    def _event(
        self,
        request: HttpRequest,
        table: SubscriberTable,
        hosted: HostedService,
        *,
        now: float,
        entropy: int,
    ) -> DeviceResult:
        path = hosted.service.event_sub_url
        method = request.method.upper()
        plain = self._headers(*self.gena_headers)
        try:
            if method == "UNSUBSCRIBE":
                sid = table.unsubscribe(request.headers, now=now)
                self._delivery.forget(path, sid)
                if self.activity is not None:
                    self.activity.subscription(now, "unsubscribe", path, sid, request.peer)
                return DeviceResult(
                    response=HttpResponse(status=200, headers=plain),
                    operation=method,
                    effects=(
                        SubscriptionEnded(path, sid, "unsubscribed"),
                        *self._ended(path, table, now),
                    ),
                )
            grant = table.subscribe(
                request.headers,
                peer=request.peer,
                own=(request.local, request.local_port),
                now=now,
                entropy=entropy,
                evented_state=hosted.handler.evented_state(),
            )
        except SubscriptionError as exc:
            return DeviceResult(
                response=HttpResponse(status=exc.http_status, headers=plain),
                operation=method,
                effects=tuple(self._ended(path, table, now)),
            )
        effects = self._ended(path, table, now)
        if self.activity is not None:
            kind: Literal["renew", "subscribe"] = "renew" if grant.renewal else "subscribe"
            self.activity.subscription(now, kind, path, grant.sid, request.peer)
        if not grant.renewal:
            effects += self._delivery.wake(path, grant.sid, now)  # E1: the initial event
        return DeviceResult(
            response=HttpResponse(status=200, headers=(*grant.headers(), *plain)),
            operation="RENEW" if grant.renewal else "SUBSCRIBE",
            effects=tuple(effects),
        )


def _control_head(headers: Headers) -> tuple[bool, str | None]:
    """(Content-Type names XML, the SOAPACTION) of a control request (H4, H10).

    Raises:
        RemoteProtocolError: two Content-Types or SOAPACTIONs that differ (400).
    """
    content_type = headers.get_agreed("Content-Type")
    return is_xml_media_type(content_type), headers.get_agreed("SOAPACTION")


def _xml(document: bytes) -> Resource:
    return Resource(content_type=XML_CONTENT_TYPE, body=document)
