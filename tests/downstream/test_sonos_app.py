"""A downstream project's tests, as its authors would write them: no conftest, no upnpcm import.

Its code under test (``room_volumes``, ``quiet_everywhere``) talks to Sonos players
through SoCo; upnpcm's pytest plugin (installed with ``pip install upnpcm``)
provides the players. tests/test_downstream.py runs this file in a directory of
its own, with nothing but the installed packages.
"""

import urllib.request

import pytest
import soco
from soco.exceptions import SoCoUPnPException


def room_volumes(ip, port):
    """The code under test: every room's volume, as seen from one player."""
    return {zone.player_name: zone.volume for zone in soco.SoCo(ip, port).all_zones}


def quiet_everywhere(ip, port, level):
    """The code under test: turn every room down to at most ``level``; the rooms it could not."""
    failed = []
    for zone in soco.SoCo(ip, port).all_zones:
        try:
            if zone.volume > level:
                zone.volume = level
        except SoCoUPnPException:
            failed.append(zone.player_name)
    return sorted(failed)


def test_reads_every_rooms_volume(sonos_household):
    household = sonos_household(players=2, rooms=["Kitchen", "Office"])
    household.player("Office").press_volume(12)  # someone turned the speaker itself
    first = household[0]
    assert room_volumes(first.address, first.port) == {"Kitchen": 20, "Office": 12}


def test_a_player_that_refuses_is_reported_and_the_rest_still_quieted(sonos_household):
    household = sonos_household(players=3, options={"household": "Sonos_downstreamtest0000000001"})
    for player in household:
        player.press_volume(60)
    household.player("Kitchen").fail_next("RenderingControl", "SetVolume", 701)
    first = household[0]
    assert quiet_everywhere(first.address, first.port, 30) == ["Kitchen"]
    assert [p.volume for p in household] == [30, 60, 30]
    assert household.household_id == "Sonos_downstreamtest0000000001"


def test_a_rebooted_player_comes_back_with_a_new_boot_id(sonos_household):
    household = sonos_household(players=1)
    player = household[0]
    boot = player.boot_id
    player.reboot()
    assert player.boot_id == boot + 1
    assert room_volumes(player.address, player.port) == {"Living Room": 20}


def test_the_renderer_fixture_serves_a_media_renderer(upnpcm_renderer):
    with urllib.request.urlopen(upnpcm_renderer.url, timeout=5) as reply:
        description = reply.read()
    assert b"urn:schemas-upnp-org:device:MediaRenderer:1" in description


@pytest.mark.asyncio
async def test_the_household_in_the_tests_own_loop(async_sonos_household):
    household = await async_sonos_household(players=2)
    kitchen = household.player("Kitchen")
    kitchen.press_volume(33)
    await kitchen.reboot()
    assert kitchen.online and kitchen.zone.rendering_control.volume == 33
