"""Our control point against real devices written by others: gmediarender and rygel (Debian).

Inside the test namespace, on the d0 end of its veth pair. For each device:
describe -S, every ConnectionManager action it offers, a call to another
service, and an event subscription that receives the initial event.
"""

import asyncio

import pytest

from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.cli.render import device_json, negotiation_json
from upnpcm.core.protocol_info import parse_list
from upnpcm.core.subscription import EventReceived
from upnpcm.errors import ActionArgumentError, UPnPError

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    # Module scope: they share port 1900, and a unicast search meant for us
    # elsewhere in this directory could land on their socket instead.
    from tests.netns.peers import start_peers, stop_peers

    started = start_peers(tmp_path_factory.mktemp("peers"))
    yield started
    stop_peers(started)


CASES = {
    # peer: (device type, CM direction, another service, its action, arguments, an expected out-argument)
    "gmediarender": (
        "MediaRenderer",
        "sink",
        "AVTransport",
        "GetTransportInfo",
        {"InstanceID": 0},
        "CurrentTransportState",
    ),
    "rygel_renderer": (
        "MediaRenderer",
        "sink",
        "AVTransport",
        "GetTransportInfo",
        {"InstanceID": 0},
        "CurrentTransportState",
    ),
    "rygel_server": ("MediaServer", "source", "ContentDirectory", "GetSystemUpdateID", {}, "Id"),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_describe_with_every_scpd(peers, name):
    url = peers.need(name)
    async with ControlPoint() as cp:
        device = await cp.load(url)
    data = device_json(device, with_scpd=True)
    assert CASES[name][0] in data["device"]["deviceType"]
    for service in data["device"]["services"]:
        assert "scpd" in service, service.get("scpdError")
        assert service["scpd"]["actions"]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_connection_manager_action(peers, name):
    url = peers.need(name)
    _, role, *_ = CASES[name]
    async with ControlPoint() as cp:
        device = await cp.load(url)
        cm = device.service("ConnectionManager")
        lists = await cm.call("GetProtocolInfo")
        ours = parse_list(str(lists["Sink" if role == "sink" else "Source"]))
        assert len(ours) > 10 and not ours.invalid
        assert (await cm.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == "0"
        info = await cm.call("GetCurrentConnectionInfo", ConnectionID=0)
        assert info["Direction"] == ("Input" if role == "sink" else "Output")
        assert info["PeerConnectionID"] == -1
        offered = {a.name for a in cm.scpd.actions}
        if "PrepareForConnection" in offered:  # gmediarender lists it (a stub answering 0s)
            prepared = await cm.call(
                "PrepareForConnection",
                RemoteProtocolInfo=ours.entries[0].__str__(),
                PeerConnectionManager="",
                PeerConnectionID=-1,
                Direction="Input",
            )
            assert set(prepared) == {"ConnectionID", "AVTransportID", "RcsID"}
        else:
            with pytest.raises(ActionArgumentError) as info:
                await cm.call(
                    "PrepareForConnection",
                    RemoteProtocolInfo="x",
                    PeerConnectionManager="",
                    PeerConnectionID=-1,
                    Direction="Input",
                )
            assert info.value.code == 401
        if "ConnectionComplete" not in offered:
            with pytest.raises(ActionArgumentError):
                await cm.call("ConnectionComplete", ConnectionID=0)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_call_to_another_service(peers, name):
    url = peers.need(name)
    _, _, service, action, arguments, out = CASES[name]
    async with ControlPoint() as cp:
        device = await cp.load(url)
        result = await device.service(service).call(action, **arguments)
    assert out in result


async def test_rygel_faults_reach_us_with_their_codes(peers):
    url = peers.need("rygel_server")
    async with ControlPoint() as cp:
        device = await cp.load(url)
        with pytest.raises(UPnPError) as info:
            await device.service("ConnectionManager").call(
                "GetCurrentConnectionInfo", ConnectionID=5
            )
    assert info.value.code == 706


@pytest.mark.parametrize("name", sorted(CASES))
async def test_subscription_receives_the_initial_event(peers, name):
    url = peers.need(name)
    async with ControlPoint() as cp:
        device = await cp.load(url)
        async with EventListener(cp.http, bind_host="0.0.0.0") as listener:
            received = asyncio.Queue()
            await listener.subscribe(
                device.service("ConnectionManager"), on_event=received.put_nowait
            )
            while True:
                event = await asyncio.wait_for(received.get(), 10)
                if isinstance(event, EventReceived):
                    break
            assert event.seq == 0
            assert (
                event.changes
            )  # gmediarender wraps its variables in LastChange; rygel sends them plainly


async def test_negotiate_our_server_with_gmediarender(peers, tmp_path):
    import json
    import subprocess
    import sys

    from upnpcm.host import DeviceHost
    from upnpcm.negotiation import disconnect, negotiate
    from upnpcm.settings import DeviceSettings

    url = peers.need("gmediarender")
    ours = DeviceHost(
        DeviceSettings(host=("10.99.0.1",), port=0, ssdp=False, renderer=False), state_dir=tmp_path
    )
    await ours.start()
    try:
        async with ControlPoint() as cp:
            server = (await cp.load(ours.description_url("10.99.0.1"))).service(
                "MediaServer/ConnectionManager"
            )
            renderer = (await cp.load(url)).service("ConnectionManager")
            result = negotiation_json(await negotiate(server, renderer, mime="audio/mpeg"))
            assert result["protocolInfo"].startswith("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
            assert result["sink"] == "http-get:*:audio/mpeg:*"
            assert result["server"]["connectionId"] == 1 and result["server"]["prepared"]
            assert (
                result["server"]["peerConnectionManager"]
                == f"{renderer.device.udn}/urn:upnp-org:serviceId:ConnectionManager"
            )
            # gmediarender's PrepareForConnection is a stub that answers 0 for every ID.
            assert result["renderer"] == {
                "device": "uuid:11111111-2222-3333-4444-555555555555",
                "service": "MediaRenderer/ConnectionManager",
                "peerConnectionManager": server.peer_id,
                "connectionId": 0,
                "avTransportId": 0,
                "rcsId": 0,
                "prepared": True,
                "note": "the device answered ConnectionID 0",
            }
            assert (await server.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == "1"
            done = await disconnect(server, 1, renderer, 0)
            assert done["server"]["completed"] and "implicit" in done["renderer"]["skipped"]
            assert (await server.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == ""
        # As a subprocess (asynchronously: our device answers from this event loop).
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "upnpcm",
            "negotiate",
            ours.description_url("10.99.0.1"),
            url,
            "--protocol",
            "http-get",
            "--mime",
            "audio/flac",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err
        data = json.loads(out)
        assert (
            data["sink"] == "http-get:*:audio/x-flac:*"
        )  # gmediarender says x-flac: an alias of flac
        assert (data["server"]["connectionId"], data["renderer"]["connectionId"]) == (2, 0)
    finally:
        await ours.stop()


class GatedSink:
    """A sink that holds the first bytes of a stream until the test has looked (then counts)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.opened = asyncio.Event()
        self.received: dict[str, int] = {}
        self.complete: dict[str, bool] = {}

    async def open(self, uri, content_type):
        self.received[uri] = 0
        self.opened.set()

    async def write(self, data):
        await self.gate.wait()
        self.received[next(reversed(self.received))] += len(data)
        return True

    async def close(self, *, complete):
        self.complete[next(reversed(self.received))] = complete


async def test_negotiate_rygels_server_with_our_renderer_then_play_its_item(peers, tmp_path):
    import json
    import subprocess
    import sys

    from upnpcm import DeviceHost, DeviceSettings
    from upnpcm.renderer import MediaRenderer

    server_url = peers.need("rygel_server")
    sink = GatedSink()
    renderer = MediaRenderer(friendly_name="upnpcm renderer in the namespace", sink=sink)
    settings = DeviceSettings(host=("10.99.0.1",), port=0, ssdp=False)
    async with (
        DeviceHost(renderer.device, settings=settings, state_dir=tmp_path) as ours,
        ControlPoint() as cp,
    ):
        renderer_url = ours.description_url("10.99.0.1")
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "upnpcm",
            "--json",
            "negotiate",
            server_url,
            renderer_url,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, err
        negotiated = json.loads(out)
        side = negotiated["renderer"]
        assert side["prepared"] and side["connectionId"] >= 1
        # Real instances for the connection (rule R9): their IDs are the ConnectionID.
        assert side["avTransportId"] == side["rcsId"] == side["connectionId"]
        assert negotiated["server"]["prepared"] is False  # rygel offers no PrepareForConnection
        instance = side["avTransportId"]

        server = await cp.load(server_url)
        found = {}
        async with asyncio.timeout(30):  # rygel indexes its folder after it starts
            while not found.get("Result", "").count("<item"):
                found = await server.service("ContentDirectory").call(
                    "Search",
                    ContainerID="0",
                    SearchCriteria='upnp:class derivedfrom "object.item.audioItem"',
                    Filter="*",
                    StartingIndex=0,
                    RequestedCount=0,
                    SortCriteria="",
                )
                await asyncio.sleep(0.2)
        didl = str(found["Result"])
        item_url = didl[didl.index("<res ") :].split(">", 1)[1].split("<", 1)[0]
        size = int(didl.split('size="', 1)[1].split('"', 1)[0])

        avt = (await cp.load(renderer_url)).service("AVTransport")
        await avt.call(
            "SetAVTransportURI", InstanceID=instance, CurrentURI=item_url, CurrentURIMetaData=didl
        )
        await avt.call("Play", InstanceID=instance, Speed="1")
        info = await avt.call("GetTransportInfo", InstanceID=instance)
        assert (info["CurrentTransportState"], info["CurrentTransportStatus"]) == ("PLAYING", "OK")
        sink.gate.set()  # now let it read the rest
        async with asyncio.timeout(10):
            while not sink.complete.get(item_url):
                await asyncio.sleep(0.05)
        assert sink.received[item_url] == size  # the server's item, every byte of it
        # No duration in rygel's metadata: the WAV's own header gives it (1 s, rule Y4), and
        # the track stops by itself when that has played.
        async with asyncio.timeout(5):
            while (await avt.call("GetTransportInfo", InstanceID=instance))[
                "CurrentTransportState"
            ] != "STOPPED":
                await asyncio.sleep(0.05)
        cm = (await cp.load(renderer_url)).service("ConnectionManager")
        await cm.call("ConnectionComplete", ConnectionID=side["connectionId"])
        with pytest.raises(UPnPError) as gone:
            await avt.call("GetTransportInfo", InstanceID=instance)
        assert gone.value.code == 718
