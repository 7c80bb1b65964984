"""A zone player's services, built with the public hosting API from the captured SCPDs.

Every service serves its SCPD as a zone player does (:mod:`upnpcm.sonos.scpd`),
at a zone player's URLs, ignores in-arguments its SCPD does not list (rule
I6: SoCo sends ``Speed`` to Pause and ``Channel`` to GetBass) and answers an
action of its SCPD that is not emulated with fault 800, Sonos's own
"command not supported" (rule O11). Evented variables start at values a
player reports, so every initial event is complete.

O11 An action the SCPD lists but this emulation does not implement answers
    UPnP error 800; an action the SCPD does not list, 401.
O12 RenderingControl keeps Volume (0-100) and Mute on the channels Master,
    LF and RF (LF and RF at 100 unless set), Bass and Treble (-10…10) and
    Loudness; a value out of range is 402. Every LastChange that carries a
    Volume or Mute carries it on all three channels, as real players send
    it (node-sonos-ts reads them as a list).
O14 ContentDirectory browses ``FV:2`` (the household's favourites) and
    ``Q:0`` (the player's queue, BrowseMetadata: one container with its
    childCount) in DIDL-Lite; ``StartingIndex``/``RequestedCount`` page it
    (0: all); any other object is 701 No such object.
O15 GroupRenderingControl speaks for the group and is answered by its
    coordinator only (a member: 701). GroupVolume is the rounded mean of the
    members' volumes; SetGroupVolume moves every member in proportion to
    its volume at the last SnapshotGroupVolume (taken by the first
    SetGroupVolume when none was); SetGroupMute mutes every member.
O16 A group member's AVTransport is its coordinator's: AVTransportURI and
    CurrentTrackURI ``x-rincon:<coordinator>``, every other variable the
    coordinator's. Play and Stop sent to a member act on the coordinator;
    Pause, Seek, Next, Previous, SetPlayMode and the queue actions on a
    member are 701 (Sonos answers so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from upnpcm.core.connection_manager import ConnectionManagerConfig
from upnpcm.core.didl import DC_NS, DIDL_NS, UPNP_NS
from upnpcm.core.lastchange import AVT_NAMESPACE, RCS_NAMESPACE
from upnpcm.core.xml import escape_text
from upnpcm.errors import UPnPError
from upnpcm.hosting import ConnectionManagerService
from upnpcm.service import Service, action
from upnpcm.sonos.model import Alarm
from upnpcm.sonos.scpd import captured_connection_manager, scpd_xml, service_data
from upnpcm.sonos.topology import TopologyError
from upnpcm.sonos.transport import RINCON_NS, format_time, track_for

if TYPE_CHECKING:
    from upnpcm.sonos.player import ZonePlayer

__all__ = [
    "AVTransport",
    "AlarmClock",
    "ContentDirectory",
    "DeviceProperties",
    "GroupRenderingControl",
    "Queue",
    "RenderingControl",
    "ZoneConnectionManager",
    "ZoneGroupTopology",
    "ZoneService",
    "inert_service",
]

#: The Queue's LastChange namespace (SoCo looks for QueueID in it).
QUEUE_NAMESPACE: Final = "urn:schemas-sonos-com:metadata-1-0/Queue/"
#: Sonos's own fault for an action it does not support (O11).
NOT_SUPPORTED: Final = 800
_DIDL_OPEN: Final = (
    f'<DIDL-Lite xmlns:dc="{DC_NS}" xmlns:upnp="{UPNP_NS}" xmlns:r="{RINCON_NS}" xmlns="{DIDL_NS}">'
)
_DEFAULTS: Final = {"boolean": False, "string": ""}
_CHANNELS: Final = ("Master", "LF", "RF")
T = TypeVar("T")


class ZoneService(Service):
    """A zone player's service: its captured SCPD and URLs, 800 for what is not emulated."""

    unimplemented_code = NOT_SUPPORTED
    ignore_extra_arguments = True
    #: The service's name in the captured data (``AVTransport`` …).
    data_name: ClassVar[str] = ""
    #: Evented variables whose start values are not the type's zero.
    initial: ClassVar[Mapping[str, object]] = {}

    def __init__(self, player: ZonePlayer, *, name: str | None = None) -> None:
        data = service_data(name or self.data_name)
        super().__init__(
            service_type=data.service_type,
            service_id=data.service_id,
            scpd=scpd_xml(data.name),
            control_url=data.control_url,
            event_sub_url=data.event_sub_url,
            scpd_url=data.scpd_url,
        )
        self.player = player
        for variable in self.description.state_variables:
            if variable.send_events and variable.name != "LastChange":
                zero = _DEFAULTS.get(variable.data_type, 0)
                if variable.allowed_values:
                    zero = variable.allowed_values[0]
                self.state[variable.name] = self.initial.get(variable.name, zero)


def inert_service(player: ZonePlayer, name: str, **initial: object) -> ZoneService:
    """A service served for its SCPD and events only: every action is 800 (O11)."""
    service = ZoneService(player, name=name)
    service.state.update(initial)
    return service


