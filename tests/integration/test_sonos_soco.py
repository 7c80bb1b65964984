"""SoCo (pinned, PyPI) against a virtual household of three players on loopback, free ports.

One household serves the whole module (``upnpcm.testing.running_household``, the
plugin's own context manager); each test leaves the players as it found them
(standalone, stopped). SoCo's event listener gets a free port, never its default.
``soco.discover()`` needs port 1400 and multicast: tests/netns/test_sonos_household.py.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import time

import pytest
import soco

from tests.helpers.soco_listener import quiet_soco_listener
from upnpcm.testing import running_household

pytestmark = pytest.mark.peer

ROOMS = ("Living Room", "Kitchen", "Bedroom")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def household(tmp_path_factory):
    with running_household(3, rooms=ROOMS, state_dir=tmp_path_factory.mktemp("hh")) as running:
        yield running


@pytest.fixture(scope="module")
def zones(household):
    return [soco.SoCo(p.address, p.port) for p in household]


@pytest.fixture(scope="module")
def listener():
    """SoCo's threaded event listener on 127.0.0.1 and a free port (stopped at the end)."""
    from soco import events

    soco.config.EVENT_LISTENER_IP = "127.0.0.1"
    events.event_listener.requested_port_number = free_port()
    with quiet_soco_listener() as running:
        yield running


@pytest.fixture
def standalone(household, zones):
    """Every player alone and stopped after the test."""
    yield
    for player in household:
        player.unjoin()
    for zone in zones:
        zone.stop()
        zone.zone_group_state.clear_cache()


