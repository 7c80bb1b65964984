"""The household's pure parts: SCPDs from the data, identities, topology (O2-O5), transport and
queue (O6-O9), alarms (O13), RenderingControl's channels (O12) and group volume (O15)."""

from __future__ import annotations

import random

import pytest

from tests.conftest import load_fixture
from upnpcm.core.description import parse_scpd
from upnpcm.core.lastchange import parse_last_change
from upnpcm.core.xml import parse_xml
from upnpcm.errors import UPnPError
from upnpcm.sonos.identity import SONOS_OUIS, PlayerIdentity, household_id, rincon_udn
from upnpcm.sonos.model import Alarm, Alarms, HouseholdModel
from upnpcm.sonos.player import ZonePlayer
from upnpcm.sonos.scpd import SERVICE_NAMES, render_scpd, scpd_xml, service_data
from upnpcm.sonos.topology import Member, Topology, TopologyError
from upnpcm.sonos.transport import Queue, Transport, TransportState, track_for

RINCON = "urn:schemas-rinconnetworks-com:metadata-1-0/"


# ------------------------------------------------------------------ SCPDs, identity


def test_rendering_the_data_gives_the_captured_connection_manager_byte_for_byte():
    assert render_scpd(service_data("ConnectionManager").raw) == load_fixture(
        "sonos", "ConnectionManager1.xml"
    )
    assert scpd_xml("ConnectionManager") == load_fixture("sonos", "ConnectionManager1.xml")


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_scpd_parses_and_lists_the_datas_actions_and_variables(name):
    scpd = parse_scpd(scpd_xml(name))
    raw = service_data(name).raw
    assert [a.name for a in scpd.actions] == [a["name"] for a in raw["actions"]]
    assert [v.name for v in scpd.state_variables] == [v["name"] for v in raw["stateVariables"]]
    evented = {v.name for v in scpd.state_variables if v.send_events}
    assert evented == set(service_data(name).evented)


def test_identities_have_a_zone_players_shapes():
    rng = random.Random(7)
    for _ in range(50):
        identity = PlayerIdentity(udn=rincon_udn(rng), room="Kitchen")
        octets = identity.mac.split(":")
        assert "".join(octets[:3]) in SONOS_OUIS and int(octets[0], 16) & 0b11 == 0
        assert identity.serial == "-".join(octets) + ":D"
        assert identity.uid == identity.udn.removeprefix("uuid:")
    assert identity.server_header == "Linux UPnP/1.0 Sonos/86.7-77050 (ZPS9)"
    household = household_id(rng)
    assert household.startswith("Sonos_") and len(household) == 32 and household[6:].isalnum()
    with pytest.raises(ValueError, match="RINCON"):
        PlayerIdentity(udn="uuid:12345678-1234-1234-1234-123456789abc", room="x")


# ---------------------------------------------------------------------- topology


def topology(count: int = 3) -> tuple[Topology, list[str]]:
    found = Topology(random.Random(1))
    uids = [f"RINCON_000E5800000{i}01400" for i in range(count)]
    for i, uid in enumerate(uids):
        found.add(
            Member(
                uuid=uid,
                location=f"http://127.0.0.{i + 2}:1400/xml/device_description.xml",
                zone_name=f"Room {i}",
                software_version="86.7-77050",
            )
        )
    return found, uids


def groups(state: str) -> list[tuple[str, list[str]]]:
    root = parse_xml(state.encode(), max_bytes=1 << 20)
    return [
        (g.get("Coordinator"), [m.get("UUID") for m in g.iter("ZoneGroupMember")])
        for g in root.iter("ZoneGroup")
    ]


def test_zone_group_state_is_one_line_in_the_new_form_with_what_clients_read():
    found, uids = topology()
    state = found.zone_group_state()
    assert "\n" not in state
    assert state.startswith("<ZoneGroupState><ZoneGroups><ZoneGroup ")
    assert state.endswith("</ZoneGroups><VanishedDevices></VanishedDevices></ZoneGroupState>")
    member = next(parse_xml(state.encode(), max_bytes=1 << 20).iter("ZoneGroupMember"))
    assert member.get("Location") == "http://127.0.0.2:1400/xml/device_description.xml"
    assert member.get("BootSeq") == "1" and member.get("ZoneName") == "Room 0"
    assert groups(state) == [(uid, [uid]) for uid in uids]