# --------------------------------------------------------------- DeviceProperties


class DeviceProperties(ZoneService):
    """Zone attributes and info, household, LED and button lock."""

    data_name = "DeviceProperties"
    wants_local_address = True
    initial: ClassVar[Mapping[str, object]] = {
        "Configuration": "1",
        "SupportsAudioClip": True,
        "IsIdle": True,
        "RoomCalibrationState": 4,
        "HasConfiguredSSID": True,
        "ChannelFreq": 2412,
        "WifiEnabled": True,
        "EthLink": True,
        "SecureRegState": 3,
        "SvcActive": True,
    }

    def __init__(self, player: ZonePlayer) -> None:
        super().__init__(player)
        self.led = "On"
        self.button_lock = "Off"
        self.icon = ""
        self._local = ""
        self.state["ZoneName"] = player.identity.room

    def handle_action(
        self,
        action: str,
        arguments: Mapping[str, object],
        *,
        now: float | None = None,
        local: str = "",
    ) -> Any:
        """As any service; ``local`` is the address the request arrived on (GetZoneInfo)."""
        self._local = local
        return super().handle_action(action, arguments, now=now)

    @action
    def get_household_id(self) -> str:
        """GetHouseholdID."""
        return self.player.model.household_id

    @action
    def get_zone_attributes(self) -> dict[str, str]:
        """GetZoneAttributes."""
        room = self.player.room
        return {
            "CurrentZoneName": room,
            "CurrentIcon": self.icon,
            "CurrentConfiguration": "1",
            "CurrentTargetRoomName": room,
        }

    @action
    def set_zone_attributes(
        self,
        desired_zone_name: str,
        desired_icon: str,
        desired_configuration: str,
        desired_target_room_name: str,
    ) -> None:
        """SetZoneAttributes."""
        if not desired_zone_name:
            raise UPnPError(402, "DesiredZoneName is empty")
        self.icon = desired_icon
        self.player.rename(desired_zone_name)

    @action
    def get_zone_info(self) -> dict[str, object]:
        """GetZoneInfo."""
        identity = self.player.identity
        return {
            "SerialNumber": identity.serial,
            "SoftwareVersion": identity.software_version,
            "DisplaySoftwareVersion": identity.display_version,
            "HardwareVersion": identity.hardware_version,
            "IPAddress": self._local or self.player.address,
            "MACAddress": identity.mac,
            "CopyrightInfo": "upnpcm: an emulated zone player, not Sonos software",
            "ExtraInfo": "",
            "HTAudioIn": 0,
            "Flags": 0,
        }

    @action
    def get_led_state(self) -> str:
        """GetLEDState."""
        return self.led

    @action
    def set_led_state(self, desired_led_state: str) -> None:
        """SetLEDState."""
        self.led = desired_led_state

    @action
    def get_button_lock_state(self) -> str:
        """GetButtonLockState."""
        return self.button_lock

    @action
    def set_button_lock_state(self, desired_button_lock_state: str) -> None:
        """SetButtonLockState."""
        self.button_lock = desired_button_lock_state


# -------------------------------------------------------------- ZoneGroupTopology


class ZoneGroupTopology(ZoneService):
    """The household's topology as this player reports it (O3, O10)."""

    data_name = "ZoneGroupTopology"

    def __init__(self, player: ZonePlayer) -> None:
        super().__init__(player)
        version = player.identity.software_version
        self.state["AvailableSoftwareUpdate"] = (
            '<UpdateItem xmlns="urn:schemas-rinconnetworks-com:update-1-0" Type="Software" '
            f'Version="{version}" UpdateURL="" DownloadSize="0" ManifestURL=""/>'
        )

    def refresh(self) -> None:
        """Report the topology as it is now (O10; unchanged values send nothing)."""
        player, model = self.player, self.player.model
        topology = model.topology
        self.state.update(
            ZoneGroupState=topology.zone_group_state(),
            MuseHouseholdId=model.muse_household_id,
            ZoneGroupName=topology.group_name(player.uid),
            ZoneGroupID=topology.group_id(player.uid),
            ZonePlayerUUIDsInGroup=",".join(topology.group_members(player.uid)),
            AlarmRunSequence=f"{player.uid}:{topology.member(player.uid).boot_seq}:0",
        )

    @action
    def get_zone_group_state(self) -> str:
        """GetZoneGroupState (O3)."""
        return self.player.model.topology.zone_group_state()

    @action
    def get_zone_group_attributes(self) -> dict[str, str]:
        """GetZoneGroupAttributes (O3)."""
        topology, uid = self.player.model.topology, self.player.uid
        return {
            "CurrentZoneGroupName": topology.group_name(uid),
            "CurrentZoneGroupID": topology.group_id(uid),
            "CurrentZonePlayerUUIDsInGroup": ",".join(topology.group_members(uid)),
            "CurrentMuseHouseholdId": self.player.model.muse_household_id,
        }


# --------------------------------------------------------------------- AlarmClock


