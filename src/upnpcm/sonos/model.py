"""What a household's players share: topology, alarms, favourites, and who is told of changes.

Pure (no I/O). :class:`HouseholdModel` holds the players
(:class:`~upnpcm.sonos.player.ZonePlayer`) of one household and the state
that is the household's rather than one player's; whenever it changes, every
player's services concerned are told, so their subscribers hear of it
(rules O10, O13).

O10 Every change of the topology is evented to every ZoneGroupTopology
    subscriber of every player (``ZoneGroupState``; the group's name, ID and
    members on the players whose group changed), and each player's
    GroupManagement, GroupRenderingControl and transport follow it.
O13 Alarms belong to the household: every player lists the same alarms.
    CreateAlarm for a room that has an alarm at that start time is 801;
    UpdateAlarm and DestroyAlarm of an unknown ID 800. ``AlarmListVersion``
    is ``<UUID>:<n>``, ``n`` increased by every change, evented on every player.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from upnpcm.core.didl import DC_NS, DIDL_NS, UPNP_NS
from upnpcm.core.xml import escape_attr, escape_text
from upnpcm.errors import UPnPError
from upnpcm.sonos.identity import household_id, muse_household_id
from upnpcm.sonos.topology import Topology
from upnpcm.sonos.transport import RINCON_NS

if TYPE_CHECKING:
    from upnpcm.sonos.player import ZonePlayer

__all__ = ["DEFAULT_FAVOURITES", "Alarm", "Alarms", "Favourite", "HouseholdModel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Favourite:
    """One Sonos favourite (``FV:2``): what it plays and how it is shown."""

    title: str
    uri: str
    metadata: str = ""
    description: str = ""
    album_art: str = ""

    def didl(self, index: int) -> str:
        """The ``<item>`` of a ``FV:2`` Browse result (escaped once inside ``r:resMD``)."""
        resource_md = self.metadata or (
            f'<DIDL-Lite xmlns:dc="{DC_NS}" xmlns:upnp="{UPNP_NS}" xmlns:r="{RINCON_NS}" '
            f'xmlns="{DIDL_NS}"><item id="F00092020{index}" parentID="F00082064" '
            f'restricted="true"><dc:title>{escape_text(self.title)}</dc:title>'
            "<upnp:class>object.item.audioItem.audioBroadcast</upnp:class>"
            f'<desc id="cdudn" nameSpace="{RINCON_NS}">SA_RINCON65031_</desc></item></DIDL-Lite>'
        )
        art = (
            f"<upnp:albumArtURI>{escape_text(self.album_art)}</upnp:albumArtURI>"
            if self.album_art
            else ""
        )
        return (
            f'<item id="FV:2/{index}" parentID="FV:2" restricted="false">'
            f"<dc:title>{escape_text(self.title)}</dc:title>"
            "<upnp:class>object.itemobject.item.sonos-favorite</upnp:class>"
            f"<r:ordinal>{index - 1}</r:ordinal>"
            f'<res protocolInfo="{escape_attr(_protocol(self.uri))}">{escape_text(self.uri)}</res>'
            f"{art}<r:type>instantPlay</r:type>"
            f"<r:description>{escape_text(self.description)}</r:description>"
            f"<r:resMD>{escape_text(resource_md)}</r:resMD></item>"
        )


def _protocol(uri: str) -> str:
    scheme = uri.partition(":")[0].lower()
    return "http-get:*:audio/mpeg:*" if scheme in ("http", "https") else f"{scheme}:*:*:*"


#: Favourites a household has unless told otherwise: URIs nobody fetches.
DEFAULT_FAVOURITES: Final = (
    Favourite(
        title="upnpcm radio",
        uri="x-rincon-mp3radio://radio.invalid/stream.mp3",
        description="Radio station",
    ),
    Favourite(
        title="upnpcm test tone",
        uri="http://127.0.0.1/tone.mp3",
        description="Track",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """One alarm, with the attributes ListAlarms reports (all of them: SoCo needs each)."""

    id: int
    start_time: str
    duration: str
    recurrence: str
    enabled: bool
    room_uuid: str
    program_uri: str
    program_metadata: str
    play_mode: str
    volume: int
    include_linked_zones: bool

    def xml(self) -> str:
        """The ``<Alarm …/>`` element of ``CurrentAlarmList``."""
        pairs = (
            ("ID", str(self.id)),
            ("StartTime", self.start_time),
            ("Duration", self.duration),
            ("Recurrence", self.recurrence),
            ("Enabled", "1" if self.enabled else "0"),
            ("RoomUUID", self.room_uuid),
            ("ProgramURI", self.program_uri),
            ("ProgramMetaData", self.program_metadata),
            ("PlayMode", self.play_mode),
            ("Volume", str(self.volume)),
            ("IncludeLinkedZones", "1" if self.include_linked_zones else "0"),
        )
        return "<Alarm " + " ".join(f'{k}="{escape_attr(v)}"' for k, v in pairs) + "/>"


@dataclass(slots=True)
class Alarms:
    """The household's alarms (O13)."""

    owner: str = ""
    items: dict[int, Alarm] = field(default_factory=dict)
    version: int = 0
    next_id: int = 1

    @property
    def list_version(self) -> str:
        """``AlarmListVersion``: ``<UUID>:<n>``."""
        return f"{self.owner}:{self.version}"

    def list_xml(self) -> str:
        """``CurrentAlarmList``: ``<Alarms>…</Alarms>``, one line."""
        return "<Alarms>" + "".join(a.xml() for a in self.items.values()) + "</Alarms>"

    def create(self, alarm: Alarm) -> int:
        """Add ``alarm`` under a new ID; return it (O13: 801 for a taken start time)."""
        self._check_free(alarm, ignore=None)
        assigned = self.next_id
        self.next_id += 1
        self.items[assigned] = replace(alarm, id=assigned)
        self.version += 1
        return assigned

    def update(self, alarm: Alarm) -> None:
        """Replace the alarm with ``alarm.id`` (O13: 800 when there is none)."""
        if alarm.id not in self.items:
            raise UPnPError(800, f"no alarm {alarm.id}")
        self._check_free(alarm, ignore=alarm.id)
        self.items[alarm.id] = alarm
        self.version += 1

    def destroy(self, alarm_id: int) -> None:
        """Remove alarm ``alarm_id`` (O13: 800 when there is none)."""
        if self.items.pop(alarm_id, None) is None:
            raise UPnPError(800, f"no alarm {alarm_id}")
        self.version += 1

    def _check_free(self, alarm: Alarm, *, ignore: int | None) -> None:
        for other in self.items.values():
            if (
                other.id != ignore
                and other.room_uuid == alarm.room_uuid
                and other.start_time == alarm.start_time
            ):
                raise UPnPError(801, "Duplicate alarm time")


