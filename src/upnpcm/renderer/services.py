"""AVTransport:1 and RenderingControl:1 of the renderer, built with the public API only.

Both keep their state per instance (InstanceID 0 always exists; the
ConnectionManager makes one more of each per connection, rule R9) and event
it through the moderated LastChange the library provides (rules Q1-Q5). The
transport rules are in :mod:`upnpcm.renderer.transport` (Y1-Y9); fetching
is :mod:`upnpcm.renderer.player`. RenderingControl's rules (Z1-Z3):

Z1  Volume is 0-100 (step 1) and Mute a boolean, on channel Master only;
    another channel is 601 through the SCPD's allowed list, a volume out of
    range 601.
Z2  ListPresets names FactoryDefaults; SelectPreset FactoryDefaults sets
    volume and mute back to their start values; another name is 701
    "Invalid Name".
Z3  An unknown InstanceID is 702 (RenderingControl) / 718 (AVTransport).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from upnpcm.core.lastchange import AVT_NAMESPACE, RCS_NAMESPACE
from upnpcm.core.protocol_info import ProtocolInfo, matches_any, parse_list
from upnpcm.errors import ProtocolInfoError, UPnPError
from upnpcm.renderer.player import Fetcher, Sink, Stream, StreamFailed, StreamRefused
from upnpcm.renderer.transport import (
    NO_COUNTER,
    Transport,
    TransportState,
    format_time,
    media_from_metadata,
)
from upnpcm.service import Service, StateVariable, action

__all__ = ["AVTransport", "RenderingControl"]

_LOG: Final = logging.getLogger("upnpcm.renderer")
AVT_TYPE: Final = "urn:schemas-upnp-org:service:AVTransport:1"
RCS_TYPE: Final = "urn:schemas-upnp-org:service:RenderingControl:1"
_STATES: Final = [str(s) for s in TransportState]


def _hidden(
    data_type: str = "string",
    *,
    allowed: list[str] | None = None,
    default: object = None,
    minimum: int | None = None,
    maximum: int | None = None,
    step: int | None = None,
) -> StateVariable:
    """A variable reported through LastChange, not evented by itself (AVT:1 §2.3)."""
    return StateVariable(
        data_type,
        evented=False,
        allowed=allowed,
        default=default,
        minimum=minimum,
        maximum=maximum,
        step=step,
    )


class AVTransport(Service):
    """AVTransport:1 (AVT:1 §2.4): transport state machine per instance, playback by HTTP fetch.

    Args:
        sink_protocols: the SinkProtocolInfo list; decides 714 (what may play).
        sink: where fetched bytes go (default: counted and dropped).
        open_timeout: seconds for a stream's head to arrive.
        clock: monotonic seconds (the device core's clock).
    """

    service_type = AVT_TYPE
    last_change_namespace = AVT_NAMESPACE
    invalid_instance_code = 718
    value_faults = {"A_ARG_TYPE_SeekMode": 710, "TransportPlaySpeed": 717}  # noqa: RUF012 - read-only

    TransportState = _hidden(allowed=_STATES)
    TransportStatus = _hidden(allowed=["OK", "ERROR_OCCURRED"])
    PlaybackStorageMedium = _hidden(allowed=["NONE", "NETWORK"])
    RecordStorageMedium = _hidden(allowed=["NOT_IMPLEMENTED"])
    PossiblePlaybackStorageMedia = _hidden()
    PossibleRecordStorageMedia = _hidden()
    CurrentPlayMode = _hidden(allowed=["NORMAL"], default="NORMAL")
    TransportPlaySpeed = _hidden(allowed=["1"], default="1")
    RecordMediumWriteStatus = _hidden(allowed=["NOT_IMPLEMENTED"])
    CurrentRecordQualityMode = _hidden(allowed=["NOT_IMPLEMENTED"])
    PossibleRecordQualityModes = _hidden()
    NumberOfTracks = _hidden("ui4", minimum=0, maximum=1)
    CurrentTrack = _hidden("ui4", minimum=0, maximum=1, step=1)
    CurrentTrackDuration = _hidden()
    CurrentMediaDuration = _hidden()
    CurrentTrackMetaData = _hidden()
    CurrentTrackURI = _hidden()
    AVTransportURI = _hidden()
    AVTransportURIMetaData = _hidden()
    NextAVTransportURI = _hidden()
    NextAVTransportURIMetaData = _hidden()
    RelativeTimePosition = _hidden()
    AbsoluteTimePosition = _hidden()
    RelativeCounterPosition = _hidden("i4")
    AbsoluteCounterPosition = _hidden("i4")
    CurrentTransportActions = _hidden()
    LastChange = StateVariable("string")
    A_ARG_TYPE_SeekMode = _hidden(allowed=["TRACK_NR", "REL_TIME", "ABS_TIME"])
    A_ARG_TYPE_SeekTarget = _hidden()
    A_ARG_TYPE_InstanceID = _hidden("ui4")

    def __init__(
        self,
        *,
        sink_protocols: str,
        sink: Sink | None = None,
        open_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.sink_protocols = parse_list(sink_protocols).entries
        self.fetcher = Fetcher(accept=self._accepts, sink=sink, open_timeout=open_timeout)
        self._transports: dict[int, Transport] = {}
        self._pumps: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Bumped whenever an instance's playback is cut short (a later Play wins).
        self._generation: dict[int, int] = {}
        self._setup(0, self.instance(0))

    # ----------------------------------------------------------- instances

    def create(self, instance_id: int) -> None:
        """A new instance for a connection (R9)."""
        self._setup(instance_id, self.add_instance(instance_id))

    def discard(self, instance_id: int) -> None:
        """Free an instance whose connection ended (R9); its stream stops."""
        if instance_id in self._transports and instance_id != 0:
            self._halt(instance_id)
            del self._transports[instance_id]
            self._generation.pop(instance_id, None)
            self.remove_instance(instance_id)

    def transport(self, instance_id: int) -> Transport:
        """The transport of ``instance_id``.

        Raises:
            UPnPError: 718 Invalid InstanceID.
        """
        found = self._transports.get(instance_id)
        if found is None:
            raise UPnPError(718, f"no InstanceID {instance_id}")
        return found

    def _setup(self, instance_id: int, _instance: object) -> None:
        self._transports[instance_id] = Transport()
        self._generation[instance_id] = 0
        self._publish(instance_id)

    def _publish(self, instance_id: int) -> None:
        """Report the instance's variables; only changed values go into LastChange."""
        self.instance(instance_id).update(self._transports[instance_id].variables())

    def _accepts(self, content_type: str | None) -> bool:
        if content_type is None or not self.sink_protocols:
            return True
        try:
            offered = ProtocolInfo("http-get", "*", content_type.strip(), "*")
            _ = offered.mime
        except ProtocolInfoError:
            return False
        return matches_any(offered, self.sink_protocols)

    # ------------------------------------------------------------ lifecycle

    async def on_start(self) -> None:
        """Make the HTTP client that fetches what is played."""
        await self.fetcher.start()

    async def on_stop(self) -> None:
        """Stop every stream and the HTTP client."""
        for instance_id in list(self._transports):
            self._halt(instance_id)
        tasks = [*self._tasks, *self._pumps.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.fetcher.close()

    def next_timer(self) -> float | None:
        """The earliest end of a playing track of known duration (Y4)."""
        deadlines = [t.deadline() for t in self._transports.values()]
        return min((d for d in deadlines if d is not None), default=None)

    def on_timer(self, now: float) -> None:
        """Tracks that reached their duration end (Y4, Y5)."""
        for instance_id, transport in list(self._transports.items()):
            due = transport.deadline()
            if due is not None and due <= now:
                self._end_track(instance_id)

    # -------------------------------------------------------------- playback

    def _halt(self, instance_id: int) -> None:
        """Cut the instance's stream (if any); a Play still opening it loses."""
        self._generation[instance_id] = self._generation.get(instance_id, 0) + 1
        pump = self._pumps.pop(instance_id, None)
        if pump is not None:
            pump.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, instance_id: int, *, answer: bool) -> None:
        """Open the instance's media and play it (Y3); ``answer``: faults are the caller's."""
        transport = self._transports[instance_id]
        transport.begin()
        self._publish(instance_id)
        self._halt(instance_id)
        generation = self._generation[instance_id]

        def current() -> bool:
            return self._generation.get(instance_id) == generation

        try:
            stream = await self.fetcher.open(transport.media.uri)
        except StreamRefused as exc:
            if current():
                if answer:
                    transport.refused()
                else:
                    transport.failed()
                self._publish(instance_id)
            if answer:
                raise UPnPError(exc.code, exc.description) from None
            return
        except StreamFailed as exc:
            _LOG.info(
                "instance %d: %s cannot be fetched: %s", instance_id, transport.media.uri, exc
            )
            if current():
                transport.failed()
                self._publish(instance_id)
            return
        except BaseException:
            if current():  # cancelled (the action timed out, the device stops)
                transport.failed()
                self._publish(instance_id)
            raise
        if not current():
            stream.close()
            return
        transport.opened(self.clock())
        self._publish(instance_id)

        def learned(seconds: float) -> None:  # the stream's header gives the length (Y4)
            if current() and transport.learned_duration(seconds):
                self._publish(instance_id)

        stream.on_duration = learned
        pump = asyncio.get_running_loop().create_task(self._pump(instance_id, stream, generation))
        self._pumps[instance_id] = pump

    async def _pump(self, instance_id: int, stream: Stream, generation: int) -> None:
        try:
            complete = await stream.pump()
        except StreamFailed as exc:
            _LOG.info("instance %d: stream broke: %s", instance_id, exc)
            if self._generation.get(instance_id) == generation:
                self._pumps.pop(instance_id, None)
                self._transports[instance_id].failed()
                self._publish(instance_id)
            return
        finally:
            stream.close()
        if self._generation.get(instance_id) != generation:
            return
        self._pumps.pop(instance_id, None)
        transport = self._transports[instance_id]
        if complete and transport.media.duration is None:
            self._end_track(instance_id)  # Y4: no duration, the stream's end is the track's

    def _end_track(self, instance_id: int) -> None:
        self._halt(instance_id)
        if self._transports[instance_id].ended():
            self._spawn(self._play(instance_id, answer=False))
        self._publish(instance_id)

    # -------------------------------------------------------------- actions

    @action(
        "SetAVTransportURI",
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "CurrentURI": AVTransportURI,
            "CurrentURIMetaData": AVTransportURIMetaData,
        },
    )
    def set_av_transport_uri(
        self, instance_id: int, current_uri: str, current_uri_meta_data: str
    ) -> None:
        """Y2: load new media; the transport stops."""
        transport = self.transport(instance_id)
        media = media_from_metadata(current_uri.strip(), current_uri_meta_data, self.sink_protocols)
        self._halt(instance_id)
        transport.load(media)
        self._publish(instance_id)

    @action(
        "SetNextAVTransportURI",
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "NextURI": NextAVTransportURI,
            "NextURIMetaData": NextAVTransportURIMetaData,
        },
    )
    def set_next_av_transport_uri(
        self, instance_id: int, next_uri: str, next_uri_meta_data: str
    ) -> None:
        """Y2: the track that follows."""
        transport = self.transport(instance_id)
        transport.load_next(
            media_from_metadata(next_uri.strip(), next_uri_meta_data, self.sink_protocols)
        )
        self._publish(instance_id)

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={
            "NrTracks": NumberOfTracks,
            "MediaDuration": CurrentMediaDuration,
            "CurrentURI": AVTransportURI,
            "CurrentURIMetaData": AVTransportURIMetaData,
            "NextURI": NextAVTransportURI,
            "NextURIMetaData": NextAVTransportURIMetaData,
            "PlayMedium": PlaybackStorageMedium,
            "RecordMedium": RecordStorageMedium,
            "WriteStatus": RecordMediumWriteStatus,
        },
        cacheable=True,
    )
    def get_media_info(self, instance_id: int) -> dict[str, object]:
        """AVT:1 §2.4.3."""
        v = self.transport(instance_id).variables()
        return {
            "NrTracks": v["NumberOfTracks"],
            "MediaDuration": v["CurrentMediaDuration"],
            "CurrentURI": v["AVTransportURI"],
            "CurrentURIMetaData": v["AVTransportURIMetaData"],
            "NextURI": v["NextAVTransportURI"],
            "NextURIMetaData": v["NextAVTransportURIMetaData"],
            "PlayMedium": v["PlaybackStorageMedium"],
            "RecordMedium": "NOT_IMPLEMENTED",
            "WriteStatus": "NOT_IMPLEMENTED",
        }

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={
            "CurrentTransportState": TransportState,
            "CurrentTransportStatus": TransportStatus,
            "CurrentSpeed": TransportPlaySpeed,
        },
        cacheable=True,
    )
    def get_transport_info(self, instance_id: int) -> tuple[str, str, str]:
        """AVT:1 §2.4.4."""
        transport = self.transport(instance_id)
        return str(transport.state), transport.status, "1"

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={
            "Track": CurrentTrack,
            "TrackDuration": CurrentTrackDuration,
            "TrackMetaData": CurrentTrackMetaData,
            "TrackURI": CurrentTrackURI,
            "RelTime": RelativeTimePosition,
            "AbsTime": AbsoluteTimePosition,
            "RelCount": RelativeCounterPosition,
            "AbsCount": AbsoluteCounterPosition,
        },
    )
    def get_position_info(self, instance_id: int) -> dict[str, object]:
        """AVT:1 §2.4.5: the position advances with time (Y4)."""
        transport = self.transport(instance_id)
        v = transport.variables()
        position = format_time(transport.position(self.clock()))
        return {
            "Track": v["CurrentTrack"],
            "TrackDuration": v["CurrentTrackDuration"],
            "TrackMetaData": v["CurrentTrackMetaData"],
            "TrackURI": v["CurrentTrackURI"],
            "RelTime": position,
            "AbsTime": position,
            "RelCount": NO_COUNTER,
            "AbsCount": NO_COUNTER,
        }

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={
            "PlayMedia": PossiblePlaybackStorageMedia,
            "RecMedia": PossibleRecordStorageMedia,
            "RecQualityModes": PossibleRecordQualityModes,
        },
        cacheable=True,
    )
    def get_device_capabilities(self, instance_id: int) -> tuple[str, str, str]:
        """AVT:1 §2.4.6."""
        self.transport(instance_id)
        return "NETWORK", "NOT_IMPLEMENTED", "NOT_IMPLEMENTED"

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={"PlayMode": CurrentPlayMode, "RecQualityMode": CurrentRecordQualityMode},
        cacheable=True,
    )
    def get_transport_settings(self, instance_id: int) -> tuple[str, str]:
        """AVT:1 §2.4.7."""
        self.transport(instance_id)
        return "NORMAL", "NOT_IMPLEMENTED"

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID},
        out={"Actions": CurrentTransportActions},
        cacheable=True,
    )
    def get_current_transport_actions(self, instance_id: int) -> str:
        """AVT:1 §2.4.17 (Y1)."""
        return self.transport(instance_id).actions()

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID})
    def stop(self, instance_id: int) -> None:
        """Y1, Y4: STOPPED at the start; the stream is cut."""
        transport = self.transport(instance_id)
        transport.check("Stop")
        self._halt(instance_id)
        transport.stop()
        self._publish(instance_id)

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID, "Speed": TransportPlaySpeed})
    async def play(self, instance_id: int, speed: str) -> None:
        """Y1, Y3, Y8: from STOPPED fetch the media; from PAUSED_PLAYBACK go on."""
        transport = self.transport(instance_id)
        transport.check("Play")
        if transport.state is TransportState.PLAYING:
            return  # already at speed 1, the only one (Y8)
        if transport.state is TransportState.PAUSED_PLAYBACK:
            transport.resume(self.clock())
            self._publish(instance_id)
            return
        await self._play(instance_id, answer=True)

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID})
    def pause(self, instance_id: int) -> None:
        """Y1, Y4: PAUSED_PLAYBACK, keeping the position."""
        transport = self.transport(instance_id)
        transport.check("Pause")
        transport.pause(self.clock())
        self._publish(instance_id)

    @action(
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "Unit": A_ARG_TYPE_SeekMode,
            "Target": A_ARG_TYPE_SeekTarget,
        }
    )
    def seek(self, instance_id: int, unit: str, target: str) -> None:
        """Y7: within the one track."""
        transport = self.transport(instance_id)
        transport.check("Seek")
        transport.seek(unit, target, self.clock())
        self._publish(instance_id)

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID})
    async def next(self, instance_id: int) -> None:
        """Y6: to the next URI."""
        await self._step(instance_id, "Next")

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID})
    async def previous(self, instance_id: int) -> None:
        """Y6: back to the media before."""
        await self._step(instance_id, "Previous")

    async def _step(self, instance_id: int, which: str) -> None:
        transport = self.transport(instance_id)
        transport.check(which)
        self._halt(instance_id)
        if transport.step(which):
            await self._play(instance_id, answer=True)
        else:
            self._publish(instance_id)

    def statistics(self) -> dict[int, dict[str, object]]:
        """Per instance: state, status, URI, position (for logs and tests)."""
        now = self.clock()
        return {
            instance_id: {
                "state": str(t.state),
                "status": t.status,
                "uri": t.media.uri,
                "position": t.position(now),
            }
            for instance_id, t in self._transports.items()
        }