class AlarmClock(ZoneService):
    """The household's alarms (O13), time formats."""

    data_name = "AlarmClock"
    initial: ClassVar[Mapping[str, object]] = {
        "TimeServer": "0.sonostime.pool.ntp.org,1.sonostime.pool.ntp.org",
        "TimeGeneration": 1,
        "DailyIndexRefreshTime": "02:00:00",
        "TimeFormat": "INV",
        "DateFormat": "INV",
    }

    def refresh(self) -> None:
        """Report the alarm list's version (O13)."""
        self.state["AlarmListVersion"] = self.player.model.alarms.list_version

    @action
    def list_alarms(self) -> tuple[str, str]:
        """ListAlarms (O13)."""
        alarms = self.player.model.alarms
        return alarms.list_xml(), alarms.list_version

    @action
    def create_alarm(self, **arguments: object) -> int:
        """CreateAlarm (O13)."""
        assigned = self.player.model.alarms.create(_alarm(0, arguments))
        self.player.model.alarms_changed()
        return assigned

    @action
    def update_alarm(self, id: int, **arguments: object) -> None:
        """UpdateAlarm (O13)."""
        self.player.model.alarms.update(_alarm(id, arguments))
        self.player.model.alarms_changed()

    @action
    def destroy_alarm(self, id: int) -> None:
        """DestroyAlarm (O13)."""
        self.player.model.alarms.destroy(id)
        self.player.model.alarms_changed()

    @action
    def get_format(self) -> tuple[str, str]:
        """GetFormat (O13)."""
        return self.state["TimeFormat"], self.state["DateFormat"]

    @action
    def set_format(self, desired_time_format: str, desired_date_format: str) -> None:
        """SetFormat (O13)."""
        self.state.update(TimeFormat=desired_time_format, DateFormat=desired_date_format)

    @action
    def get_daily_index_refresh_time(self) -> str:
        """GetDailyIndexRefreshTime (O13)."""
        return str(self.state["DailyIndexRefreshTime"])


def _alarm(alarm_id: int, arguments: Mapping[str, object]) -> Alarm:
    return Alarm(
        id=alarm_id,
        start_time=str(arguments["StartLocalTime"]),
        duration=str(arguments["Duration"]),
        recurrence=str(arguments["Recurrence"]),
        enabled=bool(arguments["Enabled"]),
        room_uuid=str(arguments["RoomUUID"]),
        program_uri=str(arguments["ProgramURI"]),
        program_metadata=str(arguments["ProgramMetaData"]),
        play_mode=str(arguments["PlayMode"]),
        volume=int(str(arguments["Volume"])),
        include_linked_zones=bool(arguments["IncludeLinkedZones"]),
    )


# --------------------------------------------------------------- ContentDirectory


class ContentDirectory(ZoneService):
    """Favourites (``FV:2``) and the queue (``Q:0``) in DIDL-Lite (O14)."""

    data_name = "ContentDirectory"
    initial: ClassVar[Mapping[str, object]] = {"Browseable": True}

    def __init__(self, player: ZonePlayer) -> None:
        super().__init__(player)
        self.state.update(
            FavoritesUpdateID=f"{player.uid},1",
            ContainerUpdateIDs="Q:0,0",
        )

    @action
    def get_search_capabilities(self) -> str:
        """GetSearchCapabilities."""
        return "ARTIST,ARTIST_ROLE,ALBUM,GENRE,TITLE,TRACKNUMBER,UPNP:ALBUMARTIST"

    @action
    def get_sort_capabilities(self) -> str:
        """GetSortCapabilities."""
        return ""

    @action
    def get_system_update_id(self) -> int:
        """GetSystemUpdateID."""
        return int(self.state["SystemUpdateID"])

    @action
    def browse(
        self,
        object_id: str,
        browse_flag: str,
        filter: str,
        starting_index: int,
        requested_count: int,
        sort_criteria: str,
    ) -> dict[str, object]:
        """Browse (O14)."""
        queue = self.player.queue
        if object_id == "FV:2":
            items = [f.didl(i) for i, f in enumerate(self.player.model.favourites, 1)]
            update_id = 1
        elif object_id == "Q:0":
            if browse_flag == "BrowseMetadata":
                container = (
                    f'<container id="Q:0" parentID="Q:" restricted="true" '
                    f'childCount="{len(queue.tracks)}"><dc:title>Queue Instance 0</dc:title>'
                    "<upnp:class>object.container.playlistContainer</upnp:class></container>"
                )
                return _browse_answer([container], 1, queue.update_id)
            items = [_queue_item(i, t) for i, t in enumerate(queue.tracks, 1)]
            update_id = queue.update_id
        else:
            raise UPnPError(701, f"No such object {object_id}")
        if browse_flag == "BrowseMetadata":
            raise UPnPError(701, f"No such object {object_id} (a container)")
        return _browse_answer(_page(items, starting_index, requested_count), len(items), update_id)