class HouseholdModel:
    """One household's shared state and its players (O10, O13)."""

    def __init__(
        self,
        *,
        household: str | None = None,
        favourites: Iterable[Favourite] = DEFAULT_FAVOURITES,
        rng: random.Random | None = None,
    ) -> None:
        self.rng = rng or random.Random()
        self.household_id = household or household_id(self.rng)
        self.muse_household_id = muse_household_id(self.household_id)
        self.topology = Topology(self.rng)
        self.alarms = Alarms()
        self.favourites = tuple(favourites)
        self._players: dict[str, ZonePlayer] = {}

    def __iter__(self) -> Iterator[ZonePlayer]:
        return iter(self._players.values())

    def __len__(self) -> int:
        return len(self._players)

    def player(self, uid: str) -> ZonePlayer:
        """The player whose UUID (``RINCON_…``) is ``uid``.

        Raises:
            KeyError: not in this household.
        """
        return self._players[uid]

    def add(self, player: ZonePlayer) -> None:
        """Register ``player`` (it has added itself to the topology)."""
        self._players[player.uid] = player
        if not self.alarms.owner:
            self.alarms.owner = player.uid
        self.topology_changed()
        self.alarms_changed()

    def topology_changed(self) -> None:
        """O10: every player's services that report the topology follow it."""
        for player in self._players.values():
            player.topology_changed()

    def alarms_changed(self) -> None:
        """O13: every player reports the new alarm list version."""
        for player in self._players.values():
            player.alarm_clock.refresh()
