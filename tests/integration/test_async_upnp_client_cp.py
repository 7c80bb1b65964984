"""async_upnp_client (a real third-party control point, pinned) drives our device on loopback."""

import asyncio
from datetime import timedelta

import pytest
from async_upnp_client.aiohttp import AiohttpNotifyServer, AiohttpRequester
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.exceptions import UpnpActionResponseError

from tests.helpers.actions import MP3_INPUT

pytestmark = pytest.mark.peer

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"


async def load(device):
    requester = AiohttpRequester(timeout=5)
    factory = UpnpFactory(requester, non_strict=False)
    root = await factory.async_create_device(device.description_url("127.0.0.1"))
    by_type = {d.device_type.split(":")[-2]: d for d in root.all_devices}
    return requester, by_type["MediaRenderer"].service(CM), by_type["MediaServer"].service(CM)


async def call(service, action, **kw):
    return await service.action(action).async_call(**kw)


async def test_all_five_actions_on_both_services(device):
    _, renderer, server = await load(device)
    sink = await call(renderer, "GetProtocolInfo")
    assert sink["Source"] == ""
    assert "http-get:*:audio/flac:*" in sink["Sink"]
    source = await call(server, "GetProtocolInfo")
    assert source["Sink"] == ""
    assert "audio/flac" in source["Source"]
    for service, direction, offer in (
        (renderer, "Input", "http-get:*:audio/mpeg:*"),
        (server, "Output", "http-get:*:audio/x-flac:*"),
    ):
        assert await call(service, "GetCurrentConnectionIDs") == {"ConnectionIDs": ""}
        prepared = await call(
            service,
            "PrepareForConnection",
            RemoteProtocolInfo=offer,
            PeerConnectionManager="uuid:peer/urn:upnp-org:serviceId:ConnectionManager",
            PeerConnectionID=7,
            Direction=direction,
        )
        assert prepared == {"ConnectionID": 1, "AVTransportID": -1, "RcsID": -1}
        assert await call(service, "GetCurrentConnectionIDs") == {"ConnectionIDs": "1"}
        info = await call(service, "GetCurrentConnectionInfo", ConnectionID=1)
        assert info == {
            "RcsID": -1,
            "AVTransportID": -1,
            "ProtocolInfo": offer,
            "PeerConnectionManager": "uuid:peer/urn:upnp-org:serviceId:ConnectionManager",
            "PeerConnectionID": 7,
            "Direction": direction,
            "Status": "OK",
        }
        assert await call(service, "ConnectionComplete", ConnectionID=1) == {}
        assert await call(service, "GetCurrentConnectionIDs") == {"ConnectionIDs": ""}


@pytest.mark.parametrize(
    ("action", "kwargs", "code"),
    [
        ("GetCurrentConnectionInfo", {"ConnectionID": 99}, 706),
        ("ConnectionComplete", {"ConnectionID": 99}, 706),
        (
            "PrepareForConnection",
            {
                "RemoteProtocolInfo": "rtsp-rtp-udp:*:MP2T:*",
                "PeerConnectionManager": "",
                "PeerConnectionID": -1,
                "Direction": "Input",
            },
            701,
        ),
        (
            "PrepareForConnection",
            {
                "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
                "PeerConnectionManager": "",
                "PeerConnectionID": -1,
                "Direction": "Output",
            },
            702,
        ),
    ],
)
async def test_errors_reach_the_client_with_their_codes(device, action, kwargs, code):
    _, renderer, _ = await load(device)
    with pytest.raises(UpnpActionResponseError) as info:
        await call(renderer, action, **kwargs)
    assert info.value.error_code == code
    assert info.value.status == 500


async def test_limit_704_through_the_client(tmp_path):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    async with DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, max_connections=2), state_dir=tmp_path
    ) as dev:
        _, renderer, _ = await load(dev)
        args = {
            "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
            "PeerConnectionManager": "",
            "PeerConnectionID": -1,
            "Direction": "Input",
        }
        ids = [
            (await call(renderer, "PrepareForConnection", **args))["ConnectionID"] for _ in range(2)
        ]
        with pytest.raises(UpnpActionResponseError) as info:
            await call(renderer, "PrepareForConnection", **args)
        assert info.value.error_code == 704
        assert ids == [1, 2]


async def test_event_subscription_initial_event_and_change(device):
    requester, renderer, _ = await load(device)
    notify_server = AiohttpNotifyServer(requester, source=("127.0.0.1", 0))
    await notify_server.async_start_server()
    events: asyncio.Queue = asyncio.Queue()
    renderer.on_event = lambda service, variables: events.put_nowait(
        {v.name: v.value for v in variables}
    )
    try:
        sid, timeout = await notify_server.event_handler.async_subscribe(
            renderer, timeout=timedelta(seconds=1800)
        )
        assert sid.startswith("uuid:")
        assert timeout == timedelta(seconds=1800)
        initial = await asyncio.wait_for(events.get(), 5)
        assert set(initial) == {"SourceProtocolInfo", "SinkProtocolInfo", "CurrentConnectionIDs"}
        assert initial["CurrentConnectionIDs"] == ""
        await call(renderer, "PrepareForConnection", **MP3_INPUT)
        change = await asyncio.wait_for(events.get(), 5)
        assert change == {"CurrentConnectionIDs": "1"}
        await notify_server.event_handler.async_unsubscribe(renderer)
    finally:
        await notify_server.async_stop_server()
