"""A household's zone groups: who plays with whom, and the ZoneGroupState every player reports.

Pure: no I/O; randomness (the numbers of new group IDs) comes from a
:class:`random.Random` given to the constructor. The household
(:mod:`upnpcm.sonos.household`) owns one :class:`Topology` and tells every
player's ZoneGroupTopology service when it changed.

Rules
-----
O2  Every player is in exactly one group. A group's coordinator is one of its
    members and is listed first; its ID is ``<coordinator UUID>:<number>``,
    kept while that player stays its coordinator.
O3  The ZoneGroupState is one line of XML in the ``<ZoneGroupState>
    <ZoneGroups>…</ZoneGroups><VanishedDevices>…</VanishedDevices>
    </ZoneGroupState>`` form (node-sonos-ts reads no other), every attribute
    a client reads present (``Location`` with an explicit port, ``BootSeq``),
    the same document on every player. A player that is offline is listed
    under VanishedDevices instead: it has left its group (O5), so what its
    group's members report agrees with the ZoneGroupState.
O4  Joining (``x-rincon:<UUID>``) makes a player a member of that player's
    group, its coordinator's when it is a member itself; a coordinator that
    leaves hands its other members to the first of them, which becomes their
    coordinator. Joining oneself, or one's own group, changes nothing; an
    unknown or offline player cannot be joined, nor join.
O5  Leaving (BecomeCoordinatorOfStandaloneGroup) makes the player a group of
    its own with a new ID; it names the member that took over the group it
    left, if it coordinated one. A player alone already stays as it is.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from upnpcm.core.xml import escape_attr

__all__ = ["Member", "Topology", "TopologyError"]

#: The member attributes every player reports that the household does not vary.
_FIXED: Final = (
    ("Configuration", "1"),
    ("SWGen", "2"),
)
_AFTER_BOOT: Final = (
    ("TVConfigurationError", "0"),
    ("HdmiCecAvailable", "0"),
    ("WirelessMode", "0"),
    ("WirelessLeafOnly", "0"),
    ("ChannelFreq", "2412"),
    ("BehindWifiExtender", "0"),
    ("WifiEnabled", "1"),
    ("EthLink", "1"),
    ("Orientation", "0"),
    ("RoomCalibrationState", "4"),
    ("SecureRegState", "3"),
    ("VoiceConfigState", "0"),
    ("MicEnabled", "0"),
    ("HeadphoneSwapActive", "0"),
    ("AirPlayEnabled", "0"),
    ("IdleState", "1"),
    ("MoreInfo", ""),
    ("SSLPort", "1443"),
    ("HHSSLPort", "1843"),
)


class TopologyError(Exception):
    """A grouping request the household refuses (the player or its target is unknown or offline)."""


@dataclass(slots=True, kw_only=True)
class Member:
    """One player as the ZoneGroupState lists it."""

    uuid: str
    location: str
    zone_name: str
    software_version: str
    min_compatible_version: str = "84.0-00000"
    legacy_compatible_version: str = "58.0-00000"
    boot_seq: int = 1
    icon: str = ""
    online: bool = True

    def attributes(self) -> list[tuple[str, str]]:
        """The ``ZoneGroupMember`` attributes, in a zone player's order."""
        return [
            ("UUID", self.uuid),
            ("Location", self.location),
            ("ZoneName", self.zone_name),
            ("Icon", self.icon),
            _FIXED[0],
            ("SoftwareVersion", self.software_version),
            _FIXED[1],
            ("MinCompatibleVersion", self.min_compatible_version),
            ("LegacyCompatibleVersion", self.legacy_compatible_version),
            ("BootSeq", str(self.boot_seq)),
            *_AFTER_BOOT,
        ]


@dataclass(slots=True)
class _Group:
    coordinator: str
    number: int
    members: list[str] = field(default_factory=list)


