"""The ``sonos`` profile: a zone player as Sonos clients meet it (one player of a household).

The player itself is :mod:`upnpcm.sonos` (rules O1-O16): every service of a
Sonos Playbar on S2 firmware with its captured SCPD, the ZoneGroupTopology of
its household, AVTransport with a queue, RenderingControl, favourites,
alarms, the captured ``/xml/ConnectionManager1.xml`` byte for byte, Sonos
SSDP extras and GENA grants. ``upnpcm serve --profile sonos --players N``
runs a whole household (:class:`~upnpcm.sonos.household.Household`); this
builder makes the one player a plain :class:`~upnpcm.host.DeviceHost`
serves. The deviations kept on purpose are listed in the README.
"""

from __future__ import annotations

import random
from typing import Final

from upnpcm.errors import ConfigError
from upnpcm.profiles.base import (
    DeviceSpec,
    Profile,
    check_device_texts,
    option_list,
    option_text,
)
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.sonos.identity import SONOS_OUIS, household_id
from upnpcm.sonos.model import HouseholdModel
from upnpcm.sonos.options import ZoneOptions, make_player
from upnpcm.sonos.player import SONOS_GENA, SONOS_MS_SOURCE, sonos_sid
from upnpcm.state import StateStore

__all__ = ["PROFILE", "SONOS_GENA", "SONOS_OUIS", "build", "sonos_sid", "zone_options"]


def zone_options(settings: DeviceSettings) -> ZoneOptions:
    """``[profile_options]`` of the sonos profile, checked.

    Raises:
        ConfigError: a value of the wrong type, or text XML and SSDP cannot carry.
    """
    options = settings.profile_options
    rooms = options.get("rooms")
    if rooms is not None and (
        not isinstance(rooms, list) or not all(isinstance(r, str) and r for r in rooms)
    ):
        raise ConfigError("[profile_options].rooms must be a list of room names")
    faults = options.get("connection_info_faults", True)
    if not isinstance(faults, bool):
        raise ConfigError("[profile_options].connection_info_faults must be true or false")
    sink = option_list(options, "sink", "") if "sink" in options else None
    return ZoneOptions(
        household=option_text(options, "household", "") or None,
        room_name=option_text(options, "room_name", "") or None,
        rooms=None
        if rooms is None
        else tuple(check_text(r, "[profile_options].rooms") for r in rooms),
        sink=sink,
        source=option_list(options, "source", SONOS_MS_SOURCE),
        software_version=option_text(options, "software_version", "86.7-77050"),
        display_version=option_text(options, "display_version", "16.6"),
        model_number=option_text(options, "model_number", "S9"),
        connection_info_faults=faults,
    )


def build(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """One zone player, in a household of its own.

    Raises:
        ConfigError: a UDN not shaped like a zone player's, or a bad ``[profile_options]`` value.
    """
    check_device_texts(settings)
    options = zone_options(settings)
    rng = random.Random()
    household = options.household or store.identity("household.sonos", lambda: household_id(rng))
    model = HouseholdModel(household=household, rng=rng)
    address = settings.host[0] if len(settings.host) == 1 else ""
    player = make_player(model, settings, store, options, index=0, address=address, rng=rng)
    return player.spec(settings, store)


PROFILE: Final = Profile(
    "sonos",
    build,
    "Sonos zone player: every service of a Playbar on S2, a household with --players N",
    options={
        "household": "The Sonos household ID, Sonos_... (default: generated once and kept "
        "in the state directory).",
        "room_name": "The (first) player's room name (default: [device].friendly_name, "
        'else "Living Room").',
        "rooms": "The room names of the players of a household, a list (default: Living Room, "
        "Kitchen, Bedroom, ...).",
        "sink": "The MediaRenderer's Sink list, a string or a list of strings (default: "
        "what a zone player reports).",
        "source": "The MediaServer's Source list, a string or a list of strings (default: "
        "what a zone player reports).",
        "software_version": 'The software version reported (default "86.7-77050").',
        "display_version": 'The app-facing version (displayVersion) reported (default "16.6").',
        "model_number": 'The model number reported (default "S9").',
        "connection_info_faults": "true: GetCurrentConnectionInfo faults, as zone players "
        "are reported to (402 for connection 0, 706 otherwise); false: the standard answer "
        "for connection 0 (default true).",
    },
)
