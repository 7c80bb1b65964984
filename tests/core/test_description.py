import hashlib

import pytest

from tests.conftest import load_fixture
from upnpcm.core.connection_manager import connection_manager_scpd
from upnpcm.core.description import (
    Device,
    DeviceDescription,
    Service,
    parse_device_description,
    parse_scpd,
    render_device_description,
    render_scpd,
)
from upnpcm.errors import RemoteProtocolError


def test_sonos_description_with_its_quirks():
    desc = parse_device_description(load_fixture("sonos", "device_description.xml"))
    root = desc.device
    assert desc.url_base is None
    assert root.device_type == "urn:schemas-upnp-org:device:ZonePlayer:1"
    assert root.udn == "uuid:RINCON_949F0000A901400"
    assert dict(root.extras)["roomName"] == "TV"
    assert dict(root.extras)["serialNum"] == "94-9F-00-68-00-A9:D"
    # Unreplaced "#DEACTIVATION_…#" tokens sit as stray text between elements: tolerated.
    assert b"#DEACTIVATION_STATE_TAG_AND_VALUE#" in load_fixture("sonos", "device_description.xml")
    assert [d.device_type.split(":")[-2] for d in root.devices] == ["MediaServer", "MediaRenderer"]
    renderer = root.devices[1]
    assert renderer.udn.endswith("_MR")
    cm = next(s for s in renderer.services if s.service_type.endswith("ConnectionManager:1"))
    assert cm.control_url == "/MediaRenderer/ConnectionManager/Control"
    assert cm.scpd_url == "/xml/ConnectionManager1.xml"
    assert len(list(root.iter_devices())) == 3
    assert desc.absolute_url("http://10.0.0.2:1400/xml/device_description.xml", cm.control_url) == (
        "http://10.0.0.2:1400/MediaRenderer/ConnectionManager/Control"
    )


def test_gmediarender_description():
    desc = parse_device_description(load_fixture("gmediarender", "description.xml"))
    assert desc.device.presentation_url == ""
    assert [s.service_id.rsplit(":", 1)[-1] for s in desc.device.services] == [
        "AVTransport",
        "ConnectionManager",
        "RenderingControl",
    ]
    assert desc.device.icons[1].width == 128


def test_sonos_scpd_state_table_first():
    data = load_fixture("sonos", "ConnectionManager1.xml")
    assert hashlib.sha256(data).hexdigest() == (
        "e83cb407f88ee426584e81b72ec0cf6f81c9f7cc93d1fe0c781a76050e999c9f"
    )
    scpd = parse_scpd(data)
    assert [a.name for a in scpd.actions] == [
        "GetProtocolInfo",
        "GetCurrentConnectionIDs",
        "GetCurrentConnectionInfo",
    ]
    info = scpd.action("GetCurrentConnectionInfo")
    assert info is not None
    assert [a.name for a in info.in_arguments] == ["ConnectionID"]
    assert next(a.name for a in info.out_arguments) == "RcsID"
    direction = scpd.state_variable("A_ARG_TYPE_Direction")
    assert direction is not None and direction.allowed_values == ("Input", "Output")
    assert [v.name for v in scpd.evented_variables] == [
        "SourceProtocolInfo",
        "SinkProtocolInfo",
        "CurrentConnectionIDs",
    ]


@pytest.mark.parametrize(
    "name", ["renderconnmgrSCPD.xml", "rendercontrolSCPD.xml", "rendertransportSCPD.xml"]
)
def test_gmediarender_scpds_parse(name):
    scpd = parse_scpd(load_fixture("gmediarender", name))
    assert scpd.actions
    for action in scpd.actions:
        for arg in action.arguments:
            assert scpd.state_variable(arg.related_state_variable) is not None


def test_scpd_round_trip():
    scpd = connection_manager_scpd()
    assert parse_scpd(render_scpd(scpd)) == scpd