def wait_for(events_queue, predicate, timeout: float = 5.0):
    """The first event ``predicate`` accepts (events before it are dropped)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            event = events_queue.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(event.variables)
        if predicate(event.variables):
            return event
    pytest.fail(f"no matching event within {timeout} s; saw {seen}")


def test_all_zones_and_groups_from_one_player(household, zones):
    first = zones[0]
    found = {(z.ip_address, z.player_name) for z in first.all_zones}
    assert found == {(p.address, p.room) for p in household}
    assert {z.player_name for z in first.visible_zones} == set(ROOMS)
    assert first.group.coordinator == first and first.group.members == {first}
    assert first.household_id == household.household_id
    info = first.get_speaker_info(refresh=True)
    assert info["zone_name"] == "Living Room" and info["model_name"] == "Sonos Playbar"
    assert info["display_version"].startswith("16.") and info["uid"] == household[0].uid


def test_join_and_unjoin_are_seen_by_every_players_topology(zones, standalone):
    living, kitchen, bedroom = zones
    kitchen.join(living)
    bedroom.join(kitchen)  # a member's group: the coordinator's
    for zone in zones:
        zone.zone_group_state.clear_cache()
        assert zone.group.coordinator == living
        assert zone.group.members == {living, kitchen, bedroom}
    assert not kitchen.is_coordinator and living.is_coordinator
    kitchen.unjoin()
    for zone in zones:
        zone.zone_group_state.clear_cache()
    assert kitchen.group.members == {kitchen} and kitchen.is_coordinator
    assert living.group.members == {living, bedroom}


def test_volume_mute_bass_treble_loudness(zones):
    zone = zones[1]
    zone.volume = 33
    assert zone.volume == 33
    zone.mute = True
    assert zone.mute is True
    zone.mute = False
    zone.bass = -4  # SoCo sends Channel to GetBass, which the SCPD does not list (I6)
    zone.treble = 7
    assert (zone.bass, zone.treble) == (-4, 7)
    zone.loudness = False
    assert zone.loudness is False
    zone.bass = 0
    zone.treble = 0
    zone.loudness = True


def test_play_uri_pause_and_track_info(zones, standalone):
    zone = zones[0]
    zone.play_uri("http://127.0.0.1:9/song.mp3", title="A song")
    assert zone.get_current_transport_info()["current_transport_state"] == "PLAYING"
    track = zone.get_current_track_info()
    assert track["uri"] == "http://127.0.0.1:9/song.mp3" and track["playlist_position"] == "1"
    zone.pause()  # SoCo sends Speed to Pause (I6)
    assert zone.get_current_transport_info()["current_transport_state"] == "PAUSED_PLAYBACK"
    media = zone.avTransport.GetMediaInfo([("InstanceID", 0)])
    assert media["CurrentURI"] == "http://127.0.0.1:9/song.mp3"


def test_a_members_play_raises_in_soco_and_plays_the_group(zones, standalone):
    living, kitchen, _ = zones
    kitchen.join(living)
    living.play_uri("http://127.0.0.1:9/group.mp3")
    kitchen.zone_group_state.clear_cache()
    with pytest.raises(soco.exceptions.SoCoSlaveException):
        kitchen.pause()  # SoCo refuses it before sending, as the topology says
    info = kitchen.avTransport.GetTransportInfo([("InstanceID", 0)])
    assert info["CurrentTransportState"] == "PLAYING"  # the member reports the group's
    kitchen.zone_group_state.clear_cache()
    assert kitchen.get_current_media_info()["uri"] == f"x-rincon:{living.uid}"


def test_favourites_and_the_queue(zones):
    zone = zones[2]
    favourites = zone.music_library.get_sonos_favorites()
    assert [f.title for f in favourites] == ["upnpcm radio", "upnpcm test tone"]
    assert zone.get_queue() == [] or len(zone.get_queue()) == 0
    assert zone.add_uri_to_queue("http://127.0.0.1:9/one.mp3") == 1
    assert zone.add_uri_to_queue("http://127.0.0.1:9/two.mp3") == 2
    assert [item.title for item in zone.get_queue()] == ["one.mp3", "two.mp3"]
    assert zone.queue_size == 2
    zone.play_from_queue(1)
    assert zone.get_current_track_info()["uri"] == "http://127.0.0.1:9/two.mp3"
    zone.clear_queue()
    assert zone.queue_size == 0


def test_alarms_are_shared_by_the_household(zones):
    from datetime import time as clock_time

    from soco.alarms import Alarm, get_alarms

    alarm = Alarm(zones[0], start_time=clock_time(6, 30), recurrence="DAILY")
    alarm.save()
    found = get_alarms(zones[1])  # asked of another player
    assert [(a.start_time, a.recurrence) for a in found] == [(clock_time(6, 30), "DAILY")]
    alarm.remove()
    assert not get_alarms(zones[2])


def test_an_injected_fault_reaches_soco_with_its_code(household, zones):
    household[1].fail_next("RenderingControl", "GetVolume", 701)
    with pytest.raises(soco.exceptions.SoCoUPnPException) as fault:
        _ = zones[1].volume
    assert fault.value.error_code == "701"
    assert zones[1].volume >= 0  # only the next call failed
    household[1].fail_next("DeviceProperties", "GetLEDState", 800)
    with pytest.raises(soco.exceptions.SoCoUPnPException):
        _ = zones[1].status_light


def test_events_of_transport_rendering_and_topology(household, zones, listener, standalone):
    living, kitchen, _ = zones
    transport = living.avTransport.subscribe(auto_renew=False)
    rendering = living.renderingControl.subscribe(auto_renew=False)
    topology = kitchen.zoneGroupTopology.subscribe(auto_renew=False)
    try:
        first = wait_for(rendering.events, lambda v: "volume" in v)
        assert set(first.variables["volume"]) == {"Master", "LF", "RF"}
        household[0].press_volume(27)  # as if turned on the speaker
        wait_for(rendering.events, lambda v: v.get("volume", {}).get("Master") == "27")
        living.volume = 28
        wait_for(rendering.events, lambda v: v.get("volume", {}).get("Master") == "28")
        living.play_uri("http://127.0.0.1:9/evented.mp3")
        wait_for(transport.events, lambda v: v.get("transport_state") == "PLAYING")
        household[0].press_play_pause()
        wait_for(transport.events, lambda v: v.get("transport_state") == "PAUSED_PLAYBACK")
        household[2].join(household[0])  # grouped in the app, seen on another player
        event = wait_for(
            topology.events, lambda v: v.get("zone_group_state", "").count("<ZoneGroup ") == 2
        )
        assert event.variables["zone_group_state"].startswith("<ZoneGroupState><ZoneGroups>")
        # SoCo fed its household cache from the event (a live ZGT subscription: no polling)
        assert {m.player_name for m in living.group.members} == {"Living Room", "Bedroom"}
    finally:
        for sub in (transport, rendering, topology):
            sub.unsubscribe()


async def test_after_an_injected_reboot_the_renewal_gets_412(household, zones):
    """soco.events_asyncio raises what the threaded listener swallows."""
    import aiohttp
    from soco import events_asyncio

    soco.config.EVENT_LISTENER_IP = "127.0.0.1"
    events_asyncio.event_listener.requested_port_number = free_port()
    zone = zones[1]
    service = soco.services.RenderingControl(zone)
    sub = events_asyncio.Subscription(service)
    await sub.subscribe(auto_renew=False)
    try:
        boot = household[1].boot_id
        await asyncio.to_thread(household[1].reboot)
        assert household[1].boot_id == boot + 1
        with pytest.raises(aiohttp.ClientResponseError) as refused:
            await sub.renew()
        assert refused.value.status == 412
        assert not sub.is_subscribed  # SoCo gave it up, as the player forgot it
    finally:
        await events_asyncio.event_listener.async_stop()
