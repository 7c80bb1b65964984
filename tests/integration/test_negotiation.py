"""End-to-end connection negotiation between ConnectionManagers (loopback)."""

import asyncio
from dataclasses import replace

import pytest
from aiohttp import web

from tests.helpers.fake_http import FakeHttp, never_answer
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.cli.render import negotiation_error_json, negotiation_json
from upnpcm.core.subscription import EventReceived
from upnpcm.errors import RemoteProtocolError, UpnpTimeoutError
from upnpcm.host import DeviceHost
from upnpcm.negotiation import NegotiationError, disconnect, negotiate
from upnpcm.settings import DeviceSettings

BASE = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)


async def host(tmp_path, name, **kw):
    device = DeviceHost(replace(BASE, **kw), state_dir=tmp_path / name)
    await device.start()
    return device


async def cms(cp, server_host, renderer_host):
    server = (await cp.load(server_host.description_url("127.0.0.1"))).service(
        "MediaServer/ConnectionManager"
    )
    renderer = (await cp.load(renderer_host.description_url("127.0.0.1"))).service(
        "MediaRenderer/ConnectionManager"
    )
    return server, renderer


async def ids(service):
    return (await service.call("GetCurrentConnectionIDs"))["ConnectionIDs"]


async def test_our_server_and_renderer_fully_prepared_evented_and_disconnected(tmp_path):
    server_host = await host(tmp_path, "s", renderer=False)
    renderer_host = await host(tmp_path, "r", server=False)
    try:
        async with ControlPoint() as cp:
            server, renderer = await cms(cp, server_host, renderer_host)
            async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
                seen = {"server": asyncio.Queue(), "renderer": asyncio.Queue()}
                await listener.subscribe(server, on_event=seen["server"].put_nowait)
                await listener.subscribe(renderer, on_event=seen["renderer"].put_nowait)

                async def next_ids(role):
                    while True:
                        event = await asyncio.wait_for(seen[role].get(), 5)
                        if (
                            isinstance(event, EventReceived)
                            and "CurrentConnectionIDs" in event.changes
                        ):
                            return event.changes["CurrentConnectionIDs"]

                assert (
                    await next_ids("server") == "" and await next_ids("renderer") == ""
                )  # initial events
                result = await negotiate(server, renderer, mime="audio/mp3")
                data = negotiation_json(result)
                assert (
                    data["protocolInfo"]
                    == "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01;DLNA.ORG_FLAGS=01700000000000000000000000000000"
                )
                assert data["sink"] == "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3"
                assert data["server"] == {
                    "device": server.device.udn,
                    "service": "MediaServer/ConnectionManager",
                    "peerConnectionManager": renderer.peer_id,
                    "connectionId": 1,
                    "avTransportId": -1,
                    "rcsId": -1,
                    "prepared": True,
                }
                assert data["renderer"]["connectionId"] == 1
                assert data["renderer"]["peerConnectionManager"] == server.peer_id
                assert (await ids(server), await ids(renderer)) == ("1", "1")
                info = await renderer.call("GetCurrentConnectionInfo", ConnectionID=1)
                assert (
                    info["PeerConnectionManager"],
                    info["PeerConnectionID"],
                    info["Direction"],
                ) == (server.peer_id, 1, "Input")
                assert (await next_ids("server"), await next_ids("renderer")) == (
                    "1",
                    "1",
                )  # evented
                done = await disconnect(server, 1, renderer, 1)
                assert done["server"]["completed"] and done["renderer"]["completed"]
                assert (await ids(server), await ids(renderer)) == ("", "")
                assert (await next_ids("server"), await next_ids("renderer")) == ("", "")
    finally:
        await server_host.stop()
        await renderer_host.stop()


async def test_renderer_refusal_tears_down_the_server_side(tmp_path):
    server_host = await host(tmp_path, "s", renderer=False)
    renderer_host = await host(tmp_path, "r", server=False, max_connections=1)
    try:
        async with ControlPoint() as cp:
            server, renderer = await cms(cp, server_host, renderer_host)
            await negotiate(server, renderer)  # takes the renderer's only slot
            with pytest.raises(NegotiationError) as info:
                await negotiate(server, renderer)
            error = negotiation_error_json(info.value)
            assert (error["side"], error["code"]) == ("renderer", 704)
            assert error["tornDown"] == [
                {"service": "MediaServer/ConnectionManager", "connectionId": 2, "completed": True}
            ]
            assert await ids(server) == "1"  # the second server connection is gone again
    finally:
        await server_host.stop()
        await renderer_host.stop()


async def test_incompatible_lists_and_server_refusal(tmp_path):
    server_host = await host(
        tmp_path, "s", renderer=False, server_source="http-get:*:video/mp4:*", max_connections=1
    )
    renderer_host = await host(tmp_path, "r", server=False)
    try:
        async with ControlPoint() as cp:
            server, renderer = await cms(cp, server_host, renderer_host)
            with pytest.raises(NegotiationError) as info:
                await negotiate(server, renderer)
            assert (info.value.side, info.value.code) == (None, 701)
            server_host.set_protocol_info("server", source="http-get:*:audio/flac:*")  # at run time
            first = await negotiate(server, renderer)
            assert first.protocol_info == "http-get:*:audio/flac:*"
            with pytest.raises(NegotiationError) as info:
                await negotiate(server, renderer)  # the server's only slot is taken
            assert (info.value.side, info.value.code, info.value.torn_down) == ("server", 704, [])
            assert await ids(renderer) == "1"  # the renderer was never asked the second time
    finally:
        await server_host.stop()
        await renderer_host.stop()


