"""NOTIFY delivery as a state machine: which message goes out when (rules T2, B6).

The subscription tables (:mod:`upnpcm.core.gena`) hold what each subscriber
still has to hear; this scheduler decides when the next message of a
subscription is taken and handed to the adapter as a :class:`SendNotify`.
The adapter sends it and reports the outcome with :meth:`NotifyScheduler.done`.

T2  At most one NOTIFY per subscription is in flight: the next one waits for
    the outcome of the last *and* for ``min_interval`` seconds since the last
    was handed out, so a subscriber hears at most a few messages a second and
    always the last value (changes coalesce in the table, E2). At most
    ``max_in_flight`` deliveries run at once over the whole device; the
    others wait for a free slot, oldest first.
E4  The outcome decides the subscription's fate: a 412 drops it, as do
    ``max_failures`` consecutive failures (the table counts them).
T4  With ``initial_retry`` set, an initial event (SEQ 0) that met no answer
    (a refused connection) or a 412 is sent again, once, that many seconds
    later, before anything newer for that subscription: a listener may start
    only once its SUBSCRIBE has been answered (node-sonos-ts does), and
    register the SID only once it has read the answer. The second outcome
    counts as E4 says.

Time is an argument; the pacing deadlines are offered through
:meth:`next_deadline` and run by :meth:`handle_timer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from upnpcm.core.effects import Effect, SendNotify, SubscriptionEnded
from upnpcm.core.gena import Notification, SubscriberTable

__all__ = ["DeliveryPolicy", "NotifyScheduler"]

Key = tuple[str, str]  # (event path, SID)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPolicy:
    """Pacing and concurrency of NOTIFY delivery (T2)."""

    #: Least seconds between two messages handed out for one subscription.
    min_interval: float = 0.2
    #: Most deliveries in flight at once, over every subscription of the device.
    max_in_flight: int = 256
    #: Seconds after which an unanswered (or 412) initial event is sent once more (T4);
    #: None: never.
    initial_retry: float | None = None

    def __post_init__(self) -> None:
        if self.min_interval < 0:
            raise ValueError("min_interval must not be negative")
        if self.initial_retry is not None and self.initial_retry < 0:
            raise ValueError("initial_retry must not be negative")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


class NotifyScheduler:
    """Hand out NOTIFY messages of a device's subscription tables (T2, E4)."""

    def __init__(self, tables: Mapping[str, SubscriberTable], policy: DeliveryPolicy) -> None:
        self._tables = tables
        self.policy = policy
        #: Deliveries handed out: key -> (message, whether it is a T4 retry).
        self._in_flight: dict[Key, tuple[Notification, bool]] = {}
        #: Initial events waiting to be sent again (T4): key -> (when, message).
        self._retries: dict[Key, tuple[float, Notification]] = {}
        #: When each subscription's last message was handed out (for pacing).
        self._sent_at: dict[Key, float] = {}
        #: Subscriptions with a message waiting for its pacing time: key -> when.
        self._resting: dict[Key, float] = {}
        #: Subscriptions with a message waiting for a free slot, oldest first.
        self._queued: dict[Key, None] = {}

    @property
    def in_flight(self) -> int:
        """Deliveries handed out and not yet reported."""
        return len(self._in_flight)

    def tracked(self) -> set[Key]:
        """Subscriptions this scheduler holds any state for."""
        return {*self._in_flight, *self._sent_at, *self._resting, *self._queued, *self._retries}

    def wake(self, path: str, sid: str, now: float) -> list[Effect]:
        """A message may be waiting for (path, sid): send it now if T2 allows."""
        return self._try((path, sid), now)

    def forget(self, path: str, sid: str) -> None:
        """The subscription ended: drop every trace of it here."""
        key = (path, sid)
        self._sent_at.pop(key, None)
        self._resting.pop(key, None)
        self._queued.pop(key, None)
        self._retries.pop(key, None)
        # An in-flight delivery stays counted until its outcome is reported.

    def abandon(self) -> None:
        """The adapter stopped: deliveries in flight will never be reported, retries never made.

        Their messages are lost; their SEQs were used, so a subscriber that is
        still there sees a gap (E3) and may resubscribe.
        """
        self._in_flight.clear()
        self._retries.clear()
        self._queued.clear()
        self._resting.clear()

    def done(self, path: str, sid: str, status: int | None, now: float) -> list[Effect]:
        """The outcome of the delivery handed out for (path, sid) (E4, T2)."""
        key = (path, sid)
        flight = self._in_flight.pop(key, None)
        if flight is None:
            return []  # not ours (reported twice, or before a restart)
        message, retried = flight
        effects: list[Effect] = []
        table = self._tables.get(path)
        if table is not None and sid in table:
            delay = self.policy.initial_retry
            if (
                delay is not None
                and not retried
                and message.seq == 0
                and (status is None or status == 412)
            ):
                self._retries[key] = (now + delay, message)  # T4: once more, later
            elif status is not None and 200 <= status < 300:
                table.delivered(sid)
            elif table.delivery_failed(sid, status=status):
                self.forget(path, sid)
                effects.append(SubscriptionEnded(path, sid, "dropped"))
            effects.extend(self._try(key, now))
        else:
            self.forget(path, sid)
        while self._queued and len(self._in_flight) < self.policy.max_in_flight:
            waiting = next(iter(self._queued))
            del self._queued[waiting]
            effects.extend(self._try(waiting, now))
        return effects

    def next_deadline(self) -> float | None:
        """When the earliest resting message (or T4 retry) may go out, or None."""
        resting = min(self._resting.values(), default=None)
        if not self._retries:
            return resting
        retry = min(when for when, _ in self._retries.values())
        return retry if resting is None else min(resting, retry)

    def handle_timer(self, now: float) -> list[Effect]:
        """Send the messages whose pacing time (or T4 retry time) has come."""
        effects: list[Effect] = []
        for key, (when, message) in list(self._retries.items()):
            if when <= now:
                del self._retries[key]
                table = self._tables.get(key[0])
                if table is None or key[1] not in table:
                    self.forget(*key)
                    continue
                self._in_flight[key] = (message, True)
                effects.append(SendNotify(key[0], message))
        due = [key for key, when in self._resting.items() if when <= now]
        for key in due:
            del self._resting[key]
            effects.extend(self._try(key, now))
        return effects

    def _try(self, key: Key, now: float) -> list[Effect]:
        if (
            key in self._in_flight
            or key in self._resting
            or key in self._queued
            or key in self._retries
        ):
            return []  # already waiting for its outcome, its time, a slot or a T4 retry
        path, sid = key
        table = self._tables.get(path)
        subscriber = table.get(sid) if table is not None else None
        if table is None or subscriber is None:
            self.forget(path, sid)
            return []
        if not subscriber.has_pending:
            return []
        ready = self._sent_at.get(key, now) + self.policy.min_interval
        if key in self._sent_at and ready > now:
            self._resting[key] = ready
            return []
        if len(self._in_flight) >= self.policy.max_in_flight:
            self._queued[key] = None
            return []
        message = table.take_message(sid)
        if message is None:
            return []
        self._in_flight[key] = (message, False)
        self._sent_at[key] = now
        return [SendNotify(path, message)]
