"""`--profile sonos`: a zone player's ConnectionManagers, checked with real Sonos/UPnP clients.

The device runs as a real `upnpcm serve` process on 127.0.0.42:1400 (SoCo's
default port); SoCo is synchronous, so it must not share our event loop.
"""

import hashlib
import json
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import load_fixture
from tests.helpers.processes import start_serve, stop
from upnpcm.core.description import parse_device_description
from upnpcm.core.soap import build_action_request, parse_fault

pytestmark = pytest.mark.peer

IP = "127.0.0.42"
BASE = f"http://{IP}:1400"
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
SINK = load_fixture("sonos", "MediaRenderer-GetProtocolInfo-Sink.txt").decode()


@pytest.fixture(scope="module")
def zone_player(tmp_path_factory):
    state = tmp_path_factory.mktemp("sonos")
    proc, _ = start_serve(
        "--profile",
        "sonos",
        "--host",
        IP,
        "--no-ssdp",
        "--state-dir",
        str(state),
        wait_for="on port 1400",
    )
    yield proc
    stop(proc)


def get(path):
    with urllib.request.urlopen(BASE + path, timeout=5) as reply:
        return reply.status, dict(reply.headers), reply.read()


def soap(path, action, args=(), soapaction=None):
    headers, body = build_action_request(CM, action, list(args))
    if soapaction is not None:
        headers["SOAPACTION"] = soapaction
    request = urllib.request.Request(BASE + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_scpd_is_the_capture_byte_for_byte(zone_player):
    status, headers, body = get("/xml/ConnectionManager1.xml")
    assert status == 200
    assert body == load_fixture("sonos", "ConnectionManager1.xml")
    assert (
        hashlib.sha256(body).hexdigest()
        == "e83cb407f88ee426584e81b72ec0cf6f81c9f7cc93d1fe0c781a76050e999c9f"
    )
    assert headers["Server"].startswith("Linux UPnP/1.0 Sonos/")


def test_description_layout(zone_player):
    _, _, body = get("/xml/device_description.xml")
    root = parse_device_description(body).device
    assert root.device_type == "urn:schemas-upnp-org:device:ZonePlayer:1"
    assert re.fullmatch(r"uuid:RINCON_[0-9A-F]{12}01400", root.udn)
    assert [(d.device_type.split(":")[-2], d.udn) for d in root.devices] == [
        ("MediaServer", root.udn + "_MS"),
        ("MediaRenderer", root.udn + "_MR"),
    ]
    assert [s.control_url for _, s in root.iter_services()] == [
        "/DeviceProperties/Control",
        "/MediaServer/ConnectionManager/Control",
        "/MediaRenderer/ConnectionManager/Control",
    ]
    assert dict(root.extras)["roomName"]
    assert dict(root.extras)["serialNum"]


def test_optional_actions_are_401_and_status_page(zone_player):
    status, body = soap(
        "/MediaRenderer/ConnectionManager/Control",
        "PrepareForConnection",
        [
            ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
            ("PeerConnectionManager", ""),
            ("PeerConnectionID", "-1"),
            ("Direction", "Input"),
        ],
    )
    assert status == 500 and parse_fault(body).code == 401
    status, body = soap(
        "/MediaRenderer/ConnectionManager/Control", "ConnectionComplete", [("ConnectionID", "0")]
    )
    assert status == 500 and parse_fault(body).code == 401
    status, headers, page = get("/status")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"sonos profile" in page and b"RINCON_" in page


def test_soco_calls_the_three_actions_and_gets_sonos_values(zone_player):
    import soco
    from soco.exceptions import SoCoUPnPException
    from soco.services import MR_ConnectionManager, MS_ConnectionManager

    player = soco.SoCo(IP)
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


def test_soco_event_subscription_initial_event_renew_unsubscribe(zone_player):
    import soco
    from soco import events
    from soco.services import MR_ConnectionManager

    soco.config.EVENT_LISTENER_IP = "127.0.0.1"
    player = soco.SoCo(IP)
    renderer = MR_ConnectionManager(player)
    subscription = renderer.subscribe(auto_renew=False)
    try:
        assert subscription.is_subscribed
        assert re.fullmatch(r"uuid:RINCON_[0-9A-F]+01400_sub\d{20}", subscription.sid)
        assert subscription.timeout == 86400  # what a zone player grants when no TIMEOUT is asked
        event = subscription.events.get(timeout=10)
        assert event.seq == "0"
        assert event.variables["sink_protocol_info"] == SINK
        assert event.variables["source_protocol_info"] is None  # SoCo's reading of ""
        assert event.variables["current_connection_i_ds"] is None
        subscription.renew(requested_timeout=3600)
        assert subscription.timeout == 3600
    finally:
        subscription.unsubscribe()
        thread = events.event_listener._listener_thread
        events.event_listener.stop()
        thread.server.server_close()  # SoCo's stop() leaves its listening socket open
    assert not subscription.is_subscribed


def test_zone_info_names_the_address_asked_and_a_unicast_sonos_mac(zone_player):
    import soco
    from soco.services import DeviceProperties

    from upnpcm.profiles.sonos import SONOS_OUIS

    info = DeviceProperties(soco.SoCo(IP)).GetZoneInfo([])
    assert info["IPAddress"] == IP  # the address the request arrived on, not ""
    octets = info["MACAddress"].split(":")
    assert len(octets) == 6 and "".join(octets[:3]) in SONOS_OUIS
    assert int(octets[0], 16) & 0b11 == 0  # unicast, globally administered
    assert info["SerialNumber"] == "-".join(octets) + ":0"


def test_gena_answers_like_a_zone_player(zone_player):
    import http.client

    conn = http.client.HTTPConnection(IP, 1400, timeout=5, source_address=("127.0.0.1", 0))
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
    conn = http.client.HTTPConnection(IP, 1400, timeout=5)
    conn.request(
        "UNSUBSCRIBE",
        "/MediaRenderer/ConnectionManager/Event",
        headers={"SID": reply.getheader("SID")},
    )
    assert conn.getresponse().status == 200
    conn.close()


async def test_description_parsed_by_async_upnp_client_and_our_control_point(zone_player):
    from async_upnp_client.aiohttp import AiohttpRequester
    from async_upnp_client.client_factory import UpnpFactory

    from upnpcm.aio.control_point import ControlPoint

    device = await UpnpFactory(AiohttpRequester(timeout=5), non_strict=False).async_create_device(
        BASE + "/xml/device_description.xml"
    )
    assert device.device_type == "urn:schemas-upnp-org:device:ZonePlayer:1"
    renderer = next(d for d in device.all_devices if d.udn.endswith("_MR"))
    result = await renderer.service(CM).action("GetProtocolInfo").async_call()
    assert result["Sink"] == SINK
    async with ControlPoint() as cp:
        ours = await cp.load(BASE + "/xml/device_description.xml")
        assert await ours.service("MediaRenderer/ConnectionManager").call(
            "GetCurrentConnectionIDs"
        ) == {"ConnectionIDs": ""}
        assert (await ours.service("DeviceProperties").call("GetHouseholdID"))[
            "CurrentHouseholdID"
        ].startswith("Sonos_")


def test_cli_describe_shows_the_vendor_elements(zone_player):
    out = subprocess.run(
        [sys.executable, "-m", "upnpcm", "describe", f"{IP}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    data = json.loads(out.stdout)
    assert data["device"]["extras"]["zoneType"] == "10"
