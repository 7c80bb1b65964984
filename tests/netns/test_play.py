"""`upnpcm play`, `browse` and `negotiate` against real servers and renderers (inside the namespace).

Servers: gerbera, minidlna, rygel's MediaExport; renderers: gmediarender,
rygel's Playbin (Debian packages) and our own (`upnpcm serve --profile renderer`), all on d0. The media are made by the
fixture (tests/netns/peers.py): a tone as MP3, FLAC and WAV, a JPEG, a PPM and
a text file. rygel transcodes, so its items have several formats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from upnpcm.aio.content import browse, by_path
from upnpcm.aio.control_point import ControlPoint
from upnpcm.core.protocol_info import match, parse_list
from upnpcm.errors import NegotiationError, RemoteProtocolError, UPnPError
from upnpcm.play import play

pytestmark = pytest.mark.peer

SERVERS = ("gerbera", "minidlna", "rygel_server")
RENDERERS = ("gmediarender", "rygel_renderer", "upnpcm_renderer")
#: A path of titles to the MP3 track on each server (their own layouts).
MP3_PATH = {
    "gerbera": "Audio/All Audio/Tone MP3",
    "minidlna": "Browse Folders/Album/Tone MP3",
    "rygel_server": "Files & Folders/media/Album/Tone MP3",
}
ALBUM = {
    "gerbera": "PC Directory",  # then the media folder's absolute path: looked up below
    "minidlna": "Browse Folders/Album",
    "rygel_server": "Files & Folders/media/Album",
}


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    from tests.netns.peers import start_peers, stop_peers, until_indexed

    started = start_peers(tmp_path_factory.mktemp("peers"), servers=True)
    try:
        for name in SERVERS:
            if getattr(started, name) is not None:
                asyncio.run(until_indexed(started.need(name), MP3_PATH[name]))
        yield started
    finally:
        stop_peers(started)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upnpcm", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _item_id(url: str, path: str) -> str:
    async with ControlPoint() as cp:
        cd = (await cp.load(url)).service("ContentDirectory")
        return (await by_path(cd, path)).id


async def _renderer_state(url: str) -> tuple[str, str, str]:
    """(TransportState, CurrentURI, CurrentConnectionIDs) of a renderer."""
    async with ControlPoint() as cp:
        device = await cp.load(url)
        info = await device.service("AVTransport").call("GetTransportInfo", InstanceID=0)
        media = await device.service("AVTransport").call("GetMediaInfo", InstanceID=0)
        ids = await device.service("ConnectionManager").call("GetCurrentConnectionIDs")
    return str(info["CurrentTransportState"]), str(media["CurrentURI"]), str(ids["ConnectionIDs"])


async def _transport_state(av_transport, want: str, instance: int = 0, seconds: float = 5.0) -> str:
    """The TransportState of ``instance`` once it is ``want`` (renderers apply Stop
    asynchronously: gmediarender answers Stop before its pipeline has stopped), or the last one
    seen. "released" when the renderer no longer has the instance (718: ConnectionComplete of
    a renderer that makes an instance per connection, as ours does, ends it: CM:1 §2.4.3)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            info = await av_transport.call("GetTransportInfo", InstanceID=instance)
        except UPnPError as fault:
            if instance and fault.code == 718:
                return "released"
            raise
        state = str(info["CurrentTransportState"])
        if state == want or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.1)


async def _renderer_state_after_stop(url: str, instance: int) -> tuple[str, str, str]:
    """:func:`_renderer_state` once the instance played is STOPPED or released."""
    async with ControlPoint() as cp:
        state = await _transport_state(
            (await cp.load(url)).service("AVTransport"), "STOPPED", instance
        )
    _, uri, ids = await _renderer_state(url)
    return state, uri, ids


async def _positions(url: str, instance: int, gap: float = 1.5) -> tuple[float, float]:
    from upnpcm.core.didl import duration_seconds

    async with ControlPoint() as cp:
        avt = (await cp.load(url)).service("AVTransport")
        info = await avt.call("GetPositionInfo", InstanceID=instance)
        first = duration_seconds(str(info["RelTime"]))
        await asyncio.sleep(gap)
        info = await avt.call("GetPositionInfo", InstanceID=instance)
        second = duration_seconds(str(info["RelTime"]))
    assert first is not None and second is not None
    return first, second


def _unsubscribe_again(event_url: str, sid: str) -> int:
    request = urllib.request.Request(event_url, method="UNSUBSCRIBE", headers={"SID": sid})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _event_url(url: str) -> str:
    async with ControlPoint() as cp:
        return (await cp.load(url)).service("AVTransport").event_url


