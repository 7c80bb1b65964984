"""What the web UI keeps, each table bounded, and the JSON shapes the page reads.

Nothing here does I/O. Every table a device (a peer) can fill has a bound in
all and per peer (:class:`UiLimits`): present devices (by the core's
:class:`~upnpcm.core.discovery.Presence`, rule M7), devices added by URL,
subscriptions (in all, per device), each subscription's event tail and the
variables it remembers, the exchanges of action calls, the rows of a check
run, and the page's live connections (:mod:`upnpcm.ui.hub`). Texts a device
sends are cut before they are kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from upnpcm.aio.control_point import short_type
from upnpcm.core.gena import short_sid
from upnpcm.core.lastchange import parse_last_change
from upnpcm.core.protocol_info import ProtocolInfo
from upnpcm.core.subscription import (
    EventReceived,
    Resubscribing,
    RetryScheduled,
    Subscribed,
    SubscriptionEvent,
    Unsubscribed,
)
from upnpcm.errors import RemoteProtocolError

if TYPE_CHECKING:
    from upnpcm.aio.control_point import RemoteDevice, RemoteService
    from upnpcm.core.discovery import PresentDevice

__all__ = [
    "CheckRun",
    "DeviceEntry",
    "Lists",
    "SubscriptionEntry",
    "UiLimits",
    "cut",
]

#: Device types whose ConnectionManager takes part in the compatibility matrix.
SERVER_TYPE: Final = "MediaServer"
RENDERER_TYPE: Final = "MediaRenderer"


@dataclass(frozen=True, slots=True, kw_only=True)
class UiLimits:
    """Every bound of the UI (rule M7 for devices; the others are the UI's own)."""

    #: Devices present by SSDP, in all and per sender address.
    max_devices: int = 512
    max_devices_per_peer: int = 64
    #: Devices added by URL.
    max_manual: int = 32
    #: Subscriptions, in all and per device.
    max_subscriptions: int = 64
    max_subscriptions_per_device: int = 16
    #: Events kept per subscription (the oldest go first), and over every subscription.
    event_tail: int = 200
    max_events: int = 4000
    #: Variables whose last value a subscription remembers.
    max_variables: int = 256
    #: Characters of one value kept (LastChange, DIDL-Lite…), and of one event in all.
    max_value: int = 2048
    max_row: int = 8192
    #: LastChange entries decoded per event.
    max_last_change: int = 200
    #: Action calls kept, and bytes of a request or answer shown.
    max_calls: int = 50
    max_exchange: int = 64 * 1024
    #: Rows kept of a check run.
    max_check_rows: int = 2000
    #: Live event streams (pages), in all and per client address.
    max_clients: int = 16
    max_clients_per_peer: int = 8
    #: Messages waiting for a slow page before it is cut off (it reconnects and re-reads).
    client_queue: int = 5000
    #: Descriptions loaded at once.
    concurrent_loads: int = 4
    #: Servers and renderers the matrix shows at most (each way).
    matrix_size: int = 48
    #: Negotiated connections remembered (to complete them).
    max_connections: int = 32


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _model(device: RemoteDevice | None) -> str:
    if device is None:
        return ""
    root = device.root
    return " ".join(x for x in (root.model_name, root.model_number or "") if x)


@dataclass(slots=True, kw_only=True)
class Lists:
    """A ConnectionManager's protocolInfo lists, as GetProtocolInfo (or an event) gave them."""

    source: tuple[ProtocolInfo, ...] = ()
    sink: tuple[ProtocolInfo, ...] = ()
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class DeviceEntry:
    """A device the UI shows: present by SSDP (``present``) or added by URL (``manual``)."""

    udn: str
    location: str | None
    source: str
    manual: bool = False
    present: PresentDevice | None = None
    remote: RemoteDevice | None = None
    state: Literal["loading", "ready", "error", "skipped"] = "loading"
    error: str | None = None
    #: Lists of each ConnectionManager of a MediaServer or MediaRenderer, by its peer ID.
    lists: dict[str, Lists] = field(default_factory=dict)
    added: float = 0.0
    #: LOCATIONs the last load tried (another one heard later is tried too).
    tried: int = 0

    def summary(self, wall: float) -> dict[str, Any]:
        """The row of the device list; ``wall`` turns monotonic times into epoch seconds."""
        root = self.remote.root if self.remote is not None else None
        present = self.present
        return {
            "udn": self.udn,
            "name": root.friendly_name if root is not None else "",
            "model": _model(self.remote),
            "manufacturer": root.manufacturer if root is not None else "",
            "deviceType": short_type(root.device_type) if root is not None else "",
            "address": self.source,
            "location": self.location,
            "bootId": present.boot_id if present is not None else None,
            "configId": present.config_id if present is not None else None,
            "server": present.server if present is not None else None,
            "lastSeen": round((present.last_seen + wall) * 1000) if present else None,
            "firstSeen": round((present.first_seen + wall) * 1000) if present else None,
            "maxAge": present.max_age if present is not None else None,
            "state": self.state,
            "error": self.error,
            "manual": self.manual,
            "roles": sorted(self.roles()),
        }

    def roles(self) -> set[str]:
        """MediaServer and/or MediaRenderer, by the types of the devices of the tree."""
        if self.remote is None:
            return set()
        types = {short_type(d.device_type) for d in self.remote.root.iter_devices()}
        return types & {SERVER_TYPE, RENDERER_TYPE}

    def connection_managers(self) -> Iterable[tuple[str, RemoteService]]:
        """(role, service) of each ConnectionManager of a MediaServer or MediaRenderer."""
        if self.remote is None:
            return []
        return [
            (short_type(r.device.device_type), r)
            for r in self.remote.services
            if r.name == "ConnectionManager"
            and short_type(r.device.device_type) in (SERVER_TYPE, RENDERER_TYPE)
        ]


@dataclass(slots=True, kw_only=True)
class SubscriptionEntry:
    """One subscription the page asked for, its state and a bounded tail of what happened."""

    id: int
    udn: str
    selector: str
    service: str
    limits: UiLimits
    state: str = "subscribing"
    sid: str = ""
    timeout: int | None = None
    seq: int | None = None
    events: int = 0
    renewals: int = 0
    restarts: int = 0
    counter: int = 0
    tail: deque[dict[str, Any]] = field(default_factory=deque)
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tail = deque(maxlen=self.limits.event_tail)

    def summary(self) -> dict[str, Any]:
        """Its state and the last value of each variable (without the tail)."""
        return {
            "id": self.id,
            "udn": self.udn,
            "selector": self.selector,
            "service": self.service,
            "state": self.state,
            "sid": self.sid,
            "timeout": self.timeout,
            "seq": self.seq,
            "events": self.events,
            "renewals": self.renewals,
            "restarts": self.restarts,
            "rows": self.counter,
            "values": dict(self.values),
        }

    def record(self, event: SubscriptionEvent, wall_now: float) -> dict[str, Any]:
        """Turn one event of the subscription into a row of its tail (and update the state)."""
        self.counter += 1
        row: dict[str, Any] = {"n": self.counter, "at": round(wall_now * 1000)}
        limit = self.limits.max_value
        if isinstance(event, EventReceived):
            self.state, self.seq, self.sid = "active", event.seq, short_sid(event.sid)
            self.events += 1
            variables: list[list[str]] = []
            budget = self.limits.max_row
            items = list(event.changes.items())[: self.limits.max_variables]
            for index, (name, value) in enumerate(items):
                shown = cut(value, limit)
                if name in self.values or len(self.values) < self.limits.max_variables:
                    self.values[name] = shown
                if budget <= 0:
                    variables.append(["…", f"{len(items) - index} more variables not shown"])
                    break
                shown = cut(shown, max(budget - len(name), 2))
                budget -= len(name) + len(shown)
                variables.append([name, shown])
            row.update(kind="event", seq=event.seq, sid=self.sid, variables=variables)
            decoded = self._last_change(event.changes.get("LastChange"), max(budget, 0))
            if decoded is not None:
                row["lastChange"] = decoded
        elif isinstance(event, Subscribed):
            self.sid, self.timeout = short_sid(event.sid), event.timeout
            self.state = "active"
            if event.renewal:
                self.renewals += 1
            row.update(
                kind="renewed" if event.renewal else "subscribed",
                sid=self.sid,
                detail=f"TIMEOUT {event.timeout} s",
            )
        elif isinstance(event, Resubscribing):
            self.state, self.restarts = "resubscribing", self.restarts + 1
            row.update(kind="resubscribing", detail=cut(event.reason, 300))
            if event.old_sid:
                row["sid"] = short_sid(event.old_sid)
            if event.delay:
                row["detail"] += f" (in {event.delay:.1f} s)"
        elif isinstance(event, RetryScheduled):
            self.state = "retrying"
            row.update(
                kind="retry", detail=f"{cut(event.reason, 300)}; again in {event.delay:.1f} s"
            )
        elif isinstance(event, Unsubscribed):
            self.state = "closed"
            row.update(kind="unsubscribed", sid=short_sid(event.sid) if event.sid else "")
        self.tail.append(row)
        return row

    def _last_change(self, text: str | None, budget: int) -> list[list[Any]] | None:
        """LastChange decoded: [instance, variable, channel, value] rows, bounded in rows and size."""
        if not text:
            return None
        try:
            _, changes = parse_last_change(text)
        except RemoteProtocolError:
            return [[None, "LastChange", "", "not an Event document"]]
        rows: list[list[Any]] = []
        for instance, slots in sorted(changes.items()):
            for (name, channel), value in slots.items():
                if len(rows) >= self.limits.max_last_change or budget <= 0:
                    rows.append([None, "…", "", "more not shown"])
                    return rows
                shown = cut(value, min(self.limits.max_value, max(budget, 2)))
                budget -= len(name) + len(channel) + len(shown)
                rows.append([instance, name, channel, shown])
        return rows


@dataclass(slots=True, kw_only=True)
class CheckRun:
    """A run of :func:`upnpcm.check.run_checks` on one device; its rows, bounded."""

    id: int
    udn: str
    location: str
    state: Literal["running", "done", "failed", "cancelled"] = "running"
    rows: list[dict[str, object]] = field(default_factory=list)
    dropped: int = 0
    summary: str = ""
    progress: str = ""

    def view(self) -> dict[str, Any]:
        """The run as the page shows it."""
        return {
            "id": self.id,
            "udn": self.udn,
            "location": self.location,
            "state": self.state,
            "rows": list(self.rows),
            "dropped": self.dropped,
            "summary": self.summary,
            "progress": self.progress,
        }


def lists_json(lists: Mapping[str, Lists]) -> dict[str, Any]:
    """Each ConnectionManager's lists, as text."""
    return {
        key: {
            "source": [str(p) for p in value.source],
            "sink": [str(p) for p in value.sink],
            "error": value.error,
        }
        for key, value in lists.items()
    }
