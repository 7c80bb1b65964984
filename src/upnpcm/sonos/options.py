"""How the players of a household are made from settings and ``[profile_options]``.

Shared by the ``sonos`` profile (one player under a plain
:class:`~upnpcm.host.DeviceHost`) and :class:`~upnpcm.sonos.household.Household`.
"""

from __future__ import annotations

import random
import time
from typing import Any, Final

from upnpcm.errors import ConfigError
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.sonos.identity import PlayerIdentity, is_rincon_udn, rincon_udn
from upnpcm.sonos.model import HouseholdModel
from upnpcm.sonos.player import SONOS_MS_SOURCE, ZonePlayer
from upnpcm.state import StateStore

__all__ = ["DEFAULT_ROOMS", "make_player"]

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


def _room(index: int) -> str:
    return DEFAULT_ROOMS[index] if index < len(DEFAULT_ROOMS) else f"Room {index + 1}"


def _option(options: dict[str, Any], key: str, default: str) -> str:
    value = options.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[profile_options].{key} must be a non-empty string")
    return value


def _list_option(options: dict[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    if not isinstance(value, str):
        raise ConfigError(f"[profile_options].{key} must be a string or a list of strings")
    return value


def make_player(
    model: HouseholdModel,
    settings: DeviceSettings,
    store: StateStore,
    options: dict[str, Any],
    *,
    index: int,
    address: str,
    rng: random.Random,
    room: str | None = None,
    clock: Any = time.monotonic,
) -> ZonePlayer:
    """Player ``index`` (0-based) of ``model``: its UDN kept in ``store``, names from ``options``.

    Raises:
        ConfigError: a UDN not shaped like a zone player's, or a bad ``[profile_options]`` value.
    """
    udn = settings.udn if index == 0 and settings.udn else None
    udn = udn or store.identity("udn.sonos", lambda: rincon_udn(rng))
    if not is_rincon_udn(udn):
        raise ConfigError(f"a Sonos UDN is uuid:RINCON_<12 hex>01400, not {udn!r}")
    rooms = options.get("rooms")
    if rooms is not None and (
        not isinstance(rooms, list) or not all(isinstance(r, str) and r for r in rooms)
    ):
        raise ConfigError("[profile_options].rooms must be a list of room names")
    if room is None:
        if rooms is not None and index < len(rooms):
            room = rooms[index]
        elif index == 0:
            room = _option(options, "room_name", settings.friendly_name or _room(0))
        else:
            room = _room(index)
    identity = PlayerIdentity(
        udn=udn,
        room=check_text(room, "[profile_options].room_name"),
        software_version=_option(options, "software_version", "86.7-77050"),
        display_version=_option(options, "display_version", "16.6"),
        model_number=_option(options, "model_number", "S9"),
    )
    faults = options.get("connection_info_faults", True)
    if not isinstance(faults, bool):
        raise ConfigError("[profile_options].connection_info_faults must be true or false")
    return ZonePlayer(
        model,
        identity,
        address=address,
        port=settings.port or 1400,
        clock=clock,
        sink=_list_option(options, "sink"),
        source=_list_option(options, "source") or SONOS_MS_SOURCE,
        connection_info_faults=faults,
    )
