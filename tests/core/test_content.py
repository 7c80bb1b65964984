"""DIDL-Lite, Browse paging, res ranking and the transport watch (core, no sockets)."""

from __future__ import annotations

import pytest

from upnpcm.core.arguments import rename_lone_out_argument
from upnpcm.core.content import Pager, format_rank, rank_resources, split_title_path
from upnpcm.core.description import Argument
from upnpcm.core.didl import (
    duration_seconds,
    format_duration,
    metadata_for,
    parse_didl,
)
from upnpcm.core.protocol_info import ProtocolInfo, parse_list
from upnpcm.core.transport import PlaybackWatch, parse_last_change
from upnpcm.errors import RemoteProtocolError

ITEM = """<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/"
 xmlns:dlna="urn:schemas-dlna-org:metadata-1-0/" xmlns:x="urn:example:x">
<item id="7" parentID="3" restricted="1"><dc:title>A &amp; B</dc:title>
<upnp:class>object.item.audioItem.musicTrack</upnp:class><x:mood>calm</x:mood>
<res protocolInfo="http-get:*:audio/flac:*" size="100" duration="0:00:08.000">http://s/a.flac</res>
<res protocolInfo="http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_CI=1">http://s/a.mp3</res>
<res protocolInfo="http-get:*:audio/L16;rate=44100;channels=2:DLNA.ORG_PN=LPCM;DLNA.ORG_CI=1">http://s/a.lpcm</res>
<res>http://s/no-info</res>
</item>
<container id="9" parentID="0" childCount="4"><dc:title>Box</dc:title><upnp:class>object.container</upnp:class></container>
<item parentID="0"><dc:title>no id</dc:title></item>
</DIDL-Lite>"""


def test_didl_objects_resources_and_problems():
    result = parse_didl(ITEM)
    item, box = result.objects
    assert (item.id, item.parent_id, item.title, item.container) == ("7", "3", "A & B", False)
    assert [r.url for r in item.resources] == [
        "http://s/a.flac",
        "http://s/a.mp3",
        "http://s/a.lpcm",
    ]
    assert item.resources[0].size == 100 and item.resources[0].duration == "0:00:08.000"
    assert box.container and box.child_count == 4
    assert len(result.problems) == 2  # the res without protocolInfo, the item without id


def test_didl_is_parsed_only_on_the_safe_path():
    with pytest.raises(RemoteProtocolError):
        parse_didl('<!DOCTYPE x [<!ENTITY a "b">]><DIDL-Lite>&a;</DIDL-Lite>')
    with pytest.raises(RemoteProtocolError):
        parse_didl("<DIDL-Lite/>", max_bytes=5)
    with pytest.raises(RemoteProtocolError):
        parse_didl("<Other/>")


def test_metadata_keeps_the_item_and_only_the_chosen_res():
    item = parse_didl(ITEM).objects[0]
    text = metadata_for(item, item.resources[1])
    again = parse_didl(text).objects[0]
    assert [r.url for r in again.resources] == ["http://s/a.mp3"]
    assert again.title == "A & B" and again.upnp_class == item.upnp_class
    assert "calm" in text and 'xmlns:dc="http://purl.org/dc/elements/1.1/"' in text
    assert text.startswith("<DIDL-Lite") and "<dc:title>A &amp; B</dc:title>" in text


def test_durations():
    assert duration_seconds("0:00:08.045") == pytest.approx(8.045)
    assert duration_seconds("1:02:03.1/2") == pytest.approx(3723.5)
    assert duration_seconds("NOT_IMPLEMENTED") is None
    assert duration_seconds("") is None
    assert format_duration(3725) == "1:02:05" and format_duration(None) == "--:--"


def test_pager_does_not_trust_total_matches_alone():
    # minidlna: TotalMatches 0 with results; windows of 2 over 5 objects.
    pager = Pager(page_size=2)
    seen = []
    for objects in (2, 2, 1):
        seen.append(pager.request())
        pager.on_page(objects, 0)
    assert seen == [(0, 2), (2, 2), (4, 2)]
    assert pager.request() is None  # a short window and nothing said: the end
    # TotalMatches too small: a full window still asks for the next.
    pager = Pager(page_size=2)
    pager.on_page(2, 1)
    assert pager.request() == (2, 2)
    pager.on_page(0, 1)
    assert pager.request() is None
    # A server that caps windows below RequestedCount: go on while TotalMatches says so.
    pager = Pager(page_size=10)
    pager.on_page(3, 7)
    assert pager.request() == (3, 10)