class Topology:
    """The groups of one household (rules O2-O5); ``version`` counts its changes."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._members: dict[str, Member] = {}
        self._groups: dict[str, _Group] = {}  # by coordinator UUID
        self._group_of: dict[str, str] = {}  # member UUID -> coordinator UUID
        #: Bumped by every change of what the ZoneGroupState says.
        self.version = 0

    # ---------------------------------------------------------------- reading

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._members

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def member(self, uuid: str) -> Member:
        """The player ``uuid``.

        Raises:
            KeyError: not in this household.
        """
        return self._members[uuid]

    def coordinator_of(self, uuid: str) -> str:
        """The UUID of the coordinator of ``uuid``'s group (itself when it coordinates)."""
        return self._group_of[uuid]

    def is_coordinator(self, uuid: str) -> bool:
        """Whether ``uuid`` coordinates its group."""
        return self._group_of[uuid] == uuid

    def group_members(self, uuid: str) -> list[str]:
        """The members of ``uuid``'s group, the coordinator first (O2)."""
        return list(self._groups[self._group_of[uuid]].members)

    def group_id(self, uuid: str) -> str:
        """The ID of ``uuid``'s group: ``<coordinator>:<number>`` (O2)."""
        group = self._groups[self._group_of[uuid]]
        return f"{group.coordinator}:{group.number}"

    def group_name(self, uuid: str) -> str:
        """The group's name: its coordinator's room."""
        return self._members[self._group_of[uuid]].zone_name

    def zone_group_state(self) -> str:
        """The household's ZoneGroupState document, one line (O3)."""
        parts = ["<ZoneGroupState><ZoneGroups>"]
        for coordinator, group in self._groups.items():
            online = [uuid for uuid in group.members if self._members[uuid].online]
            if not online:
                continue
            lead = coordinator if coordinator in online else online[0]
            parts.append(
                f'<ZoneGroup Coordinator="{escape_attr(lead)}" '
                f'ID="{escape_attr(f"{lead}:{group.number}")}">'
            )
            for uuid in online:
                attributes = " ".join(
                    f'{name}="{escape_attr(value)}"'
                    for name, value in self._members[uuid].attributes()
                )
                parts.append(f"<ZoneGroupMember {attributes}/>")
            parts.append("</ZoneGroup>")
        parts.append("</ZoneGroups><VanishedDevices>")
        parts.extend(
            f'<Device UUID="{escape_attr(member.uuid)}" '
            f'ZoneName="{escape_attr(member.zone_name)}" Reason="powered off"/>'
            for member in self._members.values()
            if not member.online
        )
        parts.append("</VanishedDevices></ZoneGroupState>")
        return "".join(parts)

    # ---------------------------------------------------------------- changes

    def add(self, member: Member) -> None:
        """A new player, in a group of its own.

        Raises:
            ValueError: a player with that UUID is already here.
        """
        if member.uuid in self._members:
            raise ValueError(f"{member.uuid} is already in the household")
        self._members[member.uuid] = member
        self._new_group(member.uuid, [member.uuid])
        self.version += 1

    def update(self, uuid: str, **values: object) -> None:
        """Change what the ZoneGroupState says of ``uuid`` (room name, BootSeq, Location, …)."""
        member = self._members[uuid]
        changed = False
        for name, value in values.items():
            if getattr(member, name) != value:
                setattr(member, name, value)
                changed = True
        if changed:
            self.version += 1

    def join(self, uuid: str, target: str) -> bool:
        """``uuid`` joins ``target``'s group (O4); True if anything changed.

        Raises:
            TopologyError: ``uuid`` or ``target`` unknown or offline.
        """
        if uuid not in self._members:
            raise TopologyError(f"{uuid} is not in this household")
        if not self._members[uuid].online:  # O3: an offline player is in no group
            raise TopologyError(f"{uuid} is offline")
        if target not in self._members:
            raise TopologyError(f"no player {target} in this household")
        if not self._members[target].online:
            raise TopologyError(f"{target} is offline")
        coordinator = self._group_of[target]
        if self._group_of[uuid] == coordinator:
            return False
        self._detach(uuid)
        group = self._groups[coordinator]
        group.members.append(uuid)
        self._group_of[uuid] = coordinator
        self.version += 1
        return True

    def leave(self, uuid: str) -> tuple[str, str]:
        """``uuid`` becomes a group of its own (O5): (the member that took over, "" if none; new group ID).

        Raises:
            TopologyError: ``uuid`` unknown.
        """
        if uuid not in self._members:
            raise TopologyError(f"{uuid} is not in this household")
        current = self._groups[self._group_of[uuid]]
        if current.members == [uuid]:
            return "", self.group_id(uuid)
        delegated = self._detach(uuid)
        self._new_group(uuid, [uuid])
        self.version += 1
        return delegated, self.group_id(uuid)

    def set_online(self, uuid: str, online: bool) -> None:
        """A player left the network or came back (O3: VanishedDevices meanwhile, out of its group)."""
        if not online and self._members[uuid].online:
            self.leave(uuid)
        self.update(uuid, online=online)

    # --------------------------------------------------------------- internals

    def _new_group(self, coordinator: str, members: list[str]) -> None:
        number = self._rng.randrange(10**9, 2**32)
        self._groups[coordinator] = _Group(coordinator, number, members)
        for uuid in members:
            self._group_of[uuid] = coordinator

    def _detach(self, uuid: str) -> str:
        """Take ``uuid`` out of its group; the member that takes over a group it led, or ""."""
        coordinator = self._group_of[uuid]
        group = self._groups[coordinator]
        group.members.remove(uuid)
        del self._group_of[uuid]
        if coordinator != uuid:
            return ""
        del self._groups[coordinator]
        if not group.members:
            return ""
        heir = group.members[0]
        self._groups[heir] = _Group(heir, group.number, group.members)
        for member in group.members:
            self._group_of[member] = heir
        return heir
