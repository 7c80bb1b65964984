"""End-to-end connection negotiation between ConnectionManagers (loopback)."""

import asyncio
from dataclasses import replace

import pytest

from upnpcm.aio.events import EventListener
from upnpcm.control_point import ControlPoint
from upnpcm.core.subscription import EventReceived
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
                data = result.as_json()
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
            error = info.value.as_json()
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
            data = (await negotiate(server, renderer)).as_json()
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
            data = (await negotiate(server, renderer)).as_json()
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
                "avTransportId": -1,
                "rcsId": -1,
                "prepared": False,
                "note": "PrepareForConnection is not offered: connection 0",
            }
            assert renderer.device.udn.endswith("_MR")
    finally:
        await server_host.stop()
        await sonos.stop()
