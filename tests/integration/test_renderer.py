"""Our renderer's exact faults, playback errors and per-connection instances (loopback).

Driven by our own control point; arguments it would refuse to send (it checks
them against the SCPD first) go out as raw SOAP requests.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.media import MediaServer, didl
from upnpcm import DeviceHost, DeviceSettings, UPnPError
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.core.soap import build_action_request, parse_fault
from upnpcm.renderer import MediaRenderer

AVT = "urn:schemas-upnp-org:service:AVTransport:1"
RCS = "urn:schemas-upnp-org:service:RenderingControl:1"


@pytest.fixture
async def renderer(tmp_path):
    media = await MediaServer().start()
    renderer = MediaRenderer(open_timeout=2.0)
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with (
        DeviceHost(renderer.device, settings=settings, state_dir=tmp_path) as host,
        ControlPoint() as cp,
    ):
        remote = await cp.load(host.description_url("127.0.0.1"))
        yield host, renderer, remote, media
    await media.stop()


async def raw(host: DeviceHost, path: str, service_type: str, action: str, args) -> int:
    """POST an action with arguments as given (no client-side checks); the fault code or 0."""
    headers, body = build_action_request(service_type, action, list(args))
    reply = await LeanHttpClient().request(
        "POST", f"http://127.0.0.1:{host.port}{path}", headers=headers, body=body
    )
    return 0 if reply.status == 200 else parse_fault(reply.body).code


async def fault(call) -> int:
    with pytest.raises(UPnPError) as info:
        await call
    return info.value.code


async def test_bad_arguments_get_their_exact_faults(renderer):
    host, renderer_obj, remote, media = renderer
    avt, rcs = remote.service("AVTransport"), remote.service("RenderingControl")
    avt_path = renderer_obj.av_transport.control_url
    rcs_path = renderer_obj.rendering_control.control_url
    # UDA (checked from the SCPD before the service runs)
    assert await raw(host, avt_path, AVT, "Stop", []) == 402
    assert await raw(host, avt_path, AVT, "Stop", [("InstanceID", "x")]) == 402
    assert (
        await raw(
            host,
            rcs_path,
            RCS,
            "SetVolume",
            [("InstanceID", "0"), ("Channel", "Master"), ("DesiredVolume", "101")],
        )
        == 601
    )
    assert (
        await raw(host, rcs_path, RCS, "GetVolume", [("InstanceID", "0"), ("Channel", "LF")]) == 601
    )
    assert await raw(host, avt_path, AVT, "Record", [("InstanceID", "0")]) == 401
    # AVTransport and RenderingControl's own codes
    assert await fault(avt.call("GetTransportInfo", InstanceID=5)) == 718
    assert await fault(rcs.call("GetMute", InstanceID=5, Channel="Master")) == 702
    assert (
        await raw(
            host, rcs_path, RCS, "SelectPreset", [("InstanceID", "0"), ("PresetName", "Jazz")]
        )
        == 701
    )
    assert await fault(avt.call("Play", InstanceID=0, Speed="1")) == 701  # no media
    assert (
        await fault(
            avt.call(
                "SetAVTransportURI", InstanceID=0, CurrentURI="ftp://x/y", CurrentURIMetaData=""
            )
        )
        == 716
    )
    url = media.url("track.mp3")
    assert (
        await fault(
            avt.call(
                "SetAVTransportURI",
                InstanceID=0,
                CurrentURI=url,
                CurrentURIMetaData=didl(url, mime="video/x-unknown"),
            )
        )
        == 714
    )
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=url, CurrentURIMetaData=didl(url))
    assert await fault(avt.call("Pause", InstanceID=0)) == 701  # STOPPED cannot pause
    assert await fault(avt.call("Next", InstanceID=0)) == 711
    assert (
        await raw(
            host, avt_path, AVT, "Seek", [("InstanceID", "0"), ("Unit", "FRAME"), ("Target", "1")]
        )
        == 710
    )
    assert await raw(host, avt_path, AVT, "Play", [("InstanceID", "0"), ("Speed", "2")]) == 717
    assert (
        await fault(avt.call("Seek", InstanceID=0, Unit="REL_TIME", Target="1:00:00")) == 711
    )  # past 5 min
    assert await fault(avt.call("Seek", InstanceID=0, Unit="REL_TIME", Target="soon")) == 711
    assert await fault(avt.call("Seek", InstanceID=0, Unit="TRACK_NR", Target="2")) == 711
    await avt.call("Seek", InstanceID=0, Unit="ABS_TIME", Target="0:01:00")
    assert (await avt.call("GetPositionInfo", InstanceID=0))["RelTime"] == "0:01:00"


async def test_play_answers_what_the_server_said(renderer):
    _, renderer_obj, remote, media = renderer
    avt = remote.service("AVTransport")
    missing, page = media.url("missing.mp3"), media.url("page")
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=missing, CurrentURIMetaData="")
    assert await fault(avt.call("Play", InstanceID=0, Speed="1")) == 716  # 404
    info = await avt.call("GetTransportInfo", InstanceID=0)
    assert (info["CurrentTransportState"], info["CurrentTransportStatus"]) == ("STOPPED", "OK")
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=page, CurrentURIMetaData="")
    assert await fault(avt.call("Play", InstanceID=0, Speed="1")) == 714  # text/html
    assert renderer_obj.av_transport.statistics()[0]["state"] == "STOPPED"


async def test_a_closed_port_is_error_occurred_and_the_device_stays_up(renderer):
    _, _, remote, media = renderer
    avt, cm = remote.service("AVTransport"), remote.service("ConnectionManager")
    closed = "http://127.0.0.1:9/track.mp3"
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=closed, CurrentURIMetaData="")
    await avt.call("Play", InstanceID=0, Speed="1")  # the transition was begun
    info = await avt.call("GetTransportInfo", InstanceID=0)
    assert (info["CurrentTransportState"], info["CurrentTransportStatus"]) == (
        "STOPPED",
        "ERROR_OCCURRED",
    )
    assert "Play" in (await avt.call("GetCurrentTransportActions", InstanceID=0))["Actions"]
    assert (await cm.call("GetCurrentConnectionIDs")) == {"ConnectionIDs": ""}  # still answering
    url = media.url("track.mp3")
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=url, CurrentURIMetaData="")
    await avt.call("Play", InstanceID=0, Speed="1")
    info = await avt.call("GetTransportInfo", InstanceID=0)
    assert (info["CurrentTransportStatus"]) == "OK"


async def test_a_stream_without_a_duration_ends_with_its_body(renderer):
    _, renderer_obj, remote, media = renderer
    avt = remote.service("AVTransport")
    url, other = media.url("track.mp3"), media.url("other.mp3")
    await avt.call("SetAVTransportURI", InstanceID=0, CurrentURI=url, CurrentURIMetaData="")
    await avt.call("SetNextAVTransportURI", InstanceID=0, NextURI=other, NextURIMetaData="")
    await avt.call("Play", InstanceID=0, Speed="1")
    async with asyncio.timeout(5):  # Y5: the first ends, the next plays, then it stops
        while renderer_obj.av_transport.statistics()[0]["uri"] != other or (
            renderer_obj.av_transport.statistics()[0]["state"] != "STOPPED"
        ):
            await asyncio.sleep(0.02)
    assert [s.uri for s in renderer_obj.sink.streams] == [url, other]
    assert all(s.complete for s in renderer_obj.sink.streams)
    assert await fault(avt.call("Next", InstanceID=0)) == 711
    await avt.call("Previous", InstanceID=0)
    assert (await avt.call("GetMediaInfo", InstanceID=0))["CurrentURI"] == url


async def test_a_stream_whose_header_gives_its_length_plays_that_long(renderer):
    # Y4: no res@duration, but the WAV header says 1.5 s: the track is not over when its
    # few kilobytes have arrived; it plays 1.5 s, then stops by itself.
    _, renderer_obj, remote, media = renderer
    avt = remote.service("AVTransport")
    await avt.call(
        "SetAVTransportURI", InstanceID=0, CurrentURI=media.url("tone.wav"), CurrentURIMetaData=""
    )
    started = asyncio.get_running_loop().time()
    await avt.call("Play", InstanceID=0, Speed="1")
    async with asyncio.timeout(5):
        while not renderer_obj.sink.streams or not renderer_obj.sink.streams[-1].complete:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the whole body is in, well before the track's end
    assert (await avt.call("GetTransportInfo", InstanceID=0))["CurrentTransportState"] == "PLAYING"
    assert (await avt.call("GetPositionInfo", InstanceID=0))["TrackDuration"] == "0:00:01"
    assert (await avt.call("GetMediaInfo", InstanceID=0))["MediaDuration"] == "0:00:01"
    async with asyncio.timeout(5):
        while (await avt.call("GetTransportInfo", InstanceID=0))[
            "CurrentTransportState"
        ] != "STOPPED":
            await asyncio.sleep(0.05)
    assert asyncio.get_running_loop().time() - started >= 1.4


async def test_each_connection_gets_its_own_instances(renderer):
    _, renderer_obj, remote, media = renderer
    cm, avt, rcs = (
        remote.service(n) for n in ("ConnectionManager", "AVTransport", "RenderingControl")
    )
    prepared = await cm.call(
        "PrepareForConnection",
        RemoteProtocolInfo="http-get:*:audio/mpeg:*",
        PeerConnectionManager="",
        PeerConnectionID=-1,
        Direction="Input",
    )
    assert prepared == {"ConnectionID": 1, "AVTransportID": 1, "RcsID": 1}
    info = await cm.call("GetCurrentConnectionInfo", ConnectionID=1)
    assert (info["AVTransportID"], info["RcsID"]) == (1, 1)
    url = media.url("track.mp3")
    await avt.call("SetAVTransportURI", InstanceID=1, CurrentURI=url, CurrentURIMetaData=didl(url))
    await avt.call("Play", InstanceID=1, Speed="1")
    await rcs.call("SetVolume", InstanceID=1, Channel="Master", DesiredVolume=7)
    assert (await avt.call("GetTransportInfo", InstanceID=1))["CurrentTransportState"] == "PLAYING"
    assert (await avt.call("GetTransportInfo", InstanceID=0))[
        "CurrentTransportState"
    ] == "NO_MEDIA_PRESENT"
    assert (await rcs.call("GetVolume", InstanceID=0, Channel="Master"))["CurrentVolume"] == 30
    await cm.call("ConnectionComplete", ConnectionID=1)
    assert await fault(avt.call("GetTransportInfo", InstanceID=1)) == 718
    assert await fault(rcs.call("GetVolume", InstanceID=1, Channel="Master")) == 702
    assert list(renderer_obj.av_transport.instances) == [0]
    with pytest.raises(UPnPError) as refused:
        await cm.call(
            "PrepareForConnection",
            RemoteProtocolInfo="http-get:*:video/x-unknown:*",
            PeerConnectionManager="",
            PeerConnectionID=-1,
            Direction="Input",
        )
    assert refused.value.code == 701
