"""What a renderer's AVTransport is doing, from its events and answers (rules V1-V5).

V1  AVTransport events carry one variable, ``LastChange``: an ``<Event>``
    document with an ``<InstanceID val="N">`` per instance whose children are
    ``<Variable val="…"/>``; only our instance's values are read.
V2  The transport is watched through events; where none has arrived within
    :attr:`PlaybackWatch.event_grace` seconds (or the subscription failed),
    GetTransportInfo is polled every ``poll_interval`` seconds. The position is
    polled (GetPositionInfo) while playing: AVTransport does not event it.
V3  Playback has started once TransportState is ``PLAYING`` after our Play.
V4  A ``TransportStatus`` of ``ERROR_OCCURRED`` is a failure, whatever the state.
V5  After PLAYING, a ``STOPPED`` or ``NO_MEDIA_PRESENT`` we did not ask for is
    the end of the track.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from upnpcm.core.didl import duration_seconds
from upnpcm.core.xml import local_name, parse_xml
from upnpcm.errors import RemoteProtocolError

__all__ = [
    "AVT_ERRORS",
    "PlaybackWatch",
    "Snapshot",
    "fault_text",
    "parse_last_change",
]

#: While waiting for PLAYING, the first look when no event has said so, in seconds
#: after our Play; each later gap is the time since Play (doubling), up to STARTING_POLL.
STARTING_FIRST: Final = 0.05
#: While waiting for PLAYING, the longest gap between looks when no event has said so.
STARTING_POLL: Final = 0.3
#: Largest LastChange document read.
MAX_LAST_CHANGE_BYTES: Final = 256 * 1024

#: AVTransport:1 error codes (AVTransport:1 §2.4, error tables) and the common UDA ones.
AVT_ERRORS: Final[Mapping[int, str]] = MappingProxyType(
    {
        401: "the renderer has no such action",
        402: "the renderer refused the arguments",
        501: "the renderer failed to carry out the action (Action Failed)",
        701: "transition not available: the renderer cannot do that in its current state",
        702: "no contents: the renderer has no media to play",
        703: "read error: the renderer could not read the media",
        704: "format not supported for playback",
        705: "the transport is locked by another control point",
        710: "seek mode not supported",
        711: "illegal seek target",
        712: "play mode not supported",
        714: "illegal MIME type: the renderer does not take this content format",
        715: "the content is busy",
        716: "resource not found: the renderer could not fetch the URL",
        717: "play speed not supported",
        718: "invalid InstanceID",
    }
)

Phase = Literal["starting", "playing", "ended", "failed", "stopped"]


def fault_text(code: int) -> str:
    """A sentence for an AVTransport fault code."""
    return AVT_ERRORS.get(code, "the renderer refused")


def parse_last_change(text: str, instance_id: int = 0) -> dict[str, str]:
    """The values ``LastChange`` gives for ``instance_id`` (rule V1); {} when unreadable."""
    try:
        root = parse_xml(text.encode("utf-8"), max_bytes=MAX_LAST_CHANGE_BYTES, strip_padding=True)
    except RemoteProtocolError:  # garbage in an event is ignored, never fatal
        return {}
    values: dict[str, str] = {}
    for instance in root:
        if local_name(instance.tag) != "InstanceID":
            continue
        if (instance.get("val") or "").strip() != str(instance_id):
            continue
        for var in instance:
            value = var.get("val")
            if value is not None:
                values[local_name(var.tag)] = value
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What is known of the transport at one moment."""

    phase: Phase
    state: str | None
    status: str | None
    position: float | None
    duration: float | None
    events: bool