def test_device_round_trip_keeps_order_and_nesting():
    leaf = Device(device_type="urn:x:device:Leaf:1", udn="uuid:3")
    desc = DeviceDescription(
        device=Device(
            device_type="urn:x:device:Root:1",
            udn="uuid:1",
            friendly_name="R & D <lab>",
            extras=(("roomName", "Kitchen"),),
            services=(
                Service(
                    service_type="urn:x:service:S:1",
                    service_id="urn:x:serviceId:S",
                    scpd_url="/s.xml",
                    control_url="/c",
                    event_sub_url="/e",
                ),
            ),
            devices=(
                Device(device_type="urn:x:device:A:1", udn="uuid:2", devices=(leaf,)),
                Device(device_type="urn:x:device:B:1", udn="uuid:4"),
            ),
        )
    )
    parsed = parse_device_description(render_device_description(desc))
    assert parsed == desc
    assert [d.udn for d in parsed.device.iter_devices()] == ["uuid:1", "uuid:2", "uuid:3", "uuid:4"]


def test_deeply_nested_devices_parse_iteratively():
    depth = 25
    doc = (
        '<root xmlns="urn:schemas-upnp-org:device-1-0">'
        + "".join(
            f"<device><deviceType>urn:x:device:D:1</deviceType><UDN>uuid:{i}</UDN><deviceList>"
            for i in range(depth)
        )
        + "</deviceList></device>" * depth
        + "</root>"
    )
    desc = parse_device_description(doc.encode(), max_bytes=100_000)
    assert len(list(desc.device.iter_devices())) == depth


@pytest.mark.parametrize(
    "doc",
    [
        b"<scpd/>",
        b'<root xmlns="urn:schemas-upnp-org:device-1-0"/>',
        b"<root><device><UDN>uuid:1</UDN></device></root>",
        b"<root><device><deviceType>x</deviceType></device></root>",
    ],
)
def test_unusable_descriptions_raise(doc):
    with pytest.raises(RemoteProtocolError):
        parse_device_description(doc)


@pytest.mark.parametrize(
    "doc",
    [
        b"<root/>",
        b"<scpd><actionList><action><argumentList/></action></actionList></scpd>",
        b"<scpd><actionList><action><name>A</name><argumentList><argument><name>x</name>"
        b"<direction>sideways</direction></argument></argumentList></action></actionList></scpd>",
        b"<scpd><serviceStateTable><stateVariable/></serviceStateTable></scpd>",
    ],
)
def test_unusable_scpds_raise(doc):
    with pytest.raises(RemoteProtocolError):
        parse_scpd(doc)


def test_scpd_ranges_and_defaults():
    scpd = parse_scpd(
        b'<scpd xmlns="urn:schemas-upnp-org:service-1-0"><serviceStateTable>'
        b'<stateVariable sendEvents="no"><name>Volume</name><dataType>ui2</dataType>'
        b"<defaultValue>10</defaultValue><allowedValueRange><minimum>0</minimum>"
        b"<maximum>100</maximum><step>1</step></allowedValueRange></stateVariable>"
        b"<stateVariable><name>LastChange</name><dataType>string</dataType></stateVariable>"
        b"</serviceStateTable></scpd>"
    )
    volume = scpd.state_variable("Volume")
    assert volume is not None
    assert (volume.send_events, volume.default_value) == (False, "10")
    assert volume.allowed_range is not None and volume.allowed_range.maximum == "100"
    last_change = scpd.state_variable("LastChange")
    assert last_change is not None and last_change.send_events  # sendEvents defaults to yes


def test_description_and_scpd_with_padding_parse():
    description = load_fixture("sonos", "device_description.xml")
    scpd = load_fixture("sonos", "ConnectionManager1.xml")
    for before, after in ((b"", b"\x00"), (b"\r\n", b""), (b"\r\n\r\n", b"\n\x00\x00")):
        padded = parse_device_description(before + description.strip() + after)
        assert padded == parse_device_description(description)
        assert parse_scpd(before + scpd.strip() + after) == parse_scpd(scpd)