def test_joining_a_member_joins_its_coordinator_and_a_coordinator_hands_over_its_group():
    found, (a, b, c) = topology()
    version = found.version
    assert found.join(b, a) and found.join(c, b)  # c joins b's group, i.e. a's
    assert groups(found.zone_group_state()) == [(a, [a, b, c])]
    assert found.version == version + 2
    assert not found.join(c, a)  # already there: nothing changes
    delegated, group_id = found.leave(a)  # the coordinator leaves: b leads the rest
    assert delegated == b and group_id.startswith(f"{a}:")
    assert sorted(groups(found.zone_group_state())) == sorted([(b, [b, c]), (a, [a])])
    assert found.leave(a) == ("", found.group_id(a))  # alone already: nothing changes
    with pytest.raises(TopologyError):
        found.join(a, "RINCON_FFFFFFFFFFFF01400")


def test_an_offline_player_is_a_vanished_device_and_cannot_be_joined():
    found, (a, b, _) = topology()
    found.set_online(b, False)
    state = found.zone_group_state()
    assert f'<Device UUID="{b}" ZoneName="Room 1" Reason="powered off"/>' in state
    assert b not in [m for _, members in groups(state) for m in members]
    with pytest.raises(TopologyError):
        found.join(a, b)


# --------------------------------------------------------------- transport, queue


def test_a_uri_plays_at_once_pauses_where_it_was_and_stops_at_the_start():
    transport = Transport(Queue(), "x-rincon-queue:RINCON_X#0")
    with pytest.raises(UPnPError) as nothing:
        transport.play(0.0)
    assert nothing.value.code == 701
    transport.load("http://127.0.0.1:9/a.mp3", "")
    assert transport.current().title == "a.mp3" and transport.actions() == (
        "Set, Stop, Pause, Play, X_DLNA_SeekTime"
    )
    transport.play(10.0)
    assert transport.state is TransportState.PLAYING and transport.position(12.5) == 2.5
    transport.pause(13.0)
    assert transport.state is TransportState.PAUSED_PLAYBACK and transport.position(99.0) == 3.0
    with pytest.raises(UPnPError):
        transport.step(1, 13.0)  # a single track: no next
    transport.stop()
    assert transport.position(99.0) == 0.0
    with pytest.raises(UPnPError) as empty:
        transport.load("", "")
    assert empty.value.code == 402


def test_the_queue_plays_track_after_track_and_repeats_when_told():
    queue = Queue()
    transport = Transport(queue, "x-rincon-queue:RINCON_X#0")
    meta = (
        '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><item id="1" parentID="0" restricted="1">'
        '<dc:title>One</dc:title><res protocolInfo="http-get:*:audio/mpeg:*" duration="0:00:10">'
        "http://127.0.0.1:9/1.mp3</res></item></DIDL-Lite>"
    )
    assert queue.add(
        [track_for("http://127.0.0.1:9/1.mp3", meta)], desired=0, as_next=False, current=0
    ) == (1, 1, 1)
    assert queue.add(
        [track_for("http://127.0.0.1:9/2.mp3")], desired=0, as_next=False, current=0
    ) == (2, 1, 2)
    assert queue.update_id == 2
    transport.load("x-rincon-queue:RINCON_X#0", "")
    transport.play(0.0)
    assert transport.current().title == "One" and transport.deadline() == 10.0
    transport.track_ended(10.0)
    assert transport.track == 2 and transport.state is TransportState.PLAYING
    transport.track_ended(50.0)  # the last one ends: stopped at the first
    assert (transport.track, transport.state) == (1, TransportState.STOPPED)
    transport.set_play_mode("REPEAT_ALL")
    transport.play(60.0)
    transport.step(-1, 61.0)  # before the first: the last, with repeat
    assert transport.track == 2
    transport.seek("TRACK_NR", "1", 62.0)
    transport.seek("REL_TIME", "0:00:04", 62.0)
    assert transport.position(63.0) == 5.0
    with pytest.raises(UPnPError) as past:
        transport.seek("REL_TIME", "0:00:11", 63.0)
    assert past.value.code == 711
    with pytest.raises(UPnPError) as missing:
        transport.seek("TRACK_NR", "3", 63.0)
    assert missing.value.code == 711


