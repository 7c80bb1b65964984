"""How the players of a household are made: their options and their identities.

Shared by the ``sonos`` profile (one player under a plain
:class:`~upnpcm.host.DeviceHost`) and :class:`~upnpcm.sonos.household.Household`;
``[profile_options]`` are read into a :class:`ZoneOptions` by
:func:`upnpcm.profiles.sonos.zone_options`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Final

from upnpcm.errors import ConfigError
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.sonos.identity import PlayerIdentity, is_rincon_udn, rincon_udn
from upnpcm.sonos.model import HouseholdModel
from upnpcm.sonos.player import SONOS_MS_SOURCE, ZonePlayer
from upnpcm.state import StateStore

__all__ = ["DEFAULT_ROOMS", "ZoneOptions", "make_player"]

#: Room names of players 1, 2, … unless given.
DEFAULT_ROOMS: Final = (
    "Living Room",
    "Kitchen",
    "Bedroom",
    "Office",
    "Bathroom",
    "Dining Room",
    "Hall",
    "Garden",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneOptions:
    """What ``[profile_options]`` says of a household's players (docs/configuration.md)."""

    household: str | None = None
    room_name: str | None = None
    rooms: tuple[str, ...] | None = None
    sink: str | None = None
    source: str = SONOS_MS_SOURCE
    software_version: str = "86.7-77050"
    display_version: str = "16.6"
    model_number: str = "S9"
    connection_info_faults: bool = True

    def room(self, index: int, settings: DeviceSettings) -> str:
        """The room name of player ``index`` (0-based)."""
        if self.rooms is not None and index < len(self.rooms):
            return self.rooms[index]
        if index == 0 and (self.room_name or settings.friendly_name):
            return check_text(self.room_name or settings.friendly_name or "", "room_name")
        return DEFAULT_ROOMS[index] if index < len(DEFAULT_ROOMS) else f"Room {index + 1}"


def make_player(
    model: HouseholdModel,
    settings: DeviceSettings,
    store: StateStore,
    options: ZoneOptions,
    *,
    index: int,
    address: str,
    rng: random.Random,
    room: str | None = None,
    clock: Any = time.monotonic,
) -> ZonePlayer:
    """Player ``index`` (0-based) of ``model``: its UDN kept in ``store``, names from ``options``.

    Raises:
        ConfigError: a UDN not shaped like a zone player's.
    """
    udn = settings.udn if index == 0 and settings.udn else None
    udn = udn or store.identity("udn.sonos", lambda: rincon_udn(rng))
    if not is_rincon_udn(udn):
        raise ConfigError(f"a Sonos UDN is uuid:RINCON_<12 hex>01400, not {udn!r}")
    identity = PlayerIdentity(
        udn=udn,
        room=check_text(room or options.room(index, settings), "room name"),
        software_version=options.software_version,
        display_version=options.display_version,
        model_number=options.model_number,
    )
    return ZonePlayer(
        model,
        identity,
        address=address,
        port=settings.port or 1400,
        clock=clock,
        sink=options.sink,
        source=options.source,
        connection_info_faults=options.connection_info_faults,
    )