# ------------------------------------------------------------ D5: URLs on the same host


def _one_service(scpd: str, control: str = "/c", event: str = "/e", base: str = "") -> bytes:
    return (
        '<root xmlns="urn:schemas-upnp-org:device-1-0">'
        + (f"<URLBase>{base}</URLBase>" if base else "")
        + "<device><deviceType>urn:x:device:X:1</deviceType><UDN>uuid:x</UDN><serviceList>"
        "<service><serviceType>urn:x:service:Y:1</serviceType>"
        f"<SCPDURL>{scpd}</SCPDURL><controlURL>{control}</controlURL>"
        f"<eventSubURL>{event}</eventSubURL></service></serviceList></device></root>"
    ).encode()


@pytest.mark.parametrize(
    ("location", "document", "foreign"),
    [
        ("http://127.0.0.1:1400/d.xml", _one_service("/s.xml"), []),
        ("http://127.0.0.1:1400/d.xml", _one_service("s.xml", "c", "e"), []),
        ("http://127.0.0.1:1400/d.xml", _one_service("http://127.0.0.1:1400/s.xml"), []),
        ("http://127.0.0.1:1400/d.xml", _one_service("http://127.0.0.1:8080/s.xml"), []),
        ("http://127.0.0.1:1400/d.xml", _one_service("https://127.0.0.1:1400/s.xml"), []),
        (
            "http://127.0.0.1:1400/d.xml",
            _one_service("http://127.0.0.2:1400/s.xml"),
            ["http://127.0.0.2:1400/s.xml"],
        ),
        (
            "http://127.0.0.1:1400/d.xml",
            _one_service("/s.xml", "http://127.0.0.1:25/c"),  # a privileged port elsewhere
            ["http://127.0.0.1:25/c"],
        ),
        ("http://127.0.0.1/d.xml", _one_service("/s.xml", "http://127.0.0.1:80/c"), []),
        (
            "http://127.0.0.1:1400/d.xml",
            _one_service("/s.xml", base="http://127.0.0.3:1400/"),
            [
                "http://127.0.0.3:1400/",
                "http://127.0.0.3:1400/s.xml",
                "http://127.0.0.3:1400/c",
                "http://127.0.0.3:1400/e",
            ],
        ),
        ("http://[::1]:1400/d.xml", _one_service("http://[0:0::1]:1400/s.xml"), []),
        ("http://[::ffff:127.0.0.1]:1400/d.xml", _one_service("http://127.0.0.1:1400/s"), []),
        ("http://Zp.Local:1400/d.xml", _one_service("http://zp.local.:1400/s.xml"), []),
        (
            "http://zp.local:1400/d.xml",
            _one_service("http://127.0.0.1:1400/s.xml"),  # no name is resolved
            ["http://127.0.0.1:1400/s.xml"],
        ),
        ("http://127.0.0.1:1400/d.xml", _one_service("file:///etc/passwd"), ["file:///etc/passwd"]),
        ("http://127.0.0.1:1400/d.xml", _one_service("http://[::1/x.xml"), []),  # fails when used
    ],
)
def test_foreign_urls(location, document, foreign):
    assert parse_device_description(document).foreign_urls(location) == foreign


def test_device_and_service_caps_are_checked_before_building():
    services = "".join(
        f"<service><serviceType>urn:x:service:Y:1</serviceType><SCPDURL>/{i}</SCPDURL>"
        "<controlURL>/c</controlURL><eventSubURL>/e</eventSubURL></service>"
        for i in range(10)
    )
    document = (
        '<root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:x:device:X:1'
        f"</deviceType><UDN>uuid:x</UDN><serviceList>{services}</serviceList></device></root>"
    ).encode()
    assert len(parse_device_description(document, max_services=10).device.services) == 10
    with pytest.raises(RemoteProtocolError, match="more than 9 services"):
        parse_device_description(document, max_services=9)
    with pytest.raises(RemoteProtocolError, match="more than 0 devices"):
        parse_device_description(document, max_devices=0)
