"""GENA, control-point side: subscriptions that heal themselves (UDA 1.1 §4), sans-I/O.

Theory of operation
===================

A :class:`ClientSubscription` is one subscription's state machine. The adapter
asks it what to send (:meth:`~ClientSubscription.poll`), when to ask again
(:meth:`~ClientSubscription.next_deadline`), and feeds back the replies
(:meth:`~ClientSubscription.on_reply`) and the NOTIFYs routed to it
(:meth:`~ClientSubscription.on_notify`). A :class:`NotifyRouter` checks every
incoming NOTIFY and routes it by SID. Time and randomness come from the caller.

States::

    SUBSCRIBING --200--> ACTIVE --renew due--> RENEWING --200--> ACTIVE
         |                 |                      |--412--> SUBSCRIBING (at once)
         |                 |--SEQ gap / reboot--> SUBSCRIBING (fresh SEQ 0; C5 pacing)
         +--failure--> WAITING --backoff over--> SUBSCRIBING / RENEWING
    any --close()--> CLOSING --reply or failure--> CLOSED

Rules
-----
C1  Renewal is due at 45-55 % of the *granted* TIMEOUT (not the requested one).
C2  A 412 to a renewal means the device forgot us (reboot, expiry): a fresh
    SUBSCRIBE goes out at once.
C3  Any other failure waits 1 s, then 2, 4 … at most 60 s (each with jitter,
    never less than half the step): never a hot loop. While the old SID has
    not expired, the retry is a renewal; after that, a fresh SUBSCRIBE.
C4  SEQ must go 0, 1, 2, …; after 4294967295 comes 1, and ``old >= 2**31-1,
    new == 1`` is accepted as the wrap of devices with signed counters. A
    repeated SEQ is ignored. The first NOTIFY of a SID should carry SEQ 0;
    one that does not (devices that count from 1, or one counter for all
    SIDs) is accepted as the start, since a new SUBSCRIBE would get the same.
    Any later jump is a gap: the NOTIFY is still delivered, then the
    subscription starts over to get a SEQ-0 state.
C5  A BOOTID.UPNP.ORG change, or a device seen again after its byebye, also
    starts over (:meth:`~ClientSubscription.restart`). Restarts are paced:
    the first goes out at once, each further one without an in-order NOTIFY
    or a granted renewal in between waits as in C3 (never a hot loop). A
    restart while a renewal is in flight discards that renewal's answer.
    :class:`RebootWatch` makes that decision from what SSDP says (UDA 1.1
    §1.2.2 BOOTID.UPNP.ORG, §1.2.3 ssdp:byebye); it keeps state only for
    the UDNs it is told to watch.
C6  :meth:`~ClientSubscription.close` sends UNSUBSCRIBE when there is a SID;
    any answer, 412 included, ends it. Closed before any SID was granted
    (the first SUBSCRIBE failed or is unanswered), it ends with no request.

NOTIFY checks (:class:`NotifyRouter`, UDA 1.1 §4.3.2)
----------------------------------------------------------------------------
N1  SID missing → 412; NT or NTS missing → 400; NT not ``upnp:event`` or NTS
    not ``upnp:propchange`` → 412; SEQ missing or not a number → 400.
N2  A SID we do not know → 412, except SEQ 0 while a SUBSCRIBE is in flight:
    that NOTIFY may beat the SUBSCRIBE answer, so it is held (bounded) and
    replayed once the SID is known.
N3  Routing is by SID alone, never by source address: multi-homed devices
    (and Sonos) send NOTIFY from another address than their event URL's, and
    a SID is the device's unguessable token (UDA 1.1 §4.1.2).
N4  A body that is not a propertyset (or holds a DTD) → 400.
G6  A SUBSCRIBE's 200 answer carries a SID (``uuid:…``) and a TIMEOUT
    ``Second-<seconds>`` (:func:`grant_problems`, for a conformance checker:
    :meth:`ClientSubscription.on_reply` itself stays tolerant).
B3  A body over ``gena.MAX_NOTIFY_BYTES`` (1 MiB) is refused with 413 before it is
    read whole (RFC 9110 §15.5.14); the parser and the listener share that one limit.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

from upnpcm.core.gena import SEQ_MAX, format_timeout, parse_propertyset, parse_timeout
from upnpcm.core.http import Headers, HttpRequest, decimal
from upnpcm.errors import RemoteProtocolError, SubscriptionError

__all__ = [
    "ClientSubscription",
    "EventReceived",
    "GenaRequest",
    "NotifyMessage",
    "NotifyRouter",
    "RebootWatch",
    "Resubscribing",
    "RetryScheduled",
    "Subscribed",
    "SubscriptionEvent",
    "SubscriptionState",
    "Unsubscribed",
    "grant_problems",
    "read_notify",
]

#: SEQ values at or above this may wrap to 1 (devices with signed 32-bit counters).
SIGNED_WRAP: Final = 2**31 - 1
MAX_BACKOFF: Final = 60.0


class SubscriptionState(Enum):
    """Where a subscription is in its life."""

    #: A SUBSCRIBE (new) is due or in flight.
    SUBSCRIBING = "subscribing"
    #: Subscribed; a renewal is scheduled.
    ACTIVE = "active"
    #: A renewal is in flight.
    RENEWING = "renewing"
    #: A request failed; retrying after a backoff.
    WAITING = "waiting"
    #: UNSUBSCRIBE due or in flight.
    CLOSING = "closing"
    #: Done.
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class GenaRequest:
    """A request to send to the event URL."""

    method: Literal["SUBSCRIBE", "UNSUBSCRIBE"]
    headers: Mapping[str, str]
    purpose: Literal["subscribe", "renew", "unsubscribe"]


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A SUBSCRIBE or renewal was granted."""

    sid: str
    timeout: int
    renewal: bool


