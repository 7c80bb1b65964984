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

Time is an argument; the pacing deadlines are offered through
:meth:`next_deadline` and run by :meth:`handle_timer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from upnpcm.core.effects import Effect, SendNotify, SubscriptionEnded
from upnpcm.core.gena import SubscriberTable

__all__ = ["DeliveryPolicy", "NotifyScheduler"]

Key = tuple[str, str]  # (event path, SID)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPolicy:
    """Pacing and concurrency of NOTIFY delivery (T2)."""

    #: Least seconds between two messages handed out for one subscription.
    min_interval: float = 0.2
    #: Most deliveries in flight at once, over every subscription of the device.
    max_in_flight: int = 256

    def __post_init__(self) -> None:
        if self.min_interval < 0:
            raise ValueError("min_interval must not be negative")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


class NotifyScheduler:
    """Hand out NOTIFY messages of a device's subscription tables (T2, E4)."""

    def __init__(self, tables: Mapping[str, SubscriberTable], policy: DeliveryPolicy) -> None:
        self._tables = tables
        self.policy = policy
        self._in_flight: set[Key] = set()
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
        return {*self._in_flight, *self._sent_at, *self._resting, *self._queued}

    def wake(self, path: str, sid: str, now: float) -> list[Effect]:
        """A message may be waiting for (path, sid): send it now if T2 allows."""
        return self._try((path, sid), now)

    def forget(self, path: str, sid: str) -> None:
        """The subscription ended: drop every trace of it here."""
        key = (path, sid)
        self._sent_at.pop(key, None)
        self._resting.pop(key, None)
        self._queued.pop(key, None)
        # An in-flight delivery stays counted until its outcome is reported.

    def done(self, path: str, sid: str, status: int | None, now: float) -> list[Effect]:
        """The outcome of the delivery handed out for (path, sid) (E4, T2)."""
        key = (path, sid)
        if key not in self._in_flight:
            return []  # not ours (reported twice, or before a restart)
        self._in_flight.discard(key)
        effects: list[Effect] = []
        table = self._tables.get(path)
        if table is not None and sid in table:
            if status is not None and 200 <= status < 300:
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
        """When the earliest resting message may go out, or None."""
        return min(self._resting.values(), default=None)

    def handle_timer(self, now: float) -> list[Effect]:
        """Send the messages whose pacing time has come."""
        due = [key for key, when in self._resting.items() if when <= now]
        effects: list[Effect] = []
        for key in due:
            del self._resting[key]
            effects.extend(self._try(key, now))
        return effects

    def _try(self, key: Key, now: float) -> list[Effect]:
        if key in self._in_flight or key in self._resting or key in self._queued:
            return []  # already waiting for its outcome, its time or a slot
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
        self._in_flight.add(key)
        self._sent_at[key] = now
        return [SendNotify(path, message)]