def _page(items: list[T], start: int, count: int) -> list[T]:
    """``count`` items from index ``start`` (O14: a count of 0 is all the rest)."""
    return items[start : start + count] if count else items[start:]


def _browse_answer(objects: list[str], total: int, update_id: int) -> dict[str, object]:
    result = _DIDL_OPEN + "".join(objects) + "</DIDL-Lite>"
    return {
        "Result": result,
        "NumberReturned": len(objects),
        "TotalMatches": total,
        "UpdateID": update_id,
    }


def _queue_item(number: int, track: Any) -> str:
    duration = format_time(track.duration) if track.duration is not None else ""
    duration_attr = f' duration="{duration}"' if duration else ""
    return (
        f'<item id="Q:0/{number}" parentID="Q:0" restricted="true">'
        f'<res protocolInfo="http-get:*:audio/mpeg:*"{duration_attr}>{escape_text(track.uri)}</res>'
        f"<dc:title>{escape_text(track.title)}</dc:title>"
        "<upnp:class>object.item.audioItem.musicTrack</upnp:class></item>"
    )


# --------------------------------------------------------------- ConnectionManager


class ZoneConnectionManager(ConnectionManagerService):
    """A zone player's ConnectionManager: the captured SCPD, the three mandatory actions."""

    unimplemented_code = NOT_SUPPORTED
    ignore_extra_arguments = True

    def __init__(
        self, *, source: str, sink: str, connection_info_faults: bool, prefix: str
    ) -> None:
        data = service_data("ConnectionManager")
        super().__init__(
            config=ConnectionManagerConfig(
                source=source,
                sink=sink,
                prepare_for_connection=False,
                idle_connection_ids="",
                connection_info_faults=connection_info_faults,
            ),
            scpd=captured_connection_manager(),
            control_url=f"/{prefix}/ConnectionManager/Control",
            event_sub_url=f"/{prefix}/ConnectionManager/Event",
            scpd_url=data.scpd_url,
        )


# --------------------------------------------------------------- RenderingControl


class RenderingControl(ZoneService):
    """Volume, mute, bass, treble, loudness (O12), evented through LastChange."""

    data_name = "RenderingControl"
    last_change_namespace = RCS_NAMESPACE
    invalid_instance_code = 702

    def __init__(self, player: ZonePlayer, *, volume: int = 20) -> None:
        super().__init__(player)
        inst = self.instance(0)
        for channel in _CHANNELS:
            inst.set("Volume", volume if channel == "Master" else 100, channel=channel)
        for channel in _CHANNELS:
            inst.set("Mute", False, channel=channel)
        inst.update(Bass=0, Treble=0)
        inst.set("Loudness", True, channel="Master")
        inst.update(
            OutputFixed=False,
            HeadphoneConnected=False,
            SpeakerSize=3,
            SubGain="0",
            SubCrossover="0",
            SubPolarity="0",
            SubEnabled=True,
            DialogLevel="0",
            SpeechEnhanceEnabled=False,
            SurroundLevel="0",
            MusicSurroundLevel="0",
            AudioDelay="0",
            AudioDelayLeftRear="0",
            AudioDelayRightRear="0",
            NightMode=False,
            SurroundEnabled=True,
            SurroundMode="0",
            PresetNameList="FactoryDefaults",
        )

    # --------------------------------------------------------------- state

    @property
    def volume(self) -> int:
        """The Master volume of instance 0."""
        return int(self.instance(0).get("Volume", "Master", 0))

    @property
    def muted(self) -> bool:
        """The Master mute of instance 0."""
        return bool(self.instance(0).get("Mute", "Master", False))

    def set_level(self, name: str, value: object, channel: str) -> None:
        """Set Volume or Mute on ``channel``; every channel goes with the change (O12)."""
        inst = self.instance(0)
        inst.set(name, value, channel=channel)
        for other in _CHANNELS:
            if other != channel:
                inst.set(name, inst.get(name, other), channel=other, force=True)
        self.player.levels_changed()

    # ------------------------------------------------------------- actions

    @action
    def get_volume(self, instance_id: int, channel: str) -> int:
        """GetVolume (O12)."""
        return int(self.instance(instance_id).get("Volume", channel, 100))

    @action
    def set_volume(self, instance_id: int, channel: str, desired_volume: int) -> None:
        """SetVolume (O12)."""
        self.instance(instance_id)
        self.set_level("Volume", _ranged("DesiredVolume", desired_volume, 0, 100), channel)

    @action
    def set_relative_volume(self, instance_id: int, channel: str, adjustment: int) -> int:
        """SetRelativeVolume (O12)."""
        current = self.get_volume(instance_id, channel)
        new = max(0, min(100, current + adjustment))
        self.set_level("Volume", new, channel)
        return new

    @action
    def get_mute(self, instance_id: int, channel: str) -> bool:
        """GetMute (O12)."""
        return bool(self.instance(instance_id).get("Mute", channel, False))

    @action
    def set_mute(self, instance_id: int, channel: str, desired_mute: bool) -> None:
        """SetMute (O12)."""
        self.instance(instance_id)
        self.set_level("Mute", desired_mute, channel)

    @action
    def get_bass(self, instance_id: int) -> int:
        """GetBass (O12)."""
        return int(self.instance(instance_id)["Bass"])

    @action
    def set_bass(self, instance_id: int, desired_bass: int) -> None:
        """SetBass (O12)."""
        self.instance(instance_id)["Bass"] = _ranged("DesiredBass", desired_bass, -10, 10)

    @action
    def get_treble(self, instance_id: int) -> int:
        """GetTreble (O12)."""
        return int(self.instance(instance_id)["Treble"])

    @action
    def set_treble(self, instance_id: int, desired_treble: int) -> None:
        """SetTreble (O12)."""
        self.instance(instance_id)["Treble"] = _ranged("DesiredTreble", desired_treble, -10, 10)

    @action
    def get_loudness(self, instance_id: int, channel: str) -> bool:
        """GetLoudness (O12)."""
        return bool(self.instance(instance_id).get("Loudness", "Master", False))

    @action
    def set_loudness(self, instance_id: int, channel: str, desired_loudness: bool) -> None:
        """SetLoudness (O12)."""
        self.instance(instance_id).set("Loudness", desired_loudness, channel="Master")

    @action
    def get_output_fixed(self, instance_id: int) -> bool:
        """GetOutputFixed (O12)."""
        return bool(self.instance(instance_id)["OutputFixed"])

    @action
    def get_supports_output_fixed(self, instance_id: int) -> bool:
        """GetSupportsOutputFixed (O12)."""
        self.instance(instance_id)
        return False

    @action
    def get_headphone_connected(self, instance_id: int) -> bool:
        """GetHeadphoneConnected (O12)."""
        return bool(self.instance(instance_id)["HeadphoneConnected"])

    @action
    def reset_basic_eq(self, instance_id: int) -> dict[str, object]:
        """ResetBasicEQ (O12)."""
        inst = self.instance(instance_id)
        inst.update(Bass=0, Treble=0)
        inst.set("Loudness", True, channel="Master")
        return {"Bass": 0, "Treble": 0, "Loudness": True, "LeftVolume": 100, "RightVolume": 100}

    @action
    def ramp_to_volume(
        self,
        instance_id: int,
        channel: str,
        ramp_type: str,
        desired_volume: int,
        reset_volume_after: bool,
        program_uri: str,
    ) -> int:
        """RampToVolume (O12)."""
        self.instance(instance_id)
        self.set_level("Volume", _ranged("DesiredVolume", desired_volume, 0, 100), channel)
        return 0  # a virtual speaker ramps at once