def test_pager_limit_and_bound():
    pager = Pager(page_size=10, limit=15)
    pager.on_page(10, 100)
    assert pager.request() == (10, 5)
    pager.on_page(5, 100)
    assert pager.request() is None
    pager = Pager(page_size=1)
    for _ in range(2000):
        if pager.request() is None:
            break
        pager.on_page(1, 0)
    assert pager.pages == 1000  # W3


def test_title_paths():
    assert split_title_path("Music/Album/Track") == ["Music", "Album", "Track"]
    assert split_title_path(r"AC\/DC/Back in Black") == ["AC/DC", "Back in Black"]
    assert split_title_path("/a//b/") == ["a", "b"]


RYGEL_SINK = parse_list(
    "http-get:*:audio/l16;rate=44100;channels=2:DLNA.ORG_PN=LPCM,"
    "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3,http-get:*:audio/flac:*"
).entries


def test_originals_before_conversions_then_score_then_sink_order():
    item = parse_didl(ITEM).objects[0]
    ranked = rank_resources(item.resources, RYGEL_SINK)
    assert [c.resource.url for c in ranked] == [
        "http://s/a.flac",
        "http://s/a.lpcm",
        "http://s/a.mp3",
    ]
    assert not ranked[0].converted and ranked[1].converted
    assert ranked[1].score > ranked[2].score  # LPCM matches its Sink entry more closely


def test_nothing_playable_keeps_every_reason():
    item = parse_didl(ITEM).objects[0]
    ranked = rank_resources(item.resources, parse_list("http-get:*:video/mp4:*").entries)
    assert not any(c.playable for c in ranked)
    assert all(c.reasons for c in ranked)


def test_format_rank():
    def rank(text: str) -> int:
        return format_rank(ProtocolInfo.parse(text))

    assert rank("http-get:*:audio/mpeg:*") == 0
    assert rank("http-get:*:video/mp4:*") == 0
    assert rank("http-get:*:image/jpeg:DLNA.ORG_PN=JPEG_TN") == 2
    assert rank("http-get:*:audio/L16;rate=44100:*") == 3
    assert rank("http-get:*:text/xml:*") == 1


def test_lone_misnamed_out_argument():
    args = [Argument(name="ConnectionIDs", direction="out", related_state_variable="X")]
    pairs, note = rename_lone_out_argument(args, [("ConnectionID", "0")])
    assert pairs == [("ConnectionIDs", "0")] and "ConnectionID" in (note or "")
    assert rename_lone_out_argument(args, [("ConnectionIDs", "0")]) == (
        [("ConnectionIDs", "0")],
        None,
    )
    two = [*args, Argument(name="B", direction="out", related_state_variable="X")]
    assert rename_lone_out_argument(two, [("Other", "1")])[1] is None


LAST_CHANGE = (
    '<Event xmlns="urn:schemas-upnp-org:metadata-1-0/AVT/">'
    '<InstanceID val="0"><TransportState val="{state}"/><TransportStatus val="{status}"/>'
    '<CurrentTrackDuration val="0:00:08"/></InstanceID>'
    '<InstanceID val="1"><TransportState val="PAUSED_PLAYBACK"/></InstanceID></Event>'
)


def _event(state: str, status: str = "OK") -> dict[str, str]:
    return parse_last_change(LAST_CHANGE.format(state=state, status=status), 0)


def test_last_change_reads_our_instance_only():
    assert _event("PLAYING")["TransportState"] == "PLAYING"
    assert parse_last_change(LAST_CHANGE.format(state="X", status="OK"), 1) == {
        "TransportState": "PAUSED_PLAYBACK"
    }
    assert parse_last_change("<not xml", 0) == {}