# ------------------------------------------------------------------------ alarms


def test_alarms_version_duplicate_times_and_unknown_ids():
    alarms = Alarms(owner="RINCON_X")
    alarm = Alarm(
        id=0,
        start_time="07:00:00",
        duration="01:00:00",
        recurrence="DAILY",
        enabled=True,
        room_uuid="RINCON_X",
        program_uri="x-rincon-buzzer:0",
        program_metadata="",
        play_mode="NORMAL",
        volume=20,
        include_linked_zones=False,
    )
    assert alarms.create(alarm) == 1 and alarms.list_version == "RINCON_X:1"
    with pytest.raises(UPnPError) as duplicate:
        alarms.create(alarm)
    assert duplicate.value.code == 801
    for bad in (lambda: alarms.destroy(7), lambda: alarms.update(alarm)):  # id 0 is no alarm
        with pytest.raises(UPnPError) as unknown:
            bad()
        assert unknown.value.code == 800
    assert alarms.list_xml().startswith('<Alarms><Alarm ID="1" StartTime="07:00:00" ')


# ------------------------------------------------------------------- the players


@pytest.fixture
def household():
    rng = random.Random(3)
    model = HouseholdModel(rng=rng)
    players = [
        ZonePlayer(
            model, PlayerIdentity(udn=rincon_udn(rng), room=room), address=f"127.0.0.{i + 2}"
        )
        for i, room in enumerate(("A", "B"))
    ]
    return model, players


def test_every_volume_event_lists_all_three_channels(household):
    _, (a, _) = household
    rc = a.rendering_control
    rc.advance(0.0)
    rc.events()  # the start values
    a.press_volume(35)
    rc.advance(1.0)
    [change] = rc.events()
    _, instances = parse_last_change(change.changes["LastChange"])
    assert instances[0] == {
        ("Volume", "Master"): "35",
        ("Volume", "LF"): "100",
        ("Volume", "RF"): "100",
    }


def test_group_volume_is_the_mean_and_moves_members_in_proportion(household):
    _, (a, b) = household
    a.press_volume(20)
    b.press_volume(40)
    b.join(a.uid)
    grc = a.group_rendering_control
    assert grc.state["GroupVolume"] == 30
    grc.set_group_volume(0, 60)
    assert (a.rendering_control.volume, b.rendering_control.volume) == (40, 80)
    with pytest.raises(UPnPError) as member:
        b.group_rendering_control.get_group_volume(0)
    assert member.value.code == 701


def test_a_members_transport_is_its_coordinators(household):
    _, (a, b) = household
    b.join(a.uid)
    a.play_uri("http://127.0.0.1:9/x.mp3")
    values = b.av_transport.instance(0)
    assert values["TransportState"] == "PLAYING"
    assert values["AVTransportURI"] == values["CurrentTrackURI"] == f"x-rincon:{a.uid}"
    with pytest.raises(UPnPError) as pause:
        b.av_transport.pause(0)
    assert pause.value.code == 701
    b.av_transport.stop(0)  # acts on the coordinator
    assert str(a.transport.state) == "STOPPED"
    b.av_transport.advance(0.0)
    [change] = b.av_transport.events()
    assert f'xmlns:r="{RINCON}"' in change.changes["LastChange"]
    assert "<r:EnqueuedTransportURI " in change.changes["LastChange"]


