"""Our control point against async_upnp_client's server (a real third-party device, pinned)."""

import asyncio
import socket

import pytest

from tests.peers import auc_device
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.cli.render import device_json
from upnpcm.core.subscription import EventReceived, Subscribed
from upnpcm.errors import UPnPError

pytestmark = pytest.mark.peer


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def peer():
    port = free_port()
    server = await auc_device.start(port)
    yield f"http://127.0.0.1:{port}/desc.xml"
    await server.async_stop()


async def test_describe_with_scpds(peer):
    async with ControlPoint() as cp:
        device = await cp.load(peer)
    data = device_json(device, with_scpd=True)
    assert data["device"]["UDN"] == auc_device.UDN
    services = {s["serviceId"]: s for s in data["device"]["services"]}
    cm = services["urn:upnp-org:serviceId:ConnectionManager"]["scpd"]
    assert {a["name"] for a in cm["actions"]} == {
        "GetProtocolInfo",
        "GetCurrentConnectionIDs",
        "GetCurrentConnectionInfo",
        "PrepareForConnection",
        "ConnectionComplete",
    }
    direction = next(v for v in cm["stateVariables"] if v["name"] == "A_ARG_TYPE_Direction")
    assert sorted(direction["allowedValueList"]) == [
        "Input",
        "Output",
    ]  # their order varies (a set)


async def test_every_cm_action_and_another_service(peer):
    async with ControlPoint() as cp:
        device = await cp.load(peer)
        cm = device.service("ConnectionManager")
        assert await cm.call("GetProtocolInfo") == {"Source": auc_device.SOURCE, "Sink": ""}
        prepared = await cm.call(
            "PrepareForConnection",
            RemoteProtocolInfo="http-get:*:audio/mpeg:*",
            PeerConnectionManager="x/y",
            PeerConnectionID=3,
            Direction="Output",
        )
        connection = prepared["ConnectionID"]
        assert await cm.call("GetCurrentConnectionIDs") == {"ConnectionIDs": str(connection)}
        info = await cm.call("GetCurrentConnectionInfo", ConnectionID=connection)
        assert (info["Direction"], info["PeerConnectionID"], info["ProtocolInfo"]) == (
            "Output",
            3,
            "http-get:*:audio/mpeg:*",
        )
        assert await cm.call("ConnectionComplete", ConnectionID=connection) == {}
        with pytest.raises(UPnPError) as fault:
            await cm.call("GetCurrentConnectionInfo", ConnectionID=connection)
        assert fault.value.code == 706
        transport = device.service("AVTransport")
        assert (await transport.call("GetTransportInfo", InstanceID=0))[
            "CurrentTransportState"
        ] == "STOPPED"
        with pytest.raises(UPnPError) as fault:
            await transport.call("GetTransportInfo", InstanceID=5)
        assert fault.value.code == 718


async def test_subscription_receives_the_initial_event(peer):
    async with ControlPoint() as cp:
        device = await cp.load(peer)
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(device.service("ConnectionManager"))
            events = aiter(subscription)
            subscribed = await asyncio.wait_for(anext(events), 5)
            assert isinstance(subscribed, Subscribed)
            initial = await asyncio.wait_for(anext(events), 5)
            assert isinstance(initial, EventReceived) and initial.seq == 0
            assert initial.changes["SourceProtocolInfo"] == auc_device.SOURCE