@dataclass(frozen=True, slots=True)
class EventReceived:
    """A NOTIFY with the changed variables (all of them when ``seq`` is 0)."""

    sid: str
    seq: int
    changes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Resubscribing:
    """The subscription starts over (C2, C4, C5); ``reason`` says why.

    ``old_sid`` is the SID given up, which the adapter may UNSUBSCRIBE (best
    effort) so that it does not hold one of the device's few slots; the new
    SUBSCRIBE goes out after ``delay`` seconds (C5 pacing).
    """

    reason: str
    old_sid: str | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A request failed; the next attempt is ``delay`` seconds away (C3)."""

    reason: str
    delay: float


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """The subscription ended (C6)."""

    sid: str | None


SubscriptionEvent = Subscribed | EventReceived | Resubscribing | RetryScheduled | Unsubscribed


class ClientSubscription:
    """One subscription to one event URL (rules C1-C6)."""

    def __init__(
        self,
        *,
        event_url: str,
        callback_url: str,
        requested_timeout: int = 1800,
        rng: random.Random,
        now: float,
    ) -> None:
        self.event_url = event_url
        self.callback_url = callback_url
        self.requested_timeout = requested_timeout
        self._rng = rng
        self.state = SubscriptionState.SUBSCRIBING
        self.sid: str | None = None
        self.timeout = 0
        self.seq: int | None = None
        self.expires_at = 0.0
        self._due: float | None = now
        self._in_flight: GenaRequest | None = None
        self._failures = 0
        self._restarts = 0
        self._restart_at = now

    # -------------------------------------------------------------- requests

    @property
    def in_flight(self) -> GenaRequest | None:
        """The request sent and not yet answered."""
        return self._in_flight

    def next_deadline(self) -> float | None:
        """When :meth:`poll` will have something to send, or None."""
        return None if self._in_flight is not None else self._due

    def poll(self, now: float) -> GenaRequest | None:
        """The request to send now, if one is due (it is then in flight)."""
        if self._in_flight is not None or self._due is None or now < self._due:
            return None
        request: GenaRequest | None
        if self.state is SubscriptionState.CLOSING:
            request = GenaRequest(
                method="UNSUBSCRIBE", headers={"SID": self.sid or ""}, purpose="unsubscribe"
            )
        elif self.state in (SubscriptionState.ACTIVE, SubscriptionState.RENEWING) or (
            self.state is SubscriptionState.WAITING
            and self.sid is not None
            and now < self.expires_at
        ):
            self.state = SubscriptionState.RENEWING
            request = GenaRequest(
                method="SUBSCRIBE",
                headers={"SID": self.sid or "", "TIMEOUT": format_timeout(self.requested_timeout)},
                purpose="renew",
            )
        elif self.state is SubscriptionState.CLOSED:
            request = None
        else:
            self.state = SubscriptionState.SUBSCRIBING
            self.sid = None
            self.seq = None
            request = GenaRequest(
                method="SUBSCRIBE",
                headers={
                    "CALLBACK": f"<{self.callback_url}>",
                    "NT": "upnp:event",
                    "TIMEOUT": format_timeout(self.requested_timeout),
                },
                purpose="subscribe",
            )
        self._in_flight = request
        self._due = None
        return request

    def on_reply(self, status: int | None, headers: Headers, now: float) -> list[SubscriptionEvent]:
        """Feed the answer to the request in flight (``status`` None: it failed to send)."""
        request, self._in_flight = self._in_flight, None
        if request is None:
            return []
        if request.purpose == "unsubscribe":
            sid, self.sid = self.sid, None
            self.state = SubscriptionState.CLOSED
            return [Unsubscribed(sid)]
        if self.state is SubscriptionState.CLOSING:  # close() was called meanwhile
            if status == 200 and headers.get("SID"):
                self.sid = (headers.get("SID") or "").strip()
            if not self.sid:  # nothing was granted: nothing to UNSUBSCRIBE
                self.sid = None
                self.state = SubscriptionState.CLOSED
                return [Unsubscribed(None)]
            self._due = now
            return []
        if self.state is SubscriptionState.SUBSCRIBING and request.purpose == "renew":
            # restart() came while this renewal was in flight: its answer is moot.
            self._due = max(now, self._restart_at)
            return []
        if status == 200:
            sid = (headers.get("SID") or "").strip()
            granted = parse_timeout(headers.get("TIMEOUT"))
            if request.purpose == "subscribe" and not sid:
                return self._failed("SUBSCRIBE answer without SID", now)
            if request.purpose == "renew":
                sid = sid or self.sid or ""
            timeout = granted or self.requested_timeout
            self.sid, self.timeout = sid, timeout
            self.expires_at = now + timeout
            self.state = SubscriptionState.ACTIVE
            self._failures = 0
            if request.purpose == "renew":
                self._restarts = 0
            self._due = now + timeout * self._rng.uniform(0.45, 0.55)
            return [Subscribed(sid, timeout, request.purpose == "renew")]
        if request.purpose == "renew" and status == 412:
            return self.restart("renewal refused (412): the device forgot us", now)
        reason = f"{request.method} failed" + (f" with HTTP {status}" if status is not None else "")
        return self._failed(reason, now)

    def _failed(self, reason: str, now: float) -> list[SubscriptionEvent]:
        self._failures += 1
        delay = self._backoff(self._failures)
        self.state = SubscriptionState.WAITING
        self._due = now + delay
        return [RetryScheduled(reason, delay)]

    def _backoff(self, attempt: int) -> float:
        """C3: 1, 2, 4 … 60 s for attempt 1, 2, 3 …, each jittered to 50-100 %."""
        step = min(MAX_BACKOFF, 2.0 ** (attempt - 1))
        return step * self._rng.uniform(0.5, 1.0)

    def restart(self, reason: str, now: float) -> list[SubscriptionEvent]:
        """Start over with a fresh SUBSCRIBE (C2, C4, C5): at once, unless restarts repeat."""
        if self.state in (SubscriptionState.CLOSING, SubscriptionState.CLOSED):
            return []
        old_sid = self.sid
        delay = self._backoff(self._restarts) if self._restarts else 0.0
        self._restarts += 1
        self._restart_at = now + delay
        self.state = SubscriptionState.SUBSCRIBING
        self.sid = None
        self.seq = None
        if self._in_flight is None:
            self._due = self._restart_at
        return [Resubscribing(reason, old_sid, delay)]

    def close(self, now: float) -> list[SubscriptionEvent]:
        """End the subscription (C6): UNSUBSCRIBE if there is a SID, else just stop."""
        if self.state is SubscriptionState.CLOSED:
            return []
        if self.sid is None and self._in_flight is None:
            self.state = SubscriptionState.CLOSED
            self._due = None
            return [Unsubscribed(None)]
        self.state = SubscriptionState.CLOSING
        self._due = now if self._in_flight is None else None
        return []

    # ---------------------------------------------------------------- events

    def on_notify(
        self, seq: int, changes: Mapping[str, str], now: float
    ) -> list[SubscriptionEvent]:
        """A NOTIFY for our SID (already checked by the router): apply rule C4."""
        sid = self.sid or ""
        last = self.seq
        wrapped = last is not None and _is_wrap(last, seq)
        if last is not None and not wrapped and seq <= last:
            return []  # a repeat or a stale one
        self.seq = seq
        events: list[SubscriptionEvent] = [EventReceived(sid, seq, dict(changes))]
        if last is None:
            return events  # the first one: SEQ 0, or a device's own start (C4)
        if wrapped or seq == last + 1:
            self._restarts = 0  # events flow in order: restarts are no longer repeating
            return events
        events.extend(self.restart(f"SEQ gap: expected {last + 1}, got {seq}", now))
        return events


def _is_wrap(last: int, new: int) -> bool:
    return new == 1 and last >= SIGNED_WRAP and last <= SEQ_MAX


@dataclass(slots=True)
class _Held:
    sid: str
    seq: int
    changes: dict[str, str]
    at: float


@dataclass(slots=True)
class NotifyRouter:
    """Check NOTIFYs and route them to subscriptions by SID (rules N1-N4)."""

    backlog_size: int = 32
    backlog_age: float = 10.0
    _by_sid: dict[str, ClientSubscription] = field(default_factory=dict)
    _all: list[ClientSubscription] = field(default_factory=list)
    _held: list[_Held] = field(default_factory=list)

    def add(self, sub: ClientSubscription) -> None:
        """Track ``sub`` (its SID is bound once granted)."""
        if sub not in self._all:
            self._all.append(sub)

    def remove(self, sub: ClientSubscription) -> None:
        """Stop routing to ``sub``."""
        if sub in self._all:
            self._all.remove(sub)
        for sid in [s for s, owner in self._by_sid.items() if owner is sub]:
            del self._by_sid[sid]

    def bind(self, sub: ClientSubscription, now: float) -> list[SubscriptionEvent]:
        """``sub`` has a (new) SID: route it, and replay what was held for it (N2)."""
        for sid in [s for s, owner in self._by_sid.items() if owner is sub]:
            del self._by_sid[sid]
        if sub.sid is None:
            return []
        self._by_sid[sub.sid] = sub
        events: list[SubscriptionEvent] = []
        keep: list[_Held] = []
        for held in self._held:
            if held.sid == sub.sid:
                events.extend(sub.on_notify(held.seq, held.changes, now))
            elif now - held.at < self.backlog_age:
                keep.append(held)
        self._held = keep
        return events

    def handle(
        self, request: HttpRequest, now: float
    ) -> tuple[int, ClientSubscription | None, list[SubscriptionEvent]]:
        """Check and route one NOTIFY: (HTTP status to answer, its subscription, events)."""
        try:
            notify = read_notify(request.headers, request.body)
        except SubscriptionError as exc:
            return exc.http_status, None, []
        sid, seq, changes = notify.sid, notify.seq, notify.changes
        sub = self._by_sid.get(sid)
        if sub is not None and sub.sid != sid:
            sub = None  # a SID given up (resubscribing): no longer ours
        if sub is None:
            waiting = any(
                s.state is SubscriptionState.SUBSCRIBING and s.in_flight is not None
                for s in self._all
            )
            if seq == 0 and waiting:
                self._held = [h for h in self._held if now - h.at < self.backlog_age][
                    -(self.backlog_size - 1) :
                ]
                self._held.append(_Held(sid, seq, changes, now))
                return 200, None, []
            return 412, None, []
        return 200, sub, sub.on_notify(seq, changes, now)


@dataclass(frozen=True, slots=True)
class NotifyMessage:
    """A NOTIFY that passed N1 and N4: its SID, SEQ and the variables it carries."""

    sid: str
    seq: int
    changes: dict[str, str]


def read_notify(headers: Headers, body: bytes) -> NotifyMessage:
    """Check one NOTIFY's headers and body (N1, N4) and read it.

    Raises:
        SubscriptionError: the status to answer (400 or 412) and why.
    """
    try:
        sid = headers.get_single("SID")
        nt = headers.get_single("NT")
        nts = headers.get_single("NTS")
        seq_text = headers.get_single("SEQ")
    except RemoteProtocolError as exc:
        raise SubscriptionError(400, str(exc)) from None
    if sid is None:
        raise SubscriptionError(412, "no SID header")
    if nt is None or nts is None:
        raise SubscriptionError(400, "no NT header" if nt is None else "no NTS header")
    if nt.strip() != "upnp:event" or nts.strip() != "upnp:propchange":
        raise SubscriptionError(
            412, f"NT {nt.strip()!r} / NTS {nts.strip()!r}, not upnp:event / upnp:propchange"
        )
    seq = decimal((seq_text or "").strip())
    if seq is None or seq > SEQ_MAX:
        raise SubscriptionError(400, f"SEQ {seq_text!r} is not a number up to {SEQ_MAX}")
    try:
        changes = parse_propertyset(body)
    except RemoteProtocolError as exc:
        raise SubscriptionError(400, str(exc)) from None
    return NotifyMessage(sid=sid.strip(), seq=seq, changes=changes)


def grant_problems(headers: Headers) -> list[str]:
    """G6: what a SUBSCRIBE's 200 answer lacks (empty: a SID and a usable TIMEOUT)."""
    problems: list[str] = []
    sid = (headers.get("SID") or "").strip()
    if not sid:
        problems.append("no SID header")
    elif not sid.startswith("uuid:"):
        problems.append(f"SID {sid!r} does not start with uuid:")
    timeout = headers.get("TIMEOUT")
    if timeout is None:
        problems.append("no TIMEOUT header")
    elif parse_timeout(timeout) is None and timeout.strip().lower() != "second-infinite":
        problems.append(f"TIMEOUT {timeout!r} is not Second-<seconds>")
    return problems