class RenderingControl(Service):
    """RenderingControl:1 (RCS:1 §2.4): volume, mute and presets per instance (Z1-Z3)."""

    service_type = RCS_TYPE
    last_change_namespace = RCS_NAMESPACE
    invalid_instance_code = 702
    value_faults = {"A_ARG_TYPE_PresetName": 701}  # noqa: RUF012 - read-only

    PresetNameList = _hidden()
    Mute = _hidden("boolean")
    Volume = _hidden("ui2", minimum=0, maximum=100, step=1)
    LastChange = StateVariable("string")
    A_ARG_TYPE_Channel = _hidden(allowed=["Master"])
    A_ARG_TYPE_InstanceID = _hidden("ui4")
    A_ARG_TYPE_PresetName = _hidden(allowed=["FactoryDefaults"])

    def __init__(self, *, volume: int = 30) -> None:
        super().__init__()
        self.start_volume = volume
        self._reset(0)

    def create(self, instance_id: int) -> None:
        """A new instance for a connection (R9)."""
        self.add_instance(instance_id)
        self._reset(instance_id)

    def discard(self, instance_id: int) -> None:
        """Free an instance whose connection ended (R9)."""
        if instance_id != 0:
            self.remove_instance(instance_id)

    def _reset(self, instance_id: int) -> None:
        instance = self.instance(instance_id)
        instance.set("PresetNameList", "FactoryDefaults")
        instance.set("Volume", self.start_volume, channel="Master")
        instance.set("Mute", False, channel="Master")

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID}, out={"CurrentPresetNameList": PresetNameList}
    )
    def list_presets(self, instance_id: int) -> str:
        """Z2."""
        return str(self.instance(instance_id)["PresetNameList"])

    @action(args={"InstanceID": A_ARG_TYPE_InstanceID, "PresetName": A_ARG_TYPE_PresetName})
    def select_preset(self, instance_id: int, preset_name: str) -> None:
        """Z2: FactoryDefaults puts volume and mute back."""
        self.instance(instance_id)
        self._reset(instance_id)

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID, "Channel": A_ARG_TYPE_Channel},
        out={"CurrentMute": Mute},
        cacheable=True,
    )
    def get_mute(self, instance_id: int, channel: str) -> bool:
        """Z1."""
        return bool(self.instance(instance_id).get("Mute", channel))

    @action(
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "Channel": A_ARG_TYPE_Channel,
            "DesiredMute": Mute,
        }
    )
    def set_mute(self, instance_id: int, channel: str, desired_mute: bool) -> None:
        """Z1."""
        self.instance(instance_id).set("Mute", desired_mute, channel=channel)

    @action(
        args={"InstanceID": A_ARG_TYPE_InstanceID, "Channel": A_ARG_TYPE_Channel},
        out={"CurrentVolume": Volume},
        cacheable=True,
    )
    def get_volume(self, instance_id: int, channel: str) -> int:
        """Z1."""
        return int(self.instance(instance_id).get("Volume", channel, 0))

    @action(
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "Channel": A_ARG_TYPE_Channel,
            "DesiredVolume": Volume,
        }
    )
    def set_volume(self, instance_id: int, channel: str, desired_volume: int) -> None:
        """Z1."""
        self.instance(instance_id).set("Volume", desired_volume, channel=channel)