async def test_fallback_to_connection_zero_where_prepare_is_missing(tmp_path):
    server_host = await host(tmp_path, "s", renderer=False, prepare_for_connection=False)
    renderer_host = await host(tmp_path, "r", server=False)
    try:
        async with ControlPoint() as cp:
            server, renderer = await cms(cp, server_host, renderer_host)
            data = negotiation_json(await negotiate(server, renderer))
            assert data["server"]["connectionId"] == 0
            assert data["server"]["prepared"] is False
            assert "not offered" in data["server"]["note"]
            assert data["renderer"]["connectionId"] == 1 and data["renderer"]["prepared"]
            info = await renderer.call("GetCurrentConnectionInfo", ConnectionID=1)
            assert info["PeerConnectionID"] == 0
            done = await disconnect(server, 0, renderer, 1)
            assert "implicit" in done["server"]["skipped"] and done["renderer"]["completed"]
    finally:
        await server_host.stop()
        await renderer_host.stop()


async def test_with_a_sonos_renderer_the_renderer_side_is_connection_zero(tmp_path):
    server_host = await host(tmp_path, "s", renderer=False)
    sonos = await host(tmp_path, "z", profile="sonos")
    try:
        async with ControlPoint() as cp:
            server, renderer = await cms(cp, server_host, sonos)
            data = negotiation_json(await negotiate(server, renderer))
            assert data["sink"] in {
                "http-get:*:audio/mpeg:*",
                "http-get:*:audio/flac:*",
                "http-get:*:audio/mp4:*",
            }
            assert data["server"]["connectionId"] == 1 and data["server"]["prepared"]
            assert data["renderer"] == {
                "device": renderer.device.udn,
                "service": "MediaRenderer/ConnectionManager",
                "peerConnectionManager": server.peer_id,
                "connectionId": 0,
                "avTransportId": 0,  # a zone player has an AVTransport and a RenderingControl:
                "rcsId": 0,  # connection 0 uses their instance 0
                "prepared": False,
                "note": "PrepareForConnection is not offered: connection 0",
            }
            assert renderer.device.udn.endswith("_MR")
    finally:
        await server_host.stop()
        await sonos.stop()


SINK_RESPONSE = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
    b' s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    b'<u:GetProtocolInfoResponse xmlns:u="urn:schemas-upnp-org:service:ConnectionManager:1">'
    b"<Source></Source><Sink>http-get:*:*:*</Sink></u:GetProtocolInfoResponse></s:Body></s:Envelope>"
)


def broken_renderer_control(prepare):
    """A renderer control URL: GetProtocolInfo works, PrepareForConnection is ``prepare``."""

    async def control(request):
        if "GetProtocolInfo" in request.headers.get("SOAPACTION", ""):
            return web.Response(body=SINK_RESPONSE, content_type="text/xml")
        return await prepare(request)

    return control


async def html_500(request):
    return web.Response(status=500, text="<html>Internal error</html>", content_type="text/html")


@pytest.mark.parametrize(
    ("prepare", "error", "message"),
    [
        (html_500, RemoteProtocolError, "without a UPnP fault"),
        (never_answer, UpnpTimeoutError, "no complete reply"),
    ],
)
async def test_a_renderer_failing_without_a_fault_still_tears_down_the_server_side(
    tmp_path, prepare, error, message
):
    server_host = await host(tmp_path, "s", renderer=False)
    renderer_host = await host(tmp_path, "r", server=False)
    try:
        async with (
            FakeHttp({"/ctl": broken_renderer_control(prepare)}) as fake,
            ControlPoint(timeout=1) as cp,
        ):
            server, renderer = await cms(cp, server_host, renderer_host)
            renderer.control_url = fake.url("/ctl")  # the renderer's control goes wrong
            with pytest.raises(error, match=message) as info:
                await negotiate(server, renderer)
            assert "the server's connection 1 torn down" in str(info.value)
            assert await ids(server) == ""
    finally:
        await server_host.stop()
        await renderer_host.stop()


async def test_cancelling_while_the_renderer_prepares_tears_down_the_server_side(tmp_path):
    server_host = await host(tmp_path, "s", renderer=False)
    renderer_host = await host(tmp_path, "r", server=False)
    asked = asyncio.Event()

    async def stall(request):
        asked.set()
        return await never_answer(request)

    try:
        async with (
            FakeHttp({"/ctl": broken_renderer_control(stall)}) as fake,
            ControlPoint(timeout=5) as cp,
        ):
            server, renderer = await cms(cp, server_host, renderer_host)
            renderer.control_url = fake.url("/ctl")
            task = asyncio.create_task(negotiate(server, renderer))
            await asyncio.wait_for(asked.wait(), 5)
            assert await ids(server) == "1"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await ids(server) == ""
    finally:
        await server_host.stop()
        await renderer_host.stop()
