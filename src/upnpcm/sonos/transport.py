"""A zone player's transport and queue, as pure state machines (rules O6-O9).

Nothing is fetched: a virtual player "plays" by letting its position run
with the clock (``now``, monotonic seconds, is an argument), so any URI a
test names is fine and nothing leaves the machine. The service
(:mod:`upnpcm.sonos.services`) asks these objects, publishes what they say
through LastChange, and turns :class:`~upnpcm.errors.UPnPError` into faults.

O6  SetAVTransportURI loads the transport STOPPED at its first track, whatever
    it was doing: ``x-rincon-queue:<UUID>#0`` plays the player's queue, any
    other URI is one track (a stream or a file). An empty URI is 402.
O7  Play, Pause, Stop: PLAYING at once (no TRANSITIONING: a virtual speaker
    needs no buffering), PAUSED_PLAYBACK keeps the position, STOPPED goes
    back to the start of the track. Play or Pause with nothing loaded, Pause
    when stopped: 701. The position advances only while PLAYING; a track whose
    duration is known (``res@duration``) ends there and the next one of the
    queue follows (play modes REPEAT_ALL/REPEAT_ONE repeat), else the
    transport stops at the first track.
O8  Next and Previous move within the queue (a single track, or the first /
    last track without repeat: 701); from PLAYING the new track plays. Seek:
    TRACK_NR within the queue (outside it 711), REL_TIME within the track
    (past a known duration 711), TIME_DELTA relative to the position; a
    target that is not a number or a time is 402.
O9  The queue numbers its tracks from 1. AddURIToQueue inserts at
    ``DesiredFirstTrackNumberEnqueued`` (0, or past the end: at the end;
    ``EnqueueAsNext``: after the current track) and answers the first
    number, the count and the new length; every change increases its
    UpdateID. Removing the track being played moves playback to the track
    that takes its place, from that track's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from urllib.parse import unquote, urlsplit

from upnpcm.core.didl import DC_NS, DIDL_NS, UPNP_NS, duration_seconds, parse_didl
from upnpcm.core.xml import escape_attr, escape_text
from upnpcm.errors import RemoteProtocolError, UPnPError

__all__ = [
    "PLAY_MODES",
    "RINCON_NS",
    "Queue",
    "Track",
    "Transport",
    "TransportState",
    "format_time",
    "track_for",
]

RINCON_NS: Final = "urn:schemas-rinconnetworks-com:metadata-1-0/"
PLAY_MODES: Final = (
    "NORMAL",
    "REPEAT_ALL",
    "REPEAT_ONE",
    "SHUFFLE_NOREPEAT",
    "SHUFFLE",
    "SHUFFLE_REPEAT_ONE",
)
_REPEAT_ALL: Final = frozenset({"REPEAT_ALL", "SHUFFLE"})
_REPEAT_ONE: Final = frozenset({"REPEAT_ONE", "SHUFFLE_REPEAT_ONE"})
#: CurrentTransportActions, by what is loaded and the state (Sonos lists these).
_QUEUE_ACTIONS: Final = "Set, Stop, Pause, Play, X_DLNA_SeekTime, Next, X_DLNA_SeekTrackNr"
_STREAM_ACTIONS: Final = "Set, Stop, Pause, Play, X_DLNA_SeekTime"


class TransportState(StrEnum):
    """TransportState values of a zone player (its SCPD lists no NO_MEDIA_PRESENT)."""

    STOPPED = "STOPPED"
    PLAYING = "PLAYING"
    PAUSED_PLAYBACK = "PAUSED_PLAYBACK"
    TRANSITIONING = "TRANSITIONING"


def format_time(seconds: float | None) -> str:
    """``H:MM:SS`` (``0:00:00`` for an unknown duration, as Sonos reports a stream's)."""
    whole = max(0, int(seconds or 0))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class Track:
    """One track: its URI, its DIDL-Lite metadata (as given, or made) and what that says."""

    uri: str
    metadata: str
    title: str
    duration: float | None = None


def track_for(uri: str, metadata: str = "") -> Track:
    """The track ``uri`` with its metadata: as given (title, duration read from it), else made.

    Metadata is read leniently; what cannot be read is ignored. A URI
    without metadata gets the item a zone player makes for a plain URI (its
    file name as title, ``object.item``), so clients find a title.
    """
    title = ""
    duration: float | None = None
    if metadata.strip():
        try:
            objects = parse_didl(metadata).objects
        except RemoteProtocolError:
            objects = ()
        if objects:
            title = objects[0].title
            resources = objects[0].resources
            chosen = next(
                (r for r in resources if r.url == uri), resources[0] if resources else None
            )
            if chosen is not None:
                duration = duration_seconds(chosen.duration)
    if not title:
        path = urlsplit(uri).path if "://" in uri else uri.partition(":")[2]
        title = unquote(path.rstrip("/").rpartition("/")[2]) or uri
    if not metadata.strip():
        metadata = (
            f'<DIDL-Lite xmlns:dc="{DC_NS}" xmlns:upnp="{UPNP_NS}" xmlns:r="{RINCON_NS}" '
            f'xmlns="{DIDL_NS}"><item id="-1" parentID="-1" restricted="true">'
            f'<res protocolInfo="{escape_attr(_protocol_for(uri))}">{escape_text(uri)}</res>'
            "<r:streamContent></r:streamContent>"
            f"<dc:title>{escape_text(title)}</dc:title><upnp:class>object.item</upnp:class>"
            "</item></DIDL-Lite>"
        )
    return Track(uri=uri, metadata=metadata, title=title, duration=duration)


def _protocol_for(uri: str) -> str:
    scheme = uri.partition(":")[0].lower()
    if scheme in ("http", "https"):
        return "http-get:*:audio/mpeg:*"
    return f"{scheme}:*:*:*"


@dataclass(slots=True)
class Queue:
    """A player's queue (O9)."""

    tracks: list[Track] = field(default_factory=list)
    update_id: int = 0

    def add(
        self, new: list[Track], *, desired: int, as_next: bool, current: int
    ) -> tuple[int, int, int]:
        """Insert ``new``: (first track number, number added, new length) (O9)."""
        if as_next and current > 0:
            position = current + 1
        elif desired == 0 or desired > len(self.tracks):
            position = len(self.tracks) + 1
        else:
            position = desired
        self.tracks[position - 1 : position - 1] = new
        self.update_id += 1
        return position, len(new), len(self.tracks)

    def clear(self) -> None:
        """Empty the queue (O9)."""
        self.tracks.clear()
        self.update_id += 1

    def remove(self, start: int, count: int) -> None:
        """Remove ``count`` tracks from number ``start`` (1-based).

        Raises:
            UPnPError: 402 for a range outside the queue.
        """
        if start < 1 or count < 0 or start + count - 1 > len(self.tracks):
            raise UPnPError(402, f"tracks {start}..{start + count - 1} are not in the queue")
        del self.tracks[start - 1 : start - 1 + count]
        self.update_id += 1


class Transport:
    """The transport of one player (O6-O8). ``queue`` is the player's own."""

    def __init__(self, queue: Queue, queue_uri: str) -> None:
        self.queue = queue
        #: ``x-rincon-queue:<UUID>#0``: this player's queue as a transport URI.
        self.queue_uri = queue_uri
        self.state = TransportState.STOPPED
        self.uri = ""
        self.uri_metadata = ""
        self.single: Track | None = None
        self.track = 0  # 1-based; 0: nothing loaded
        self.play_mode = "NORMAL"
        self.crossfade = False
        self._offset = 0.0  # position at _since (or the position while not playing)
        self._since: float | None = None  # when PLAYING began, else None

    # ------------------------------------------------------------------ reading

    @property
    def on_queue(self) -> bool:
        """Whether the queue is the media."""
        return self.uri == self.queue_uri

    def tracks(self) -> list[Track]:
        """The tracks of the media: the queue's, or the one loaded."""
        if self.on_queue:
            return self.queue.tracks
        return [self.single] if self.single is not None else []

    def current(self) -> Track | None:
        """The current track, if any."""
        tracks = self.tracks()
        return tracks[self.track - 1] if 0 < self.track <= len(tracks) else None

    def position(self, now: float) -> float:
        """Seconds into the current track (O7)."""
        if self._since is None:
            return self._offset
        return self._offset + max(0.0, now - self._since)

    def deadline(self) -> float | None:
        """When the current track ends, while PLAYING with a known duration (O7)."""
        track = self.current()
        if self._since is None or track is None or track.duration is None:
            return None
        return self._since + max(0.0, track.duration - self._offset)

    def actions(self) -> str:
        """CurrentTransportActions."""
        if self.current() is None:
            return "Set"
        return _QUEUE_ACTIONS if self.on_queue else _STREAM_ACTIONS

    # ------------------------------------------------------------------ changes

    def load(self, uri: str, metadata: str) -> None:
        """SetAVTransportURI (O6).

        Raises:
            UPnPError: 402 for an empty URI.
        """
        if not uri:
            raise UPnPError(402, "CurrentURI is empty")
        self.uri, self.uri_metadata = uri, metadata
        self.single = None if uri == self.queue_uri else track_for(uri, metadata)
        self.track = 1 if self.tracks() else 0
        self._rest(TransportState.STOPPED, 0.0)

    def play(self, now: float) -> None:
        """O7: PLAYING (from the position kept).

        Raises:
            UPnPError: 701 with nothing to play.
        """
        if self.current() is None:
            if self.on_queue and self.queue.tracks:
                self.track = 1
            else:
                raise UPnPError(701, "Transition not available: nothing to play")
        if self.state is not TransportState.PLAYING:
            self.state = TransportState.PLAYING
            self._since = now

    def pause(self, now: float) -> None:
        """O7: PAUSED_PLAYBACK, keeping the position.

        Raises:
            UPnPError: 701 unless PLAYING.
        """
        if self.state is not TransportState.PLAYING:
            raise UPnPError(701, "Transition not available: not playing")
        self._rest(TransportState.PAUSED_PLAYBACK, self.position(now))

    def stop(self) -> None:
        """O7: STOPPED at the start of the track."""
        self._rest(TransportState.STOPPED, 0.0)

    def step(self, delta: int, now: float) -> None:
        """Next (+1) or Previous (-1) within the queue (O8).

        Raises:
            UPnPError: 701 when there is no such track.
        """
        tracks = self.tracks()
        target = self.track + delta
        if self.play_mode in _REPEAT_ALL and len(tracks) > 1:
            target = (target - 1) % len(tracks) + 1
        if not self.on_queue or not 0 < target <= len(tracks):
            raise UPnPError(701, "Transition not available: no such track")
        self._go(target, now)

    def seek(self, unit: str, target: str, now: float) -> None:
        """Seek (O8).

        Raises:
            UPnPError: 402 (unreadable target), 711 (outside the queue or the track),
                701 (nothing loaded).
        """
        track = self.current()
        if track is None:
            raise UPnPError(701, "Transition not available: nothing loaded")
        if unit == "TRACK_NR":
            if not target.strip().isdigit():
                raise UPnPError(402, f"{target!r} is not a track number")
            number = int(target)
            if not 0 < number <= len(self.tracks()):
                raise UPnPError(711, f"there is no track {number}")
            self._go(number, now)
            return
        seconds = duration_seconds(target.strip().lstrip("+-"))
        if seconds is None:
            raise UPnPError(402, f"{target!r} is not a time")
        if unit == "TIME_DELTA":
            seconds = self.position(now) + (-seconds if target.strip().startswith("-") else seconds)
        if seconds < 0 or (track.duration is not None and seconds > track.duration):
            raise UPnPError(711, f"{target} is outside the track")
        self._offset = seconds
        if self._since is not None:
            self._since = now

    def set_play_mode(self, mode: str) -> None:
        """SetPlayMode (the SCPD's allowed list already checked the name)."""
        self.play_mode = mode

    def track_ended(self, now: float) -> None:
        """The current track reached its duration (O7): the next one, repeat, or stop."""
        tracks = self.tracks()
        if self.play_mode in _REPEAT_ONE:
            self._go(self.track, now)
        elif self.track < len(tracks):
            self._go(self.track + 1, now)
        elif self.play_mode in _REPEAT_ALL and tracks:
            self._go(1, now)
        else:
            self.track = 1 if tracks else 0
            self.stop()

    def current_removed(self, now: float) -> None:
        """The current track left the queue (O9): the one in its place, from its start."""
        self._go(self.track, now)

    def queue_changed(self) -> None:
        """The queue changed under a transport playing it: keep a valid track number (O9)."""
        if not self.on_queue:
            return
        count = len(self.queue.tracks)
        if count == 0:
            self.track = 0
            self.stop()
        elif self.track == 0 or self.track > count:
            self.track = min(max(self.track, 1), count)

    # ---------------------------------------------------------------- internals

    def _go(self, number: int, now: float) -> None:
        self.track = number
        self._offset = 0.0
        self._since = now if self.state is TransportState.PLAYING else None

    def _rest(self, state: TransportState, offset: float) -> None:
        self.state = state
        self._offset = offset
        self._since = None