def test_browsing_the_queue_from_an_index_with_a_count_of_0_gives_the_rest(household):
    _, (a, _) = household
    for number in range(1, 6):
        a.av_transport.add_uri_to_queue(0, f"http://127.0.0.1:9/{number}.mp3", "", 0, False)
    answer = a.content_directory.browse("Q:0", "BrowseDirectChildren", "*", 2, 0, "")
    assert (answer["NumberReturned"], answer["TotalMatches"]) == (3, 5)  # O14: 0 is all
    assert '<item id="Q:0/3" ' in answer["Result"] and "Q:0/5" in answer["Result"]
    answer = a.queue_service.browse(0, 2, 0)
    assert (answer["NumberReturned"], answer["TotalMatches"]) == (3, 5)
    assert '<item id="Q:0/3" ' in answer["Result"]
    answer = a.content_directory.browse("Q:0", "BrowseDirectChildren", "*", 4, 10, "")
    assert (answer["NumberReturned"], answer["TotalMatches"]) == (1, 5)
    answer = a.content_directory.browse("Q:0", "BrowseDirectChildren", "*", 9, 0, "")
    assert (answer["NumberReturned"], answer["TotalMatches"]) == (0, 5)


def test_a_coordinator_that_goes_offline_hands_its_group_to_a_member(household):
    model, (a, b) = household
    b.join(a.uid)
    a.set_online(False)
    state = model.topology.zone_group_state()
    assert groups(state) == [(b.uid, [b.uid])]  # what the ZoneGroupState says …
    assert b.is_coordinator and model.topology.group_members(b.uid) == [b.uid]  # … b does
    assert b.zone_group_topology.state["ZoneGroupID"] in state
    assert b.group_rendering_control.get_group_volume(0) == b.rendering_control.volume
    b.play_uri("http://127.0.0.1:9/x.mp3")
    b.av_transport.pause(0)  # its own transport, not a member's (701)
    a.set_online(True)
    assert sorted(groups(model.topology.zone_group_state())) == sorted(
        [(a.uid, [a.uid]), (b.uid, [b.uid])]
    )


def test_players_that_go_offline_leave_their_groups():
    found, (a, b, c) = topology()
    found.join(b, a)
    found.join(c, a)
    found.set_online(b, False)
    found.set_online(a, False)
    assert groups(found.zone_group_state()) == [(c, [c])]
    assert found.is_coordinator(c) and found.group_members(c) == [c]
    with pytest.raises(TopologyError, match="offline"):
        found.join(a, c)  # an offline player joins no group either
    assert found.group_members(c) == [c]


def test_removing_the_track_being_played_plays_the_next_from_its_start():
    now = [0.0]
    rng = random.Random(5)
    player = ZonePlayer(
        HouseholdModel(rng=rng),
        PlayerIdentity(udn=rincon_udn(rng), room="A"),
        address="127.0.0.2",
        clock=lambda: now[0],
    )
    avt = player.av_transport
    for number in (1, 2, 3):
        meta = (
            '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><item id="1" parentID="0" '
            f'restricted="1"><dc:title>T{number}</dc:title><res protocolInfo="http-get:*:'
            f'audio/mpeg:*" duration="0:01:00">http://127.0.0.1:9/{number}.mp3</res></item>'
            "</DIDL-Lite>"
        )
        avt.add_uri_to_queue(0, f"http://127.0.0.1:9/{number}.mp3", meta, 0, False)
    avt.set_av_transport_uri(0, player.transport.queue_uri, "")
    avt.play(0, "1")
    now[0] = 40.0
    avt.remove_track_from_queue(0, "Q:0/1", 0)
    position = avt.get_position_info(0)
    assert (position["Track"], position["TrackURI"]) == (1, "http://127.0.0.1:9/2.mp3")
    assert position["RelTime"] == "0:00:00" and player.transport.deadline() == 100.0
    now[0] = 50.0
    avt.remove_track_from_queue(0, "Q:0/2", 0)  # not the one playing: it plays on
    assert avt.get_position_info(0)["RelTime"] == "0:00:10"


def test_add_uri_to_queue_reports_the_uri_it_enqueued_at_once(household):
    _, (a, _) = household
    for number in (1, 2):
        uri = f"http://127.0.0.1:9/{number}.mp3"
        a.av_transport.add_uri_to_queue(0, uri, "", 0, False)
        assert a.av_transport.instance(0)["EnqueuedTransportURI"] == uri  # not the one before
