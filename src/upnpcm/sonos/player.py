"""One zone player: its services composed into a ZonePlayer device, and what it does as a speaker.

A :class:`ZonePlayer` belongs to a :class:`~upnpcm.sonos.model.HouseholdModel`
and is laid out as a Sonos Playbar on S2 firmware lays itself out: a
``ZonePlayer:1`` root (``uuid:RINCON_<MAC>01400``) holding AlarmClock,
MusicServices, DeviceProperties, SystemProperties, ZoneGroupTopology,
GroupManagement, HTControl and QPlay, an embedded MediaServer (``…_MS``:
ContentDirectory, ConnectionManager) and MediaRenderer (``…_MR``:
RenderingControl, ConnectionManager, AVTransport, Queue,
GroupRenderingControl, VirtualLineIn), every SCPD and URL as captured, and
the description elements Sonos clients read (rule O1). Besides what its
services answer, a player can be used "as a person would": the volume
buttons, play/pause, the next track (:meth:`ZonePlayer.press_volume` …),
whose changes reach subscribers as any other change.

O1  A player's description is a zone player's: ``ZonePlayer:1`` with
    ``…_MS`` and ``…_MR``, the Sonos elements clients read (displayVersion
    ``16.x``, roomName, displayName, zoneType, swGen 2, softwareVersion,
    serialNum with its ``:``, MACAddress under a Sonos OUI, an icon), no
    URLBase; every SCPD served as ``text/xml``; SSDP and HTTP ``Server``
    ``Linux UPnP/1.0 Sonos/<version> (ZP<model>)`` with the household's
    ``X-RINCON-*`` headers and ``BOOTID.UPNP.ORG`` = ``X-RINCON-BOOTSEQ``.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from upnpcm.core.device import Resource
from upnpcm.errors import UPnPError
from upnpcm.hosting import Device, Icon, Service, device_spec
from upnpcm.sonos.identity import PlayerIdentity
from upnpcm.sonos.services import (
    AlarmClock,
    AVTransport,
    ContentDirectory,
    DeviceProperties,
    GroupRenderingControl,
    Queue,
    RenderingControl,
    ZoneConnectionManager,
    ZoneGroupTopology,
    ZoneService,
    inert_service,
)
from upnpcm.sonos.topology import Member
from upnpcm.sonos.transport import Queue as TrackQueue
from upnpcm.sonos.transport import Track, Transport, TransportState

if TYPE_CHECKING:
    from upnpcm.host import DeviceHost
    from upnpcm.profiles.base import DeviceSpec
    from upnpcm.settings import DeviceSettings
    from upnpcm.sonos.model import HouseholdModel
    from upnpcm.state import StateStore

__all__ = ["SONOS_GENA", "ZONE_PLAYER", "ZonePlayer", "sonos_sid"]

ZONE_PLAYER: Final = "urn:schemas-upnp-org:device:ZonePlayer:1"
DESCRIPTION_PATH: Final = "/xml/device_description.xml"
#: GENA grants of a zone player: 32 subscriptions per service, up to 86400 s (86400 when
#: none is asked). Any [gena] value the user gives wins.
SONOS_GENA: Final[Mapping[str, int]] = {
    "min_timeout": 60,
    "max_timeout": 86400,
    "default_timeout": 86400,
    "max_subscriptions": 32,
    "max_per_peer": 8,
}
#: Seconds after which an initial NOTIFY that met a refused connection is sent again
#: (rule T4: node-sonos-ts starts its listener only after the SUBSCRIBE answer, and on
#: a busy machine that took longer than the 0.3 s this once was).
INITIAL_EVENT_RETRY: Final = 1.0
#: What a zone player's MediaRenderer accepts (its ConnectionManager's Sink list).
_SINK_FILE: Final = "MediaRenderer-Sink.txt"
#: The MediaServer's Source list a zone player is reported to serve (CM:1 §2.2.1).
SONOS_MS_SOURCE: Final = (
    "file:*:audio/mpegurl:*,x-file-cifs:*:*:*,x-rincon:*:*:*,x-rincon-mp3radio:*:*:*,"
    "x-rincon-playlist:*:*:*,x-rincon-queue:*:*:*,x-rincon-stream:*:*:*"
)


def sonos_sid(entropy: int) -> str:
    """A Sonos-shaped SID (``uuid:RINCON_…_sub…``) whose tail is 20 random digits, not a counter."""
    return f"uuid:RINCON_{entropy >> 100:07X}01400_sub{entropy % 10**20:020d}"


def default_sink() -> str:
    """The Sink list a zone player reports (trailing comma included)."""
    from importlib.resources import files

    return files("upnpcm.data").joinpath("sonos", _SINK_FILE).read_text(encoding="utf-8")


class ZonePlayer:
    """One player of a household (rule O1); see the module docstring.

    Args:
        model: the household it belongs to.
        identity: its UDN, room and versions.
        address, port: where it is reached (its ZoneGroupState ``Location``);
            :meth:`came_up` tells it when that changes.
        clock: monotonic seconds (the device core's clock).
        sink, source: the ConnectionManagers' lists (default: a zone player's).
        connection_info_faults: GetCurrentConnectionInfo faults as a zone player's.
        volume: the start volume.
    """

    def __init__(
        self,
        model: HouseholdModel,
        identity: PlayerIdentity,
        *,
        address: str = "",
        port: int = 1400,
        clock: Callable[[], float] = time.monotonic,
        sink: str | None = None,
        source: str = SONOS_MS_SOURCE,
        connection_info_faults: bool = True,
        volume: int = 20,
    ) -> None:
        self.model = model
        self.identity = identity
        self.address = address
        self.port = port
        self.clock = clock
        self.queue = TrackQueue()
        self.transport = Transport(self.queue, f"x-rincon-queue:{identity.uid}#0")
        self._room = identity.room
        model.topology.add(
            Member(
                uuid=identity.uid,
                location=self.location,
                zone_name=identity.room,
                software_version=identity.software_version,
                min_compatible_version=identity.min_compatible_version,
                legacy_compatible_version=identity.legacy_compatible_version,
            )
        )
        self.device_properties = DeviceProperties(self)
        self.zone_group_topology = ZoneGroupTopology(self)
        self.alarm_clock = AlarmClock(self)
        self.content_directory = ContentDirectory(self)
        self.rendering_control = RenderingControl(self, volume=volume)
        self.group_rendering_control = GroupRenderingControl(self)
        self.queue_service = Queue(self)
        self.group_management = inert_service(self, "GroupManagement", GroupCoordinatorIsLocal=True)
        uid = identity.uid
        sink_list = default_sink() if sink is None else sink
        self.renderer_cm = ZoneConnectionManager(
            source="",
            sink=sink_list,
            connection_info_faults=connection_info_faults,
            prefix="MediaRenderer",
        )
        self.server_cm = ZoneConnectionManager(
            source=source,
            sink="",
            connection_info_faults=connection_info_faults,
            prefix="MediaServer",
        )
        root_services: list[ZoneService] = [
            self.alarm_clock,
            inert_service(self, "MusicServices", ServiceListVersion=f"{uid}:1"),
            self.device_properties,
            inert_service(self, "SystemProperties", UpdateID=1, UpdateIDX=1, VoiceUpdateID=1),
            self.zone_group_topology,
            self.group_management,
            inert_service(self, "HTControl", IRRepeaterState="Off"),
            inert_service(self, "QPlay"),
        ]
        self.av_transport = AVTransport(self, clock=clock)
        self.device = Device(
            device_type=ZONE_PLAYER,
            friendly_name=self._friendly_name(),
            udn=identity.udn,
            manufacturer="Sonos, Inc.",
            manufacturer_url="http://www.sonos.com",
            model_number=identity.model_number,
            model_description=f"{identity.model_name} (emulated by upnpcm)",
            model_name=identity.model_name,
            model_url=f"http://www.sonos.com/products/zoneplayers/{identity.model_number}",
            icons=(Icon(mimetype="image/png", width=48, height=48, depth=24, url=self.icon_path),),
            extras=self._extras(),
            services=root_services,
            devices=[
                self._embedded("MediaServer", "MS", [self.content_directory, self.server_cm]),
                self._embedded(
                    "MediaRenderer",
                    "MR",
                    [
                        self.rendering_control,
                        self.renderer_cm,
                        self.av_transport,
                        self.queue_service,
                        self.group_rendering_control,
                        inert_service(self, "VirtualLineIn"),
                    ],
                ),
            ],
        )
        model.add(self)

    # ------------------------------------------------------------------ identity

    @property
    def uid(self) -> str:
        """``RINCON_…01400``."""
        return self.identity.uid

    @property
    def room(self) -> str:
        """The room (zone) name, as renamed."""
        return self._room

    @property
    def icon_path(self) -> str:
        """Where the icon is served."""
        return f"/img/icon-{self.identity.model_number}.png"

    @property
    def location(self) -> str:
        """The description's URL, with an explicit port (rule O3)."""
        host = self.address or "127.0.0.1"
        return f"http://{host}:{self.port}{DESCRIPTION_PATH}"

    def _embedded(self, kind: str, suffix: str, services: list[Service]) -> Device:
        """The embedded MediaServer (``…_MS``) or MediaRenderer (``…_MR``)."""
        identity = self.identity
        return Device(
            device_type=f"urn:schemas-upnp-org:device:{kind}:1",
            friendly_name=f"{self._friendly_name()} {kind.replace('Media', 'Media ')}",
            udn=f"{identity.udn}_{suffix}",
            manufacturer="Sonos, Inc.",
            model_name=identity.model_name,
            model_number=identity.model_number,
            services=services,
        )

    def _friendly_name(self) -> str:
        where = self.address or self.identity.room
        return f"{where} - Sonos {self.identity.display_name}"

    def _extras(self) -> tuple[tuple[str, str], ...]:
        identity = self.identity
        return (
            ("softwareVersion", identity.software_version),
            ("swGen", "2"),
            ("hardwareVersion", identity.hardware_version),
            ("serialNum", identity.serial),
            ("MACAddress", identity.mac),
            ("minCompatibleVersion", identity.min_compatible_version),
            ("legacyCompatibleVersion", identity.legacy_compatible_version),
            ("apiVersion", "1.39.1"),
            ("minApiVersion", "1.1.0"),
            ("displayVersion", identity.display_version),
            ("extraVersion", ""),
            ("nsVersion", ""),
            ("roomName", self._room),
            ("displayName", identity.display_name),
            ("zoneType", "10"),
            ("feature1", "0x00008000"),
            ("feature2", "0x30206772"),
            ("feature3", "0x00031008"),
            ("seriesid", "A100"),
            ("variant", "2"),
            ("internalSpeakerSize", "6"),
            ("memory", "128"),
            ("flash", "128"),
            ("ampOnTime", "425"),
            ("retailMode", "0"),
            ("SSLPort", "1443"),
            ("securehhSSLPort", "1843"),
            ("householdControlID", self.model.household_id),
        )

    # ------------------------------------------------------------------- hosting

    def spec(self, settings: DeviceSettings, store: StateStore) -> DeviceSpec:
        """What a :class:`~upnpcm.host.DeviceHost` serves for this player (O1)."""
        from upnpcm.profiles.base import gena_policy

        spec = device_spec(
            self.device,
            settings,
            store,
            profile="sonos",
            server_header=self.identity.server_header,
            description_path=DESCRIPTION_PATH,
            resources={
                self.icon_path: Resource(content_type="image/png", body=_icon_png()),
                "/status": Resource(content_type="text/plain; charset=utf-8", body=self.status),
            },
        )
        return replace(
            spec,
            gena_policy=gena_policy(
                settings, defaults=SONOS_GENA, sid_format=sonos_sid, xml_declaration=False
            ),
            default_port=1400,
            ssdp_headers={
                "X-RINCON-HOUSEHOLD": self.model.household_id,
                "X-RINCON-BOOTSEQ": "{boot_id}",
                "X-RINCON-WIFIMODE": "1",
                "X-RINCON-VARIANT": "2",
                "HOUSEHOLD.SMARTSPEAKER.AUDIO": self.model.muse_household_id,
            },
            ssdp_config_id=False,
            cache_control="max-age = 1800",
            gena_headers=(("Connection", "close"),),
            initial_event_retry=INITIAL_EVENT_RETRY,
            on_up=self._host_up,
        )

    def _host_up(self, host: DeviceHost) -> None:
        """Its host (re)started: where it is now, and its BOOTID (O3)."""
        if not self.address:  # served on every address: report one a client can use
            self.address = _reachable([ip for ip, _ in host.server.addresses])
        self.came_up(port=host.port, boot_seq=host.boot_id or 1)

    def status(self) -> bytes:
        """The body of ``/status``: who this is and what it is doing."""
        lines = [
            "upnpcm - sonos profile (an emulated zone player)",
            f"room: {self.room}",
            f"UDN: {self.identity.udn}",
            f"household: {self.model.household_id}",
            f"software version (reported): {self.identity.software_version}",
            f"group: {self.model.topology.group_id(self.uid)}",
            f"transport: {self.coordinator.transport.state}",
            f"volume: {self.rendering_control.volume}",
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def came_up(self, *, port: int, boot_seq: int) -> None:
        """It (re)started on ``port`` with BOOTID ``boot_seq``: its Location and BootSeq (O3)."""
        self.port = port
        self.model.topology.update(self.uid, location=self.location, boot_seq=boot_seq)
        self.model.topology_changed()

    def restarted(self) -> None:
        """It rebooted: it plays nothing until told to (a group it coordinates stops too)."""
        self.transport.stop()
        self.transport_changed()

    def set_online(self, online: bool) -> None:
        """It left the network or came back (VanishedDevices meanwhile, O3)."""
        self.model.topology.set_online(self.uid, online)
        self.model.topology_changed()

    # ------------------------------------------------------------------- groups

    @property
    def is_coordinator(self) -> bool:
        """Whether it coordinates its group."""
        return self.model.topology.is_coordinator(self.uid)

    @property
    def coordinator(self) -> ZonePlayer:
        """Its group's coordinator (itself when it coordinates)."""
        return self.model.player(self.model.topology.coordinator_of(self.uid))

    def group_players(self) -> list[ZonePlayer]:
        """The players of its group, the coordinator first."""
        return [self.model.player(uid) for uid in self.model.topology.group_members(self.uid)]

    def join(self, target: str) -> None:
        """Join ``target``'s group (O4), at once: clients ask again right after the answer.

        Its own transport stops: it plays what its new group plays (O16).

        Raises:
            TopologyError: ``target`` is unknown or offline.
        """
        if self.model.topology.join(self.uid, target):
            self.transport.stop()
            self.model.topology_changed()

    def leave(self) -> tuple[str, str]:
        """Become a group of its own (O5): (the player that took over, "" if none; the new group ID).

        Each player keeps its own transport: the one that leaves goes on with
        what it was playing, a member that leaves starts stopped.
        """
        delegated, group_id = self.model.topology.leave(self.uid)
        self.model.topology_changed()
        return delegated, group_id

    def rename(self, room: str) -> None:
        """SetZoneAttributes: a new room name, reported everywhere it appears."""
        self._room = room
        self.device_properties.state["ZoneName"] = room
        self.model.topology.update(self.uid, zone_name=room)
        self.model.topology_changed()

    # ---------------------------------------------------------- change fan-out

    def topology_changed(self) -> None:
        """O10: this player's services that report the topology follow it."""
        self.zone_group_topology.refresh()
        self.group_management.state.update(
            GroupCoordinatorIsLocal=self.is_coordinator,
            LocalGroupUUID=self.model.topology.group_id(self.uid),
        )
        self.group_rendering_control.refresh()
        self.av_transport.publish()

    def transport_changed(self) -> None:
        """The group's transport changed: every member reports it (O16)."""
        for player in self.coordinator.group_players():
            player.av_transport.publish()

    def levels_changed(self) -> None:
        """A volume or mute changed: the group's volume follows (O15)."""
        for player in self.group_players():
            player.group_rendering_control.refresh()

    def queue_changed(self) -> None:
        """The queue changed: its UpdateID, and a transport playing it (O9)."""
        self.transport.queue_changed()
        self.queue_service.publish()
        self.content_directory.state["ContainerUpdateIDs"] = f"Q:0,{self.queue.update_id}"
        self.transport_changed()

    # -------------------------------------------------------------------- queue

    def add_to_queue(
        self, tracks: list[Track], *, desired: int, as_next: bool
    ) -> tuple[int, int, int]:
        """Insert tracks (O9): (first track number, number added, new length)."""
        playing = self.transport.track if self.transport.on_queue else 0
        answer = self.queue.add(tracks, desired=desired, as_next=as_next, current=playing)
        if self.transport.on_queue and 0 < answer[0] <= self.transport.track:
            self.transport.track += answer[1]  # the track being played moved down
        self.queue_changed()
        return answer

    def clear_queue(self) -> None:
        """Empty the queue (O9)."""
        self.queue.clear()
        self.queue_changed()

    def remove_from_queue(self, start: int, count: int) -> int:
        """Remove tracks ``start`` … (1-based, O9); the new UpdateID."""
        self.queue.remove(start, count)
        if self.transport.on_queue and self.transport.track >= start + count:
            self.transport.track -= count
        elif self.transport.on_queue and self.transport.track >= start:
            self.transport.current_removed(self.clock())
        self.queue_changed()
        return self.queue.update_id

    # ---------------------------------------------------- as a person uses it

    def press_volume(self, volume: int) -> None:
        """Turn the volume to ``volume`` on the speaker itself (0-100)."""
        if not 0 <= volume <= 100:
            raise ValueError("a volume is 0..100")
        self.rendering_control.set_level("Volume", volume, "Master")

    def press_mute(self, mute: bool) -> None:
        """Mute or unmute on the speaker itself."""
        self.rendering_control.set_level("Mute", mute, "Master")

    def press_play_pause(self) -> str:
        """The play/pause button: the group's transport plays or pauses; the new state."""
        coordinator = self.coordinator
        transport = coordinator.transport
        if transport.state is TransportState.PLAYING:
            transport.pause(self.clock())
        else:
            try:
                transport.play(self.clock())
            except UPnPError:
                return str(transport.state)  # nothing to play: the button does nothing
        coordinator.transport_changed()
        return str(transport.state)

    def press_next(self) -> None:
        """Skip to the next track (a swipe on the speaker); nothing when there is none."""
        coordinator = self.coordinator
        try:
            coordinator.transport.step(1, self.clock())
        except UPnPError:
            return
        coordinator.transport_changed()

    def play_uri(self, uri: str, metadata: str = "") -> None:
        """Start playing ``uri`` as if chosen in the Sonos app (a track change)."""
        if not self.is_coordinator:
            self.leave()
        self.transport.load(uri, metadata)
        self.av_transport.enqueued = (uri, metadata)
        self.transport.play(self.clock())
        self.transport_changed()


def _reachable(bound: list[str]) -> str:
    """An IPv4 address a client can reach a server bound to ``bound`` on (not loopback, if any)."""
    import ipaddress

    from upnpcm.aio.ssdp import reachable_addresses

    found = [ip for ip in reachable_addresses(bound) if ":" not in ip]
    outside = [ip for ip in found if not ipaddress.ip_address(ip).is_loopback]
    return (outside or found or ["127.0.0.1"])[0]


@lru_cache(maxsize=1)
def _icon_png() -> bytes:
    """A 48x48 24-bit PNG (the icon the description lists)."""
    width = height = 48
    rows = b"".join(b"\x00" + bytes((0x20, 0x20, 0x20)) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
