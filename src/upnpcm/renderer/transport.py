"""The AVTransport:1 transport state machine of one instance (AVT:1 §2.4, §2.5; rules Y1-Y9).

Pure: time (``now``, monotonic seconds) is an argument, nothing here does
I/O. The service (:mod:`upnpcm.renderer.services`) asks this machine before
it acts and reports what the stream did (opened, failed, ended); the machine
says which state follows, which fault a refused call gets and what every
variable reads.

States: NO_MEDIA_PRESENT, STOPPED, TRANSITIONING, PLAYING, PAUSED_PLAYBACK
(no recording). Media: one URI (one track) and an optional next URI.

Rules
-----
Y1  Play, Stop, Pause, Seek, Next and Previous are allowed only where
    :data:`TRANSITIONS` lists them; anywhere else they answer 701
    "Transition not available". CurrentTransportActions lists exactly the
    allowed ones (Next/Previous only when there is such a track, Y6).
Y2  SetAVTransportURI is allowed in every state: an empty URI empties the
    transport (NO_MEDIA_PRESENT); otherwise the new media is loaded and the
    transport is STOPPED at its start, TransportStatus OK. A URI that is not
    an absolute http(s) URL is 716 "Resource not found"; metadata naming a
    format the Sink list does not accept is 714 "Illegal MIME-type".
    SetNextAVTransportURI sets (or, empty, clears) the next track alike.
Y3  Play from STOPPED is TRANSITIONING until the stream answers: an answer
    with a 2xx status and an accepted Content-Type (or none) is PLAYING; a
    4xx/5xx status is 716 and a Content-Type the Sink list does not accept
    is 714, both leaving the transport STOPPED (the server said the
    resource cannot be played). A stream that cannot be reached at all
    (refused, reset, timed out) is a transport error, reported as the
    standard reports asynchronous errors: STOPPED with TransportStatus
    ERROR_OCCURRED (Play itself is answered, the transition was begun).
Y4  The position advances with time only while PLAYING, from where it
    was; Pause keeps it, Stop returns it to the start. A known duration
    (``res@duration`` of the metadata) ends the track when the position
    reaches it; without one the track ends when its stream does.
Y5  A track that ends plays the next URI when there is one (it becomes the
    current media), else the transport is STOPPED at the start.
Y6  Next moves to the next URI and Previous back to the media before it
    (one step of history); with no such track they answer 711 "Illegal
    seek target". From PLAYING the new track plays; otherwise it is STOPPED.
Y7  Seek: REL_TIME and ABS_TIME move within the one track (a target that is
    not ``H+:MM:SS[.F]`` or lies past a known duration is 711), TRACK_NR
    accepts only 1; other modes are 710 (through the SCPD's allowed list).
Y8  Only play speed 1 is supported (another listed speed would be 717).
Y9  A stream that breaks while PLAYING is a transport error: STOPPED,
    ERROR_OCCURRED. The next successful Play or SetAVTransportURI sets
    TransportStatus OK again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from upnpcm.core.protocol_info import ProtocolInfo, match
from upnpcm.core.xml import local_name, parse_xml
from upnpcm.errors import ProtocolInfoError, RemoteProtocolError, UPnPError

__all__ = [
    "TRANSITIONS",
    "Media",
    "Transport",
    "TransportState",
    "format_time",
    "media_from_metadata",
    "parse_time",
]


class TransportState(StrEnum):
    """TransportState values this renderer uses (AVT:1 §2.2.1)."""

    NO_MEDIA_PRESENT = "NO_MEDIA_PRESENT"
    STOPPED = "STOPPED"
    TRANSITIONING = "TRANSITIONING"
    PLAYING = "PLAYING"
    PAUSED_PLAYBACK = "PAUSED_PLAYBACK"


S = TransportState
#: (state, action) -> the state the action leads to; anything else is 701 (Y1).
TRANSITIONS: Final[dict[tuple[TransportState, str], TransportState]] = {
    (S.STOPPED, "Play"): S.TRANSITIONING,
    (S.STOPPED, "Stop"): S.STOPPED,
    (S.STOPPED, "Seek"): S.STOPPED,
    (S.STOPPED, "Next"): S.STOPPED,
    (S.STOPPED, "Previous"): S.STOPPED,
    (S.PLAYING, "Play"): S.PLAYING,
    (S.PLAYING, "Stop"): S.STOPPED,
    (S.PLAYING, "Pause"): S.PAUSED_PLAYBACK,
    (S.PLAYING, "Seek"): S.PLAYING,
    (S.PLAYING, "Next"): S.TRANSITIONING,
    (S.PLAYING, "Previous"): S.TRANSITIONING,
    (S.PAUSED_PLAYBACK, "Play"): S.PLAYING,
    (S.PAUSED_PLAYBACK, "Stop"): S.STOPPED,
    (S.PAUSED_PLAYBACK, "Seek"): S.PAUSED_PLAYBACK,
    (S.PAUSED_PLAYBACK, "Next"): S.STOPPED,
    (S.PAUSED_PLAYBACK, "Previous"): S.STOPPED,
    (S.TRANSITIONING, "Stop"): S.STOPPED,
}
#: The order CurrentTransportActions lists actions in.
ACTION_ORDER: Final = ("Play", "Stop", "Pause", "Seek", "Next", "Previous")
#: Largest DIDL-Lite metadata read for a duration and protocolInfo (an argument is
#: already bounded by the request size; this is the parser's own cap).
MAX_METADATA_BYTES: Final = 64 * 1024
#: RelativeCounterPosition/AbsoluteCounterPosition when counters are not implemented.
NO_COUNTER: Final = 2147483647
#: ``H+:MM:SS[.F+]``, read leniently: minutes and seconds of one digit are taken too
#: (async_upnp_client sends ``0:0:42``).
_TIME: Final = re.compile(
    r"\s*\+?([0-9]{1,6}):([0-5]?[0-9]):([0-5]?[0-9])(\.[0-9]{1,9}|\.[0-9]{1,9}/[0-9]{1,9})?\s*\Z"
)


def parse_time(text: str) -> float | None:
    """Seconds of an ``H+:MM:SS[.F+]`` time (AVT:1 §2.2.23), or None if it is not one."""
    found = _TIME.match(text)
    if found is None:
        return None
    hours, minutes, seconds, fraction = found.groups()
    total = float(int(hours) * 3600 + int(minutes) * 60 + int(seconds))
    if fraction:
        if "/" in fraction:
            numerator, denominator = fraction[1:].split("/")
            if int(denominator) == 0 or int(numerator) >= int(denominator):
                return None
            total += int(numerator) / int(denominator)
        else:
            total += float("0" + fraction)
    return total


def format_time(seconds: float) -> str:
    """``H:MM:SS`` of whole seconds (AVT:1 §2.2.23)."""
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class Media:
    """One track: its URI, its metadata (DIDL-Lite, as given) and what that says."""

    uri: str = ""
    metadata: str = ""
    #: Seconds, from the metadata's ``res@duration`` (None: unknown).
    duration: float | None = None


def media_from_metadata(uri: str, metadata: str, sink: tuple[ProtocolInfo, ...]) -> Media:
    """The :class:`Media` for ``uri`` and its DIDL-Lite ``metadata`` (Y2).

    Metadata is read leniently (a control point's DIDL is often sloppy): what
    cannot be read is ignored. The ``res`` whose text is ``uri`` (else the
    first) gives the duration and the protocolInfo.

    Raises:
        UPnPError: 716 when ``uri`` is not an absolute http(s) URL; 714 when the
            metadata's protocolInfo names a format ``sink`` does not accept.
    """
    if uri:
        try:
            parts = urlsplit(uri)
            _ = parts.port
        except ValueError:
            raise UPnPError(716, "the URI is not a URL") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise UPnPError(716, "only http:// and https:// URIs can be played")
    duration: float | None = None
    resource = _resource(uri, metadata)
    if resource is not None:
        text = resource.get("duration")
        duration = parse_time(text) if text else None
        protocol_info = resource.get("protocolInfo")
        if protocol_info and sink:
            try:
                offered = ProtocolInfo.parse(protocol_info)
            except ProtocolInfoError:
                offered = None
            if offered is not None and not any(match(offered, ours).compatible for ours in sink):
                raise UPnPError(714, f"{offered.content_format} is not in the Sink list")
    return Media(uri=uri, metadata=metadata, duration=duration)


def _resource(uri: str, metadata: str) -> dict[str, str] | None:
    if not metadata.strip():
        return None
    try:
        root = parse_xml(metadata.encode("utf-8"), max_bytes=MAX_METADATA_BYTES)
    except (RemoteProtocolError, UnicodeEncodeError):
        return None
    resources = [elem for elem in root.iter() if local_name(elem.tag) == "res"]
    for elem in resources:
        if (elem.text or "").strip() == uri:
            return {local_name(k): v for k, v in elem.attrib.items()}
    return {local_name(k): v for k, v in resources[0].attrib.items()} if resources else None


class Transport:
    """One AVTransport instance's state (rules Y1-Y9)."""

    def __init__(self) -> None:
        self.state = S.NO_MEDIA_PRESENT
        self.status = "OK"
        self.media = Media()
        self.next: Media = Media()
        self.previous: Media | None = None
        self._position = 0.0
        self._since: float | None = None  # when PLAYING began counting from _position

    # ------------------------------------------------------------- queries

    def allowed(self, action: str) -> bool:
        """Whether ``action`` may run now (Y1, Y6)."""
        if (self.state, action) not in TRANSITIONS:
            return False
        if action == "Next":
            return bool(self.next.uri)
        if action == "Previous":
            return self.previous is not None
        return True

    def check(self, action: str) -> TransportState:
        """The state ``action`` leads to.

        Raises:
            UPnPError: 701 when it is not available now (Y1), 711 for Next or
                Previous without such a track (Y6).
        """
        after = TRANSITIONS.get((self.state, action))
        if after is None:
            raise UPnPError(701, f"{action} is not available in {self.state}")
        if action in ("Next", "Previous") and not self.allowed(action):
            raise UPnPError(711, f"there is no {'next' if action == 'Next' else 'previous'} track")
        return after

    def actions(self) -> str:
        """CurrentTransportActions (Y1)."""
        return ",".join(a for a in ACTION_ORDER if self.allowed(a))

    def position(self, now: float) -> float:
        """Seconds into the track (Y4)."""
        position = self._position
        if self.state is S.PLAYING and self._since is not None:
            position += now - self._since
        if self.media.duration is not None:
            position = min(position, self.media.duration)
        return max(0.0, position)

    def deadline(self) -> float | None:
        """When the playing track reaches its known duration (Y4), or None."""
        if self.state is not S.PLAYING or self._since is None or self.media.duration is None:
            return None
        return self._since + max(0.0, self.media.duration - self._position)

    def variables(self) -> dict[str, object]:
        """Every variable LastChange reports for this instance (AVT:1 §2.3.1)."""
        has_media = bool(self.media.uri)
        duration = (
            format_time(self.media.duration) if self.media.duration is not None else "0:00:00"
        )
        return {
            "TransportState": str(self.state),
            "TransportStatus": self.status,
            "PlaybackStorageMedium": "NETWORK" if has_media else "NONE",
            "RecordStorageMedium": "NOT_IMPLEMENTED",
            "PossiblePlaybackStorageMedia": "NETWORK",
            "PossibleRecordStorageMedia": "NOT_IMPLEMENTED",
            "CurrentPlayMode": "NORMAL",
            "TransportPlaySpeed": "1",
            "RecordMediumWriteStatus": "NOT_IMPLEMENTED",
            "CurrentRecordQualityMode": "NOT_IMPLEMENTED",
            "PossibleRecordQualityModes": "NOT_IMPLEMENTED",
            "NumberOfTracks": 1 if has_media else 0,
            "CurrentTrack": 1 if has_media else 0,
            "CurrentTrackDuration": duration,
            "CurrentMediaDuration": duration,
            "CurrentTrackMetaData": self.media.metadata,
            "CurrentTrackURI": self.media.uri,
            "AVTransportURI": self.media.uri,
            "AVTransportURIMetaData": self.media.metadata,
            "NextAVTransportURI": self.next.uri,
            "NextAVTransportURIMetaData": self.next.metadata,
            "CurrentTransportActions": self.actions(),
        }

    # ----------------------------------------------------------- changes

    def load(self, media: Media) -> None:
        """SetAVTransportURI (Y2): the transport stops and holds ``media`` (or nothing)."""
        self.media = media
        self.previous = None  # Previous goes back only over Next and track ends (Y6)
        self._stop_at(0.0)
        self.state = S.STOPPED if media.uri else S.NO_MEDIA_PRESENT
        self.status = "OK"

    def load_next(self, media: Media) -> None:
        """SetNextAVTransportURI (Y2)."""
        self.next = media

    def begin(self) -> None:
        """Play from STOPPED: the stream is being opened (Y3)."""
        self.state = S.TRANSITIONING

    def opened(self, now: float) -> None:
        """The stream answered: PLAYING from the current position (Y3, Y9)."""
        self.state = S.PLAYING
        self.status = "OK"
        self._since = now

    def learned_duration(self, seconds: float) -> bool:
        """The stream's own header says how long the track is (Y4); True if that is news.

        The metadata's ``res@duration``, when there was one, stays.
        """
        if self.media.duration is not None:
            return False
        self.media = replace(self.media, duration=seconds)
        return True

    def refused(self) -> None:
        """The server refused the resource (716/714): back to STOPPED (Y3)."""
        self._stop_at(self._position)
        self.state = S.STOPPED

    def failed(self) -> None:
        """The stream could not be reached or broke: STOPPED, ERROR_OCCURRED (Y3, Y9)."""
        self._stop_at(0.0)
        self.state = S.STOPPED
        self.status = "ERROR_OCCURRED"

    def pause(self, now: float) -> None:
        """PLAYING -> PAUSED_PLAYBACK, keeping the position (Y4)."""
        self._position = self.position(now)
        self._since = None
        self.state = S.PAUSED_PLAYBACK

    def resume(self, now: float) -> None:
        """PAUSED_PLAYBACK -> PLAYING from where it was (Y4)."""
        self.state = S.PLAYING
        self._since = now

    def stop(self) -> None:
        """Stop: STOPPED at the start (Y4)."""
        self._stop_at(0.0)
        self.state = S.STOPPED

    def seek(self, unit: str, target: str, now: float) -> None:
        """Seek within the track (Y7).

        Raises:
            UPnPError: 711 for a target that is not a time, past a known
                duration, or a track other than 1; 710 for another mode.
        """
        if unit == "TRACK_NR":
            if target.strip() != "1":
                raise UPnPError(711, f"track {target!r} does not exist (there is one)")
            seconds = 0.0
        elif unit in ("REL_TIME", "ABS_TIME"):
            parsed = parse_time(target)
            if parsed is None:
                raise UPnPError(711, f"{target!r} is not an H+:MM:SS time")
            if self.media.duration is not None and parsed > self.media.duration:
                raise UPnPError(711, f"{target} is past the end of the track")
            seconds = parsed
        else:
            raise UPnPError(710, f"seek mode {unit} is not supported")
        self._position = seconds
        if self.state is S.PLAYING:
            self._since = now

    def step(self, action: str) -> bool:
        """Next or Previous (Y6): switch tracks; True if the new one should play."""
        playing = self.state is S.PLAYING
        if action == "Next":
            self.previous, self.media, self.next = self.media, self.next, Media()
        else:
            assert self.previous is not None
            self.media, self.next, self.previous = self.previous, self.media, None
        self._stop_at(0.0)
        self.state = S.TRANSITIONING if playing else S.STOPPED
        return playing

    def ended(self) -> bool:
        """The track ended (Y4, Y5); True if the next one should now play."""
        if self.next.uri:
            self.previous, self.media, self.next = self.media, self.next, Media()
            self._stop_at(0.0)
            self.state = S.TRANSITIONING
            return True
        self.stop()
        return False

    def _stop_at(self, position: float) -> None:
        self._position = position
        self._since = None