def _read_records(proc: subprocess.Popen[str], until: str, seconds: float = 30) -> list[dict]:
    assert proc.stdout is not None
    records: list[dict] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        records.append(json.loads(line))
        if records[-1].get("type") == until:
            return records
    raise AssertionError(
        f"no {until!r} record: {records}; stderr: {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.mark.parametrize("by", ["id", "path"])
@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("server", SERVERS)
def test_play_reaches_playing_and_ctrl_c_tears_down(peers, server, renderer, by):
    server_url, renderer_url = peers.need(server), peers.need(renderer)
    item = MP3_PATH[server] if by == "path" else asyncio.run(_item_id(server_url, MP3_PATH[server]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "upnpcm", "play", server_url, item, renderer_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        records = _read_records(proc, "playing")
        playing = records[-1]
        chosen = next(r for r in records if r["type"] == "chosen")
        assert chosen["resource"]["protocolInfo"].split(":")[2] == "audio/mpeg"
        assert playing["transportState"] == "PLAYING"
        instance = playing["avTransportInstance"]
        first, second = asyncio.run(_positions(renderer_url, instance))
        assert second > first  # the position advances
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    state, _, ids = asyncio.run(_renderer_state_after_stop(renderer_url, instance))
    assert state == ("released" if instance else "STOPPED")
    assert ids in ("", "0")  # no connection left but the implicit one

    async def server_ids() -> str:
        async with ControlPoint() as cp:
            cm = (await cp.load(server_url)).service("ConnectionManager")
            return str((await cm.call("GetCurrentConnectionIDs"))["ConnectionIDs"])

    assert asyncio.run(server_ids()) in ("", "0")
    # No subscription left: the device no longer knows the SID we had.
    assert playing["sid"]
    assert _unsubscribe_again(asyncio.run(_event_url(renderer_url)), playing["sid"]) == 412


@pytest.mark.parametrize(
    ("server", "renderer", "title"),
    [
        # rygel converts the PPM to JPEG, which its renderer takes; gmediarender takes
        # everything these servers serve (audio/*, image/*, even gerbera's text file)
        ("gerbera", "rygel_renderer", "Raw"),
        ("gerbera", "rygel_renderer", "Notes"),
    ],
)
def test_a_format_the_renderer_cannot_take_fails_before_anything_is_sent(
    peers, server, renderer, title
):
    server_url, renderer_url = peers.need(server), peers.need(renderer)
    if server == "gerbera":
        path = asyncio.run(_gerbera_album_path(server_url)) + f"/{title}"
    else:
        path = f"{ALBUM[server]}/{title}"
    before = asyncio.run(_renderer_state(renderer_url))
    done = _cli("-DD", "play", server_url, path, renderer_url)
    assert done.returncode == 1, done.stderr
    assert "takes none of the formats" in done.stderr
    assert "closest Sink entries" in done.stderr
    for action in ("PrepareForConnection", "SetAVTransportURI", "Play "):
        assert f" {action}" not in done.stderr.split("takes none")[0].replace("GetProtocolInfo", "")
    assert asyncio.run(_renderer_state(renderer_url))[1] == before[1]  # CurrentURI untouched


async def _gerbera_album_path(url: str) -> str:
    """gerbera files the folder under PC Directory by its absolute path: find 'Album' there."""
    async with ControlPoint() as cp:
        cd = (await cp.load(url)).service("ContentDirectory")
        titles = ["PC Directory"]
        node = await by_path(cd, "PC Directory")
        for _ in range(12):
            children = [obj async for obj in browse(cd, node.id) if obj.container]
            assert children, titles
            node = children[0]
            titles.append(node.title)
            if node.title == "Album":
                return "/".join(titles)
    raise AssertionError(titles)


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_an_item_of_several_formats_plays_the_one_the_renderer_ranks_best(peers, renderer):
    server_url, renderer_url = peers.need("rygel_server"), peers.need(renderer)
    async with ControlPoint() as cp:
        playback = await play(
            server_url, f"{ALBUM['rygel_server']}/Tone FLAC", renderer_url, control_point=cp
        )
        try:
            formats = {r.info.content_format.split(";")[0].lower() for r in playback.item.resources}
            assert len(formats) >= 3, formats  # the original and rygel's conversions
            sinks = parse_list(
                str((await playback.renderer_cm.call("GetProtocolInfo"))["Sink"])
            ).entries
            # Every res is playable here; the original wins over every conversion (F2) …
            assert not playback.choice.converted
            assert playback.choice.resource.info.mime.canonical == "audio/flac"
            # … and the conversions follow the renderer's own ranking: best match, then Sink order.
            conversions = [c for c in playback.ranked if c.converted]
            keys = [(-c.score, c.sink_index) for c in conversions]
            assert keys == sorted(keys)
            for c in conversions:
                assert match(c.resource.info, sinks[c.sink_index]).score == c.score
            media = await playback.av_transport.call(
                "GetMediaInfo", InstanceID=playback.instance_id
            )
            assert media["CurrentURI"] == playback.choice.resource.url
            assert playback.state == "PLAYING"
        finally:
            await playback.stop()
        instance = playback.instance_id
        state = await _transport_state(playback.av_transport, "STOPPED", instance)
        assert state == ("released" if instance else "STOPPED")


async def test_end_of_track_tears_down_by_itself(peers):
    server_url, renderer_url = peers.need("minidlna"), peers.need("gmediarender")
    seen = []
    playback = await play(server_url, MP3_PATH["minidlna"], renderer_url, on_change=seen.append)
    snapshot = await asyncio.wait_for(playback.wait(), 30)
    assert snapshot.phase == "ended"
    assert playback.teardown is not None and playback.teardown["unsubscribed"]
    assert "stop" not in playback.teardown  # it ended: nothing to stop
    positions = [s.position for s in seen if s.position is not None]
    assert positions and max(positions) > 3


def test_browse_pages_and_prints_ndjson(peers):
    url = peers.need("minidlna")
    # minidlna's root: TotalMatches 0 with 4 containers; one per window still lists them all.
    done = _cli("browse", url, "0", "--page-size", "1")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["title"] for r in records} >= {"Browse Folders", "Music", "Pictures", "Video"}
    album = asyncio.run(_item_id(url, ALBUM["minidlna"]))
    done = _cli("browse", url, album, "--page-size", "2")
    tracks = [json.loads(line) for line in done.stdout.splitlines()]
    mp3 = next(t for t in tracks if t["title"] == "Tone MP3")
    assert mp3["res"][0]["protocolInfo"].startswith("http-get:*:audio/mpeg:")
    assert mp3["res"][0]["duration"] and mp3["res"][0]["size"] > 0


def test_negotiate_fallback_ids_rygel_and_gmediarender(peers):
    # rygel offers no PrepareForConnection: connection 0, and its IDs are what
    # GetCurrentConnectionInfo(0) says (0/0), not -1.
    done = _cli("negotiate", peers.need("rygel_server"), peers.need("rygel_renderer"))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["renderer"]["prepared"] is False
    assert (data["renderer"]["avTransportId"], data["renderer"]["rcsId"]) == (0, 0)
    assert data["server"]["connectionId"] == 0
    # gmediarender's PrepareForConnection is a stub answering 0s.
    done = _cli("negotiate", peers.need("gerbera"), peers.need("gmediarender"))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["renderer"]["avTransportId"], data["renderer"]["rcsId"]) == (0, 0)
    assert data["chose"] == "format" and "not an item" in data["note"]


def test_negotiate_with_an_item_sends_its_own_protocol_info(peers):
    server_url = peers.need("minidlna")
    item = asyncio.run(_item_id(server_url, MP3_PATH["minidlna"]))
    done = _cli("negotiate", server_url, peers.need("gmediarender"), "--item", item)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["chose"] == "item"
    assert data["protocolInfo"] == data["resource"]["protocolInfo"]
    assert data["protocolInfo"].startswith("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    # Without an item: a content format, not raw PCM nor an image profile (minidlna lists both).
    done = _cli("negotiate", server_url, peers.need("gmediarender"))
    data = json.loads(done.stdout)
    essence = data["protocolInfo"].split(":")[2].split(";")[0].lower()
    assert not essence.startswith(("image/", "audio/l16")), data["protocolInfo"]


async def test_gerbera_misnamed_out_argument(peers, caplog):
    url = peers.need("gerbera")
    caplog.set_level(logging.WARNING, logger="upnpcm.control_point")
    async with ControlPoint() as cp:
        cm = (await cp.load(url)).service("ConnectionManager")
        result = await cm.call("GetCurrentConnectionIDs")
    assert result == {"ConnectionIDs": "0"}  # gerbera says <ConnectionID>
    assert any("'ConnectionID'" in r.getMessage() for r in caplog.records)
    async with ControlPoint(strict=True) as cp:
        cm = (await cp.load(url)).service("ConnectionManager")
        with pytest.raises(RemoteProtocolError, match="ConnectionIDs"):
            await cm.call("GetCurrentConnectionIDs")


async def test_one_description_and_scpd_load_per_device(peers):
    from tests.helpers.counting import CountingHttpClient

    http = CountingHttpClient()
    async with ControlPoint(http=http) as cp:
        playback = await play(
            peers.need("minidlna"),
            MP3_PATH["minidlna"],
            peers.need("gmediarender"),
            control_point=cp,
        )
        await playback.stop()
        # A call sequence on the same control point loads nothing again.
        await cp.load(peers.need("gmediarender"))
    gets = [url for method, url in http.requests if method == "GET"]
    assert len(gets) == len(set(gets)), gets
    assert peers.need("minidlna") in gets and peers.need("gmediarender") in gets


async def test_no_playable_format_is_a_negotiation_error_in_the_api(peers):
    path = await _gerbera_album_path(peers.need("gerbera")) + "/Raw"
    with pytest.raises(NegotiationError) as info:
        await play(peers.need("gerbera"), path, peers.need("rygel_renderer"))
    assert info.value.code == 701
