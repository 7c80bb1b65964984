"""What a device did lately, for its status page: a bounded tail of its eventing, sans-I/O.

The device core (:class:`~upnpcm.core.device.DeviceCore`) records here, when
it is given an :class:`ActivityLog`, every change it events, every NOTIFY
outcome and every subscription that starts, renews or ends. Nothing is
recorded without one (``--no-status-page``). Time is the core's ``now``.

K2  The tail is bounded: at most ``size`` entries (the oldest go first), at
    most :data:`MAX_VARIABLES` variables per entry, each value cut to
    :data:`MAX_VALUE` characters; a SID is kept only shortened
    (:func:`~upnpcm.core.gena.short_sid`), since a full SID lets anyone
    renew or cancel its subscription.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from upnpcm.core.gena import short_sid

__all__ = ["MAX_VALUE", "MAX_VARIABLES", "Activity", "ActivityLog"]

#: Characters of a variable's value kept in an entry (K2).
MAX_VALUE: Final = 160
#: Variables kept in one entry (K2).
MAX_VARIABLES: Final = 8

ActivityKind = Literal["event", "notify", "subscribe", "renew", "unsubscribe", "expired", "dropped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """One thing the device did: evented a change, delivered a NOTIFY, granted a subscription."""

    at: float
    kind: ActivityKind
    #: The event path of the service.
    path: str
    #: The subscription's SID, shortened ("" for a change evented to all).
    sid: str = ""
    seq: int | None = None
    #: The HTTP status of a NOTIFY (None: nobody answered).
    status: int | None = None
    #: Variables and their (cut) values, for a change or a NOTIFY.
    variables: tuple[tuple[str, str], ...] = ()
    #: Subscribers a change went to; the subscriber's address for a subscription.
    detail: str = ""


def _cut(changes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in changes.items():
        out.append((name, value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"))
        if len(out) == MAX_VARIABLES:
            break
    return tuple(out)


#: An evented change as recorded: (at, path, cut variables, subscribers); made an
#: :class:`Activity` only when the tail is read (a device events far more often than
#: anyone looks at its status page).
_Evented = tuple[float, str, tuple[tuple[str, str], ...], int]


def _event_entry(record: _Evented) -> Activity:
    at, path, variables, subscribers = record
    return Activity(
        at=at,
        kind="event",
        path=path,
        variables=variables,
        detail=f"{subscribers} subscriber{'' if subscribers == 1 else 's'}",
    )


class ActivityLog:
    """The last ``size`` things a device did (K2)."""

    def __init__(self, size: int = 100) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._entries: deque[Activity | _Evented] = deque(maxlen=size)
        #: Entries recorded in all (also those no longer kept).
        self.recorded = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Activity]:
        return iter(
            [
                entry if isinstance(entry, Activity) else _event_entry(entry)
                for entry in self._entries
            ]
        )

    def add(self, entry: Activity) -> None:
        """Keep ``entry`` (the oldest goes when full)."""
        self._entries.append(entry)
        self.recorded += 1

    def evented(self, now: float, path: str, changes: Mapping[str, str], subscribers: int) -> None:
        """A change of evented variables, queued for ``subscribers`` subscriptions.

        Cut to its bounds now (K2), made an entry when read.
        """
        self._entries.append((now, path, _cut(changes), subscribers))
        self.recorded += 1

    def notified(
        self,
        now: float,
        path: str,
        sid: str,
        seq: int | None,
        status: int | None,
    ) -> None:
        """A NOTIFY's outcome: the status of the last answer, None when nobody answered."""
        self.add(
            Activity(
                at=now,
                kind="notify",
                path=path,
                sid=short_sid(sid),
                seq=seq,
                status=status,
            )
        )

    def subscription(self, now: float, kind: ActivityKind, path: str, sid: str, peer: str) -> None:
        """A subscription started, was renewed, cancelled, expired or dropped."""
        self.add(Activity(at=now, kind=kind, path=path, sid=short_sid(sid), detail=peer))