def test_watch_playing_then_end_of_track():
    watch = PlaybackWatch(0.0)
    watch.on_event(_event("PLAYING"), 0.1)  # an old state, before our Play
    assert watch.phase == "starting"
    watch.arm(1.0)
    watch.on_event(_event("TRANSITIONING"), 1.1)
    watch.on_event(_event("PLAYING"), 1.2)
    assert watch.phase == "playing" and watch.duration == 8
    watch.on_position_info({"RelTime": "0:00:02", "TrackDuration": "0:00:08"}, 2.0)
    assert watch.position_now(3.0) == pytest.approx(3.0)
    assert watch.position_now(100.0) == 8  # never past the end
    watch.on_event(_event("STOPPED"), 9.0)
    assert watch.phase == "ended"


def test_while_starting_the_looks_come_soon_then_back_off():
    """A renderer already playing events no change for our Play: look at 0.05 s, 0.1, 0.2, 0.3…"""
    watch = PlaybackWatch(0.0, poll_interval=1.0, event_grace=1.5)
    watch.arm(10.0)
    looks = []
    now = 10.0
    for _ in range(6):
        due = watch.next_deadline()
        assert due is not None and not watch.poll_due(due - 0.001) and watch.poll_due(due)
        looks.append(round(due - 10.0, 3))
        now = due
        watch.on_transport_info({"CurrentTransportState": "TRANSITIONING"}, now)
    assert looks == [0.05, 0.1, 0.2, 0.4, 0.7, 1.0]
    watch.on_transport_info({"CurrentTransportState": "PLAYING", "CurrentSpeed": "1"}, now + 0.3)
    assert watch.phase == "playing" and watch.next_deadline() == pytest.approx(now + 1.3)


def test_watch_stop_error_and_polling():
    watch = PlaybackWatch(0.0, poll_interval=1.0, event_grace=1.5)
    watch.arm(0.0)
    assert not watch.needs_transport_polls(0.01) and not watch.poll_due(0.01)
    assert watch.needs_transport_polls(0.4)  # no PLAYING yet: look (a renderer already playing)
    assert watch.poll_due(0.4) and watch.next_deadline() is not None
    watch.on_transport_info({"CurrentTransportState": "PLAYING", "CurrentSpeed": "1"}, 2.0)
    assert watch.phase == "playing" and not watch.poll_due(2.5) and watch.poll_due(3.0)
    assert watch.needs_transport_polls(3.0)  # no event within the grace: poll (V2)
    watch.on_event({"TransportStatus": "OK"}, 3.1)
    assert not watch.needs_transport_polls(3.2)
    watch.stop_requested = True
    watch.on_transport_info({"CurrentTransportState": "STOPPED"}, 4.0)
    assert watch.phase == "stopped" and watch.next_deadline() is None
    failing = PlaybackWatch(0.0)
    failing.arm(0.0)
    failing.on_event(_event("STOPPED", "ERROR_OCCURRED"), 0.5)
    assert failing.phase == "failed" and "ERROR_OCCURRED" in (failing.error or "")


# ----------------------------------- numbers a server sends: at most 20 digits (rule B8)


def test_long_digit_runs_in_didl_and_answers_read_as_unknown_never_raise():
    from upnpcm.core.datatypes import as_int
    from upnpcm.core.didl import duration_seconds as parse_duration

    digits = "9" * 5000
    assert parse_duration(f"{digits}:00:00") is None
    assert parse_duration(f"0:00:01.{digits}") is None
    assert parse_duration(f"0:00:01.1/{digits}") is None
    assert parse_duration("1:02:03.5") == 3723.5
    assert parse_duration("0:00:01.1/4") == 1.25
    didl = (
        '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/">'
        '<item id="1" parentID="0" restricted="1"><dc:title>t</dc:title>'
        "<upnp:class>object.item.audioItem.musicTrack</upnp:class>"
        f'<res protocolInfo="http-get:*:audio/mpeg:*" size="{digits}" bitrate="{digits}">'
        "http://127.0.0.1/a.mp3</res></item></DIDL-Lite>"
    )
    (item,) = parse_didl(didl).objects
    assert item.resources[0].size is None
    assert as_int(digits, default=-1) == -1
    assert as_int("-3", default=0) == -3
    assert as_int(7, default=0) == 7
    assert as_int(True, default=0) == 0
