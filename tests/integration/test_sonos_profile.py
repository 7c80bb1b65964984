"""`--profile sonos`: one zone player as `upnpcm serve` runs it, checked with real clients.

The device runs as a real `upnpcm serve` process on 127.0.0.42 and a free port
(SoCo(ip, port) and every client here honour it); SoCo is synchronous, so it
must not share our event loop. A household's clients are in test_sonos_soco.py,
test_sonos_node.py and tests/netns/test_sonos_household.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass

import pytest

from tests.conftest import load_fixture
from tests.helpers.processes import start_serve, stop
from tests.helpers.soco_listener import quiet_soco_listener
from upnpcm.core.description import parse_device_description, parse_scpd
from upnpcm.core.soap import build_action_request, parse_fault

pytestmark = pytest.mark.peer

IP = "127.0.0.42"
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
SINK = load_fixture("sonos", "MediaRenderer-GetProtocolInfo-Sink.txt").decode()
ROOT_SERVICES = [
    "AlarmClock",
    "MusicServices",
    "DeviceProperties",
    "SystemProperties",
    "ZoneGroupTopology",
    "GroupManagement",
    "HTControl",
    "QPlay",
]
MR_SERVICES = [
    "RenderingControl",
    "ConnectionManager",
    "AVTransport",
    "Queue",
    "GroupRenderingControl",
    "VirtualLineIn",
]


@dataclass(frozen=True)
class Player:
    port: int

    @property
    def base(self) -> str:
        return f"http://{IP}:{self.port}"

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with urllib.request.urlopen(self.base + path, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()

    def soap(self, path, service_type, action, args=(), soapaction=None):
        headers, body = build_action_request(service_type, action, list(args))
        if soapaction is not None:
            headers["SOAPACTION"] = soapaction
        request = urllib.request.Request(
            self.base + path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture(scope="module")
def zone_player(tmp_path_factory):
    state = tmp_path_factory.mktemp("sonos")
    proc, match = start_serve(
        "--profile", "sonos", "--host", IP, "--port", "0", "--no-ssdp", "--state-dir", str(state)
    )
    yield Player(int(match.group(1)))
    stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_scpd_is_the_capture_byte_for_byte_and_every_scpd_is_served(zone_player):
    status, headers, body = zone_player.get("/xml/ConnectionManager1.xml")
    assert status == 200
    assert body == load_fixture("sonos", "ConnectionManager1.xml")
    assert (
        hashlib.sha256(body).hexdigest()
        == "e83cb407f88ee426584e81b72ec0cf6f81c9f7cc93d1fe0c781a76050e999c9f"
    )
    assert headers["Server"] == "Linux UPnP/1.0 Sonos/86.7-77050 (ZPS9)"
    _, _, description = zone_player.get("/xml/device_description.xml")
    for _, service in parse_device_description(description).device.iter_services():
        status, headers, scpd = zone_player.get(service.scpd_url)
        assert status == 200 and headers["Content-Type"].startswith("text/xml")
        assert parse_scpd(scpd).actions


def test_description_layout_and_the_elements_sonos_clients_read(zone_player):
    _, _, body = zone_player.get("/xml/device_description.xml")
    root = parse_device_description(body).device
    assert root.device_type == "urn:schemas-upnp-org:device:ZonePlayer:1"
    assert re.fullmatch(r"uuid:RINCON_[0-9A-F]{12}01400", root.udn)
    assert [(d.device_type.split(":")[-2], d.udn) for d in root.devices] == [
        ("MediaServer", root.udn + "_MS"),
        ("MediaRenderer", root.udn + "_MR"),
    ]
    assert [s.service_type.split(":")[-2] for s in root.services] == ROOT_SERVICES
    renderer = root.devices[1]
    assert [s.service_type.split(":")[-2] for s in renderer.services] == MR_SERVICES
    assert renderer.services[3].service_type == "urn:schemas-sonos-com:service:Queue:1"
    assert renderer.services[0].control_url == "/MediaRenderer/RenderingControl/Control"
    assert root.services[7].service_id == "urn:tencent-com:serviceId:QPlay"
    extras = dict(root.extras)
    assert extras["displayVersion"].startswith("16.") and extras["swGen"] == "2"
    assert extras["roomName"] == "Living Room" and extras["zoneType"] == "10"
    assert extras["serialNum"].split(":")[0] == extras["MACAddress"].replace(":", "-")
    assert root.udn == f"uuid:RINCON_{extras['MACAddress'].replace(':', '')}01400"
    [icon] = root.icons
    status, headers, png = zone_player.get(icon.url)
    assert headers["Content-Type"] == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 48 == int.from_bytes(png[20:24], "big")


def test_unsupported_actions_and_what_sonos_clients_send(zone_player):
    cm = "/MediaRenderer/ConnectionManager/Control"
    status, body = zone_player.soap(cm, CM, "ConnectionComplete", [("ConnectionID", "0")])
    assert status == 500 and parse_fault(body).code == 401  # not in the zone player's SCPD
    avt = "urn:schemas-upnp-org:service:AVTransport:1"
    control = "/MediaRenderer/AVTransport/Control"
    status, body = zone_player.soap(
        control, avt, "SaveQueue", [("InstanceID", "0"), ("Title", "x"), ("ObjectID", "")]
    )
    assert status == 500 and parse_fault(body).code == 800  # in the SCPD, not emulated (O11)
    status, body = zone_player.soap(control, avt, "Pause", [("InstanceID", "0"), ("Speed", "1")])
    assert status == 500 and parse_fault(body).code == 701  # the extra Speed is ignored (I6)
    queue = "/MediaRenderer/Queue/Control"
    args = [("QueueID", "0"), ("StartingIndex", "0"), ("RequestedCount", "10")]
    alias = "urn:schemas-upnp-org:service:Queue:1"  # how SoCo, zp and node-sonos-ts name it (I7)
    status, body = zone_player.soap(queue, alias, "Browse", args)
    assert status == 200 and b"<TotalMatches>0</TotalMatches>" in body
    status, headers, page = zone_player.get("/status")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"sonos profile" in page and b"RINCON_" in page


def test_soco_calls_the_connection_managers_and_gets_sonos_values(zone_player):
    import soco
    from soco.exceptions import SoCoUPnPException
    from soco.services import MR_ConnectionManager, MS_ConnectionManager

    player = soco.SoCo(IP, zone_player.port)
    renderer, server = MR_ConnectionManager(player), MS_ConnectionManager(player)
    assert renderer.GetProtocolInfo([]) == {"Source": "", "Sink": SINK}
    assert server.GetProtocolInfo([])["Sink"] == ""
    assert server.GetProtocolInfo([])["Source"].startswith(
        "file:*:audio/mpegurl:*,x-file-cifs:*:*:*"
    )
    assert renderer.GetCurrentConnectionIDs([]) == {"ConnectionIDs": ""}
    with pytest.raises(SoCoUPnPException) as fault:
        renderer.GetCurrentConnectionInfo([("ConnectionID", 0)])
    assert fault.value.error_code == "402"
    with pytest.raises(SoCoUPnPException) as fault:
        server.GetCurrentConnectionInfo([("ConnectionID", 3)])
    assert fault.value.error_code == "706"
    assert player.household_id.startswith("Sonos_")
    assert player.status_light is True
    player.status_light = False
    assert player.status_light is False


def test_soco_event_subscription_initial_event_renew_unsubscribe(zone_player):
    import soco
    from soco import events
    from soco.services import MR_ConnectionManager

    soco.config.EVENT_LISTENER_IP = "127.0.0.1"
    events.event_listener.requested_port_number = free_port()  # never SoCo's default 1400
    player = soco.SoCo(IP, zone_player.port)
    renderer = MR_ConnectionManager(player)
    with quiet_soco_listener():
        subscription = renderer.subscribe(auto_renew=False)
        try:
            assert subscription.is_subscribed
            assert re.fullmatch(r"uuid:RINCON_[0-9A-F]+01400_sub\d{20}", subscription.sid)
            assert subscription.timeout == 86400  # a zone player's grant when no TIMEOUT is asked
            event = subscription.events.get(timeout=10)
            assert event.seq == "0"
            assert event.variables["sink_protocol_info"] == SINK
            assert event.variables["source_protocol_info"] is None  # SoCo's reading of ""
            assert event.variables["current_connection_i_ds"] is None
            subscription.renew(requested_timeout=3600)
            assert subscription.timeout == 3600
        finally:
            subscription.unsubscribe()
    assert not subscription.is_subscribed


def test_zone_info_names_the_address_asked_and_a_unicast_sonos_mac(zone_player):
    import soco
    from soco.services import DeviceProperties

    from upnpcm.sonos.identity import SONOS_OUIS

    info = DeviceProperties(soco.SoCo(IP, zone_player.port)).GetZoneInfo([])
    assert info["IPAddress"] == IP  # the address the request arrived on, not ""
    octets = info["MACAddress"].split(":")
    assert len(octets) == 6 and "".join(octets[:3]) in SONOS_OUIS
    assert int(octets[0], 16) & 0b11 == 0  # unicast, globally administered
    assert info["SerialNumber"] == "-".join(octets) + ":D"


def test_gena_answers_like_a_zone_player(zone_player):
    import http.client

    conn = http.client.HTTPConnection(
        IP, zone_player.port, timeout=5, source_address=("127.0.0.1", 0)
    )
    conn.request(
        "SUBSCRIBE",
        "/MediaRenderer/ConnectionManager/Event",
        headers={
            "CALLBACK": "<http://127.0.0.1:9/x>",
            "NT": "upnp:event",
            "TIMEOUT": "Second-180030",
        },
    )
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 200
    assert reply.getheader("Connection") == "close"
    assert reply.getheader("TIMEOUT") == "Second-86400"  # homebridge-zp's odd value, clamped
    conn.close()
    conn = http.client.HTTPConnection(IP, zone_player.port, timeout=5)
    conn.request(
        "UNSUBSCRIBE",
        "/MediaRenderer/ConnectionManager/Event",
        headers={"SID": reply.getheader("SID")},
    )
    assert conn.getresponse().status == 200
    conn.close()


async def test_every_evented_service_sends_a_complete_initial_event(zone_player):
    from upnpcm.aio.control_point import ControlPoint
    from upnpcm.aio.events import EventListener
    from upnpcm.core.subscription import EventReceived

    async with ControlPoint() as cp:
        device = await cp.load(zone_player.base + "/xml/device_description.xml")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            firsts: dict[str, asyncio.Future[EventReceived]] = {}
            for remote in device.services:
                done = asyncio.get_running_loop().create_future()
                firsts[remote.qualified_name] = done

                def first(event, done=done):
                    if isinstance(event, EventReceived) and not done.done():
                        done.set_result(event)

                await listener.subscribe(remote, on_event=first)
            got = dict(
                zip(
                    firsts,
                    await asyncio.wait_for(asyncio.gather(*firsts.values()), 10),
                    strict=True,
                )
            )
    assert len(got) == 16
    for remote in device.services:
        event = got[remote.qualified_name]
        assert event.seq == 0
        assert set(event.changes) == {v.name for v in remote.scpd.evented_variables}
    assert got["ZonePlayer/QPlay"].changes == {}  # it events nothing: an empty initial event
    assert (
        "<ZoneGroupState><ZoneGroups>"
        in got["ZonePlayer/ZoneGroupTopology"].changes["ZoneGroupState"]
    )


async def test_description_parsed_by_async_upnp_client_and_our_control_point(zone_player):
    from async_upnp_client.aiohttp import AiohttpRequester
    from async_upnp_client.client_factory import UpnpFactory

    from upnpcm.aio.control_point import ControlPoint

    url = zone_player.base + "/xml/device_description.xml"
    device = await UpnpFactory(AiohttpRequester(timeout=5), non_strict=False).async_create_device(
        url
    )
    assert device.device_type == "urn:schemas-upnp-org:device:ZonePlayer:1"
    renderer = next(d for d in device.all_devices if d.udn.endswith("_MR"))
    result = await renderer.service(CM).action("GetProtocolInfo").async_call()
    assert result["Sink"] == SINK
    volume = (
        await renderer.service("urn:schemas-upnp-org:service:RenderingControl:1")
        .action("GetVolume")
        .async_call(InstanceID=0, Channel="Master")
    )
    assert volume["CurrentVolume"] == 20
    async with ControlPoint() as cp:
        ours = await cp.load(url)
        assert await ours.service("MediaRenderer/ConnectionManager").call(
            "GetCurrentConnectionIDs"
        ) == {"ConnectionIDs": ""}
        assert (await ours.service("DeviceProperties").call("GetHouseholdID"))[
            "CurrentHouseholdID"
        ].startswith("Sonos_")


def test_cli_describe_shows_the_vendor_elements(zone_player):
    out = subprocess.run(
        [sys.executable, "-m", "upnpcm", "describe", f"{IP}:{zone_player.port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    data = json.loads(out.stdout)
    assert data["device"]["extras"]["zoneType"] == "10"