class RebootWatch:
    """Decides, from SSDP news, when a watched device's subscriptions start over (C5).

    The adapter says which UDNs it holds subscriptions for (:meth:`watch`,
    :meth:`unwatch`) and feeds every announcement or search reply to
    :meth:`observe`, which returns the reason to restart that device's
    subscriptions, or None. News of unwatched devices is ignored and kept
    nowhere, so the tables hold at most one entry per watched UDN.
    """

    __slots__ = ("_boot_ids", "_gone", "_watched")

    def __init__(self) -> None:
        """Watch nothing yet."""
        self._watched: set[str] = set()
        self._boot_ids: dict[str, int] = {}
        self._gone: set[str] = set()

    def watch(self, udn: str) -> None:
        """Start (or keep) watching ``udn``."""
        self._watched.add(udn)

    def unwatch(self, udn: str) -> None:
        """Stop watching ``udn`` and forget what was seen of it."""
        self._watched.discard(udn)
        self._boot_ids.pop(udn, None)
        self._gone.discard(udn)

    def observe(self, udn: str, kind: str, boot_id: int | None) -> str | None:
        """One SSDP message of ``kind`` from ``udn``: the restart reason, or None."""
        if udn not in self._watched:
            return None
        if kind == "byebye":
            self._gone.add(udn)
            return None
        reason = None
        if udn in self._gone:
            self._gone.discard(udn)
            reason = "the device announced itself again after ssdp:byebye"
        elif boot_id is not None and self._boot_ids.get(udn, boot_id) != boot_id:
            reason = f"BOOTID.UPNP.ORG changed {self._boot_ids[udn]} -> {boot_id}"
        if boot_id is not None:
            self._boot_ids[udn] = boot_id
        return reason