class PlaybackWatch:
    """The transport's state from events and polls, and when to poll (rules V2-V5).

    Pure: every method takes ``now``; the adapter asks :meth:`poll_due` and
    :meth:`next_deadline`, calls the actions, and feeds the answers back.
    """

    def __init__(self, now: float, *, poll_interval: float = 1.0, event_grace: float = 1.5) -> None:
        self.poll_interval = poll_interval
        self.event_grace = event_grace
        self.started_at = now
        self.state: str | None = None
        self.status: str | None = None
        self.phase: Phase = "starting"
        self.events = False
        self.subscription_failed = False
        self.position: float | None = None
        self.position_at = now
        self.duration: float | None = None
        self.last_poll = float("-inf")
        self.error: str | None = None
        self.stop_requested = False
        self.armed = False

    def arm(self, now: float) -> None:
        """Play is about to be sent: from now on PLAYING counts (V3), older states do not."""
        self.armed = True
        self.state = None
        self.started_at = now
        self.last_poll = float("-inf")

    # ------------------------------------------------------------------ inputs

    def on_event(self, values: Mapping[str, str], now: float) -> None:
        """Values read from a LastChange event."""
        self.events = True
        self._apply(values, now)

    def on_transport_info(self, values: Mapping[str, object], now: float) -> None:
        """A GetTransportInfo answer."""
        self.last_poll = now
        renamed = {
            "TransportState": values.get("CurrentTransportState"),
            "TransportStatus": values.get("CurrentTransportStatus"),
        }
        self._apply({k: str(v) for k, v in renamed.items() if v is not None}, now)

    def on_position_info(self, values: Mapping[str, object], now: float) -> None:
        """A GetPositionInfo answer."""
        self.last_poll = now
        position = duration_seconds(str(values.get("RelTime", "")))
        if position is not None:
            self.position = position
            self.position_at = now
        duration = duration_seconds(str(values.get("TrackDuration", "")))
        if duration:
            self.duration = duration

    def on_subscription_failed(self) -> None:
        """The subscription could not be made: rely on polling."""
        self.subscription_failed = True

    def _apply(self, values: Mapping[str, str], now: float) -> None:
        status = values.get("TransportStatus")
        if status is not None:
            self.status = status
            failing = status.strip().upper() == "ERROR_OCCURRED"
            if failing and self.armed and self.phase in ("starting", "playing"):
                self.phase = "failed"  # V4
                self.error = "the renderer reports TransportStatus ERROR_OCCURRED"
        duration = duration_seconds(
            values.get("CurrentTrackDuration") or values.get("CurrentMediaDuration")
        )
        if duration:
            self.duration = duration
        state = values.get("TransportState")
        if state is None:
            return
        state = state.strip().upper()
        if state == self.state or not self.armed:
            self.state = state
            return
        if self.state == "PLAYING" and self.position is not None:
            self.position = self.position_now(now)
            self.position_at = now
        self.state = state
        if state == "PLAYING" and self.phase == "starting":
            self.phase = "playing"  # V3
            self.position_at = now
        elif state in ("STOPPED", "NO_MEDIA_PRESENT") and self.phase == "playing":
            self.phase = "stopped" if self.stop_requested else "ended"  # V5

    # ----------------------------------------------------------------- outputs

    def position_now(self, now: float) -> float | None:
        """The position, moved on by the time since it was read while PLAYING."""
        if self.position is None:
            return None
        if self.state == "PLAYING":
            moved = self.position + max(0.0, now - self.position_at)
            return min(moved, self.duration) if self.duration else moved
        return self.position

    def needs_transport_polls(self, now: float) -> bool:
        """No events to rely on (V2), or no PLAYING yet.

        A renderer already playing may take our Play without a change to event.
        """
        if self.phase == "starting":
            return self.subscription_failed or now - self.started_at >= STARTING_FIRST
        if self.events:
            return False
        return self.subscription_failed or now - self.started_at >= self.event_grace

    def poll_due(self, now: float) -> bool:
        """Time for the next poll."""
        active = self.armed and self.phase in ("starting", "playing")
        return active and now >= self._due()

    def _due(self) -> float:
        if self.phase == "starting":  # PLAYING is what the caller waits for: look sooner
            if self.last_poll < self.started_at:
                return self.started_at + STARTING_FIRST
            gap = min(STARTING_POLL, max(STARTING_FIRST, self.last_poll - self.started_at))
            return self.last_poll + gap
        return max(self.last_poll + self.poll_interval, self.started_at)

    def next_deadline(self) -> float | None:
        """When :meth:`poll_due` next becomes true."""
        if not self.armed or self.phase not in ("starting", "playing"):
            return None
        return self._due()

    def snapshot(self, now: float) -> Snapshot:
        """The state for a progress line."""
        return Snapshot(
            phase=self.phase,
            state=self.state,
            status=self.status,
            position=self.position_now(now),
            duration=self.duration,
            events=self.events,
        )