def _ranged(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UPnPError(402, f"{name}={value} is outside {low}..{high}")  # O12
    return value


# ---------------------------------------------------------- GroupRenderingControl


class GroupRenderingControl(ZoneService):
    """The group's volume and mute, answered by the coordinator (O15)."""

    data_name = "GroupRenderingControl"
    initial: ClassVar[Mapping[str, object]] = {"GroupVolumeChangeable": True}

    def __init__(self, player: ZonePlayer) -> None:
        super().__init__(player)
        self._snapshot: dict[str, int] | None = None

    def refresh(self) -> None:
        """Report the group's volume and mute as they are now (O15)."""
        members = self.player.group_players()
        volumes = [p.rendering_control.volume for p in members]
        self.state.update(
            GroupVolume=round(sum(volumes) / len(volumes)),
            GroupMute=all(p.rendering_control.muted for p in members),
        )

    def _coordinator(self, instance_id: int) -> list[ZonePlayer]:
        if instance_id != 0:
            raise UPnPError(702, f"no InstanceID {instance_id}")
        if not self.player.is_coordinator:
            raise UPnPError(701, "Player isn't the coordinator")
        return self.player.group_players()

    @action
    def get_group_volume(self, instance_id: int) -> int:
        """GetGroupVolume (O15)."""
        self._coordinator(instance_id)
        return int(self.state["GroupVolume"])

    @action
    def set_group_volume(self, instance_id: int, desired_volume: int) -> None:
        """SetGroupVolume (O15)."""
        members = self._coordinator(instance_id)
        target = _ranged("DesiredVolume", desired_volume, 0, 100)
        if self._snapshot is None or set(self._snapshot) != {p.uid for p in members}:
            self._snapshot = {p.uid: p.rendering_control.volume for p in members}
        total = sum(self._snapshot.values())
        for player in members:
            before = self._snapshot[player.uid]
            level = target if total == 0 else round(before * target * len(members) / total)
            player.rendering_control.set_level("Volume", max(0, min(100, level)), "Master")

    @action
    def set_relative_group_volume(self, instance_id: int, adjustment: int) -> int:
        """SetRelativeGroupVolume (O15)."""
        self._coordinator(instance_id)
        target = max(0, min(100, int(self.state["GroupVolume"]) + adjustment))
        self.set_group_volume(instance_id, target)
        return int(self.state["GroupVolume"])

    @action
    def snapshot_group_volume(self, instance_id: int) -> None:
        """SnapshotGroupVolume (O15)."""
        members = self._coordinator(instance_id)
        self._snapshot = {p.uid: p.rendering_control.volume for p in members}

    @action
    def get_group_mute(self, instance_id: int) -> bool:
        """GetGroupMute (O15)."""
        self._coordinator(instance_id)
        return bool(self.state["GroupMute"])

    @action
    def set_group_mute(self, instance_id: int, desired_mute: bool) -> None:
        """SetGroupMute (O15)."""
        for player in self._coordinator(instance_id):
            player.rendering_control.set_level("Mute", desired_mute, "Master")


# -------------------------------------------------------------------- AVTransport

#: The AVTransport variables a LastChange reports, in a zone player's order; the
#: vendor ones carry the ``r:`` prefix (rule Q6).
AVT_VENDOR: Final = frozenset(
    {
        "NextTrackURI",
        "NextTrackMetaData",
        "EnqueuedTransportURI",
        "EnqueuedTransportURIMetaData",
        "CurrentValidPlayModes",
        "DirectControlClientID",
        "DirectControlIsSuspended",
        "DirectControlAccountID",
        "SleepTimerGeneration",
        "AlarmRunning",
        "SnoozeRunning",
        "RestartPending",
    }
)


class AVTransport(ZoneService):
    """The player's transport (O6-O9, O16), evented through LastChange."""

    data_name = "AVTransport"
    last_change_namespace = AVT_NAMESPACE
    last_change_prefixes: ClassVar[Mapping[str, str]] = {"r": RINCON_NS}
    last_change_names: ClassVar[Mapping[str, str]] = {name: f"r:{name}" for name in AVT_VENDOR}
    invalid_instance_code = 718

    def __init__(self, player: ZonePlayer, *, clock: Callable[[], float]) -> None:
        super().__init__(player)
        self.clock = clock
        #: EnqueuedTransportURI and its metadata: what was last set or queued.
        self.enqueued = ("", "")

    @property
    def transport(self) -> Any:
        """The transport this player's AVTransport reports: its coordinator's (O16)."""
        return self.player.coordinator.transport

    def publish(self) -> None:
        """Report the transport's variables (O16 for a member); unchanged ones send nothing."""
        transport = self.transport
        track = transport.current()
        tracks = transport.tracks()
        following = tracks[transport.track] if 0 < transport.track < len(tracks) else None
        uri, uri_metadata = transport.uri, transport.uri_metadata
        track_uri = track.uri if track is not None else ""
        if not self.player.is_coordinator:
            uri = track_uri = f"x-rincon:{self.player.coordinator.uid}"
            uri_metadata = ""
        enqueued_uri, enqueued_metadata = self.player.coordinator.av_transport.enqueued
        self.instance(0).update(
            {
                "TransportState": str(transport.state),
                "CurrentPlayMode": transport.play_mode,
                "CurrentCrossfadeMode": transport.crossfade,
                "NumberOfTracks": len(tracks),
                "CurrentTrack": transport.track,
                "CurrentSection": 0,
                "CurrentTrackURI": track_uri,
                "CurrentTrackDuration": format_time(track.duration) if track else "",
                "CurrentTrackMetaData": track.metadata if track else "",
                "NextTrackURI": following.uri if following else "",
                "NextTrackMetaData": following.metadata if following else "",
                "EnqueuedTransportURI": enqueued_uri,
                "EnqueuedTransportURIMetaData": enqueued_metadata,
                "PlaybackStorageMedium": "NETWORK" if transport.uri else "NONE",
                "AVTransportURI": uri,
                "AVTransportURIMetaData": uri_metadata,
                "NextAVTransportURI": "",
                "NextAVTransportURIMetaData": "",
                "CurrentTransportActions": transport.actions(),
                "CurrentValidPlayModes": "CROSSFADE,SHUFFLE,REPEAT,REPEATONE" if tracks else "",
                "DirectControlClientID": "",
                "DirectControlIsSuspended": False,
                "DirectControlAccountID": "",
                "TransportStatus": "OK",
                "SleepTimerGeneration": 0,
                "AlarmRunning": False,
                "SnoozeRunning": False,
                "RestartPending": False,
                "TransportPlaySpeed": "1",
                "CurrentMediaDuration": "",
                "RecordStorageMedium": "NONE",
                "PossiblePlaybackStorageMedia": "NONE, NETWORK",
                "PossibleRecordStorageMedia": "NONE",
                "RecordMediumWriteStatus": "",
                "CurrentRecordQualityMode": "",
                "PossibleRecordQualityModes": "",
            }
        )

    def _own(self, instance_id: int, what: str) -> Any:
        """The transport, when this player may change it (O16: a member may not)."""
        self.instance(instance_id)
        if not self.player.is_coordinator:
            raise UPnPError(701, f"Transition not available: {what} on a group member")
        return self.player.transport

    def _changed(self) -> None:
        self.player.transport_changed()

    # -------------------------------------------------------------- timers

    def next_timer(self) -> float | None:
        """When the playing track ends (O7)."""
        return self.player.transport.deadline() if self.player.is_coordinator else None

    def on_timer(self, now: float) -> None:
        """The track ended: the next one, or stop (O7)."""
        self.player.transport.track_ended(now)
        self._changed()

    # ------------------------------------------------------------- actions

    @action
    def set_av_transport_uri(
        self, instance_id: int, current_uri: str, current_uri_meta_data: str
    ) -> None:
        """SetAVTransportURI (O4, O6)."""
        self.instance(instance_id)
        uri = current_uri.strip()
        if uri.startswith("x-rincon:"):
            try:
                self.player.join(uri.removeprefix("x-rincon:"))
            except TopologyError as exc:
                raise UPnPError(701, f"Transition not available: {exc}") from None
            return
        if not self.player.is_coordinator:
            self.player.leave()
        self.player.transport.load(uri, current_uri_meta_data)
        if uri != self.player.transport.queue_uri:
            self.enqueued = (uri, current_uri_meta_data)
        self._changed()

    @action
    def become_coordinator_of_standalone_group(self, instance_id: int) -> tuple[str, str]:
        """BecomeCoordinatorOfStandaloneGroup (O5)."""
        self.instance(instance_id)
        return self.player.leave()

    @action
    def play(self, instance_id: int, speed: str) -> None:
        """Play (O7, O16)."""
        self.instance(instance_id)
        self.player.coordinator.transport.play(self.clock())  # O16: a member's acts on it
        self.player.coordinator.av_transport._changed()

    @action
    def stop(self, instance_id: int) -> None:
        """Stop (O7, O16)."""
        self.instance(instance_id)
        self.player.coordinator.transport.stop()
        self.player.coordinator.av_transport._changed()

    @action
    def pause(self, instance_id: int) -> None:
        """Pause (O7, O16)."""
        self._own(instance_id, "Pause").pause(self.clock())
        self._changed()

    @action
    def next(self, instance_id: int) -> None:
        """Next (O8, O16)."""
        self._own(instance_id, "Next").step(1, self.clock())
        self._changed()

    @action
    def previous(self, instance_id: int) -> None:
        """Previous (O8, O16)."""
        self._own(instance_id, "Previous").step(-1, self.clock())
        self._changed()

    @action
    def seek(self, instance_id: int, unit: str, target: str) -> None:
        """Seek (O8, O16)."""
        self._own(instance_id, "Seek").seek(unit, target, self.clock())
        self._changed()

    @action
    def set_play_mode(self, instance_id: int, new_play_mode: str) -> None:
        """SetPlayMode (O16 for a member)."""
        from upnpcm.sonos.transport import PLAY_MODES

        if new_play_mode not in PLAY_MODES:
            raise UPnPError(712, f"Play mode {new_play_mode!r} not supported")
        self._own(instance_id, "SetPlayMode").set_play_mode(new_play_mode)
        self._changed()

    @action
    def set_crossfade_mode(self, instance_id: int, crossfade_mode: bool) -> None:
        """SetCrossfadeMode (O16 for a member)."""
        self._own(instance_id, "SetCrossfadeMode").crossfade = crossfade_mode
        self._changed()

    @action
    def get_crossfade_mode(self, instance_id: int) -> bool:
        """GetCrossfadeMode (O16 for a member)."""
        self.instance(instance_id)
        return bool(self.transport.crossfade)

    @action
    def get_transport_info(self, instance_id: int) -> tuple[str, str, str]:
        """GetTransportInfo (O16 for a member)."""
        self.instance(instance_id)
        return str(self.transport.state), "OK", "1"

    @action
    def get_transport_settings(self, instance_id: int) -> tuple[str, str]:
        """GetTransportSettings (O16 for a member)."""
        self.instance(instance_id)
        return self.transport.play_mode, "NOT_IMPLEMENTED"

    @action
    def get_current_transport_actions(self, instance_id: int) -> str:
        """GetCurrentTransportActions (O16 for a member)."""
        self.instance(instance_id)
        return str(self.transport.actions())

    @action
    def get_device_capabilities(self, instance_id: int) -> tuple[str, str, str]:
        """GetDeviceCapabilities (O16 for a member)."""
        self.instance(instance_id)
        return "NONE, NETWORK", "NONE", "NOT_IMPLEMENTED"

    @action
    def get_media_info(self, instance_id: int) -> dict[str, object]:
        """GetMediaInfo (O16 for a member)."""
        self.instance(instance_id)
        inst = self.instance(0)
        return {
            "NrTracks": len(self.transport.tracks()),
            "MediaDuration": "NOT_IMPLEMENTED",
            "CurrentURI": inst["AVTransportURI"],
            "CurrentURIMetaData": inst["AVTransportURIMetaData"],
            "NextURI": "",
            "NextURIMetaData": "",
            "PlayMedium": inst["PlaybackStorageMedium"],
            "RecordMedium": "NONE",
            "WriteStatus": "NOT_IMPLEMENTED",
        }

    @action
    def get_position_info(self, instance_id: int) -> dict[str, object]:
        """GetPositionInfo (O16 for a member)."""
        self.instance(instance_id)
        transport = self.transport
        track = transport.current()
        if track is None:
            return {
                "Track": 0,
                "TrackDuration": "0:00:00",
                "TrackMetaData": "",
                "TrackURI": "",
                "RelTime": "0:00:00",
                "AbsTime": "NOT_IMPLEMENTED",
                "RelCount": 2147483647,
                "AbsCount": 2147483647,
            }
        return {
            "Track": transport.track,
            "TrackDuration": format_time(track.duration),
            "TrackMetaData": track.metadata,
            "TrackURI": track.uri,
            "RelTime": format_time(transport.position(self.clock())),
            "AbsTime": "NOT_IMPLEMENTED",
            "RelCount": 2147483647,
            "AbsCount": 2147483647,
        }

    @action
    def add_uri_to_queue(
        self,
        instance_id: int,
        enqueued_uri: str,
        enqueued_uri_meta_data: str,
        desired_first_track_number_enqueued: int,
        enqueue_as_next: bool,
    ) -> tuple[int, int, int]:
        """AddURIToQueue (O9)."""
        self._queue_owner(instance_id)
        self.enqueued = (enqueued_uri, enqueued_uri_meta_data)  # before the change is published
        return self.player.add_to_queue(
            [track_for(enqueued_uri, enqueued_uri_meta_data)],
            desired=desired_first_track_number_enqueued,
            as_next=enqueue_as_next,
        )

    @action
    def remove_all_tracks_from_queue(self, instance_id: int) -> None:
        """RemoveAllTracksFromQueue (O9)."""
        self._queue_owner(instance_id)
        self.player.clear_queue()

    @action
    def remove_track_range_from_queue(
        self, instance_id: int, update_id: int, starting_index: int, number_of_tracks: int
    ) -> int:
        """RemoveTrackRangeFromQueue (O9)."""
        self._queue_owner(instance_id)
        return self.player.remove_from_queue(starting_index, number_of_tracks)

    @action
    def remove_track_from_queue(self, instance_id: int, object_id: str, update_id: int) -> None:
        """RemoveTrackFromQueue (O9)."""
        self._queue_owner(instance_id)
        number = object_id.rpartition("/")[2]
        if not object_id.startswith("Q:0/") or not number.isdigit():
            raise UPnPError(701, f"No such object {object_id}")
        self.player.remove_from_queue(int(number), 1)

    def _queue_owner(self, instance_id: int) -> Any:
        self.instance(instance_id)
        if not self.player.is_coordinator:
            raise UPnPError(NOT_SUPPORTED, "Command not supported or not a coordinator")
        return self.player.transport


# -------------------------------------------------------------------------- Queue


class Queue(ZoneService):
    """The player's queue as the Queue service sees it (queue 0 only)."""

    data_name = "Queue"
    last_change_namespace = QUEUE_NAMESPACE
    last_change_instance_tag = "QueueID"
    type_aliases = ("urn:schemas-upnp-org:service:Queue:1",)  # I7: how clients address it
    invalid_instance_code = 701

    def __init__(self, player: ZonePlayer) -> None:
        super().__init__(player)
        self.publish()

    def publish(self) -> None:
        """Report the queue's UpdateID."""
        self.instance(0).update(UpdateID=self.player.queue.update_id, Curated=False)

    @action
    def browse(self, queue_id: int, starting_index: int, requested_count: int) -> dict[str, object]:
        """Browse (O9)."""
        self.instance(queue_id)
        tracks = self.player.queue.tracks
        window = _page(tracks, starting_index, requested_count)
        items = [_queue_item(starting_index + i, t) for i, t in enumerate(window, 1)]
        return _browse_answer(items, len(tracks), self.player.queue.update_id)

    @action
    def add_uri(
        self,
        queue_id: int,
        update_id: int,
        enqueued_uri: str,
        enqueued_uri_meta_data: str,
        desired_first_track_number_enqueued: int,
        enqueue_as_next: bool,
    ) -> tuple[int, int, int, int]:
        """AddURI (O9)."""
        self.instance(queue_id)
        first, added, length = self.player.add_to_queue(
            [track_for(enqueued_uri, enqueued_uri_meta_data)],
            desired=desired_first_track_number_enqueued,
            as_next=enqueue_as_next,
        )
        return first, added, length, self.player.queue.update_id

    @action
    def remove_all_tracks(self, queue_id: int, update_id: int) -> int:
        """RemoveAllTracks (O9)."""
        self.instance(queue_id)
        self.player.clear_queue()
        return self.player.queue.update_id

    @action
    def remove_track_range(
        self, queue_id: int, update_id: int, starting_index: int, number_of_tracks: int
    ) -> int:
        """RemoveTrackRange (O9)."""
        self.instance(queue_id)
        return self.player.remove_from_queue(starting_index, number_of_tracks)
