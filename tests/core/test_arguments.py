import pytest

from upnpcm.core.arguments import decode_arguments, decode_in_arguments, encode_arguments
from upnpcm.core.connection_manager import connection_manager_scpd
from upnpcm.core.description import parse_scpd
from upnpcm.errors import UPnPError

SCPD = connection_manager_scpd()
PREPARE = SCPD.action("PrepareForConnection")
INFO = SCPD.action("GetCurrentConnectionInfo")
RANGED = parse_scpd(
    b'<scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList><action><name>SetVolume</name>'
    b"<argumentList><argument><name>Volume</name><direction>in</direction>"
    b"<relatedStateVariable>Volume</relatedStateVariable></argument></argumentList></action>"
    b"</actionList><serviceStateTable><stateVariable><name>Volume</name><dataType>ui2</dataType>"
    b"<allowedValueRange><minimum>0</minimum><maximum>100</maximum><step>5</step>"
    b"</allowedValueRange></stateVariable></serviceStateTable></scpd>"
)
GOOD = [
    ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
    ("PeerConnectionManager", "uuid:x/urn:upnp-org:serviceId:ConnectionManager"),
    ("PeerConnectionID", "-1"),
    ("Direction", "Input"),
]


def code_of(fn, *args):
    with pytest.raises(UPnPError) as info:
        fn(*args)
    return info.value.code


def test_valid_arguments_are_converted():
    values = decode_in_arguments(SCPD, PREPARE, GOOD)
    assert values["PeerConnectionID"] == -1
    assert values["Direction"] == "Input"


def test_any_order_accepted():
    assert decode_in_arguments(SCPD, PREPARE, list(reversed(GOOD))) == decode_in_arguments(
        SCPD, PREPARE, GOOD
    )


@pytest.mark.parametrize(
    "pairs",
    [
        GOOD[:3],  # missing
        [*GOOD, ("Extra", "1")],  # extra
        [*GOOD[:3], ("Direction", "Input"), ("Direction", "Output")],  # duplicate
        [*GOOD[:2], ("PeerConnectionID", "abc"), GOOD[3]],  # wrong type
        [*GOOD[:2], ("PeerConnectionID", "99999999999"), GOOD[3]],  # outside i4
        [],
    ],
)
def test_argument_shape_errors_are_402(pairs):
    assert code_of(decode_in_arguments, SCPD, PREPARE, pairs) == 402


@pytest.mark.parametrize("direction", ["Sideways", "Direction", "input", ""])
def test_value_outside_allowed_list_is_601(direction):
    # UDA 1.1 table 3-3: 601 "... or is not in the allowed value list" (security.md §6 item 11).
    assert code_of(decode_in_arguments, SCPD, PREPARE, [*GOOD[:3], ("Direction", direction)]) == 601


@pytest.mark.parametrize(("value", "code"), [("101", 601), ("7", 601), ("-1", 402), ("50", None)])
def test_range_and_step(value, code):
    action = RANGED.action("SetVolume")
    if code is None:
        assert decode_in_arguments(RANGED, action, [("Volume", value)]) == {"Volume": 50}
    else:
        assert code_of(decode_in_arguments, RANGED, action, [("Volume", value)]) == code


def test_encode_in_scpd_order_and_checks():
    pairs = encode_arguments(
        SCPD,
        INFO.out_arguments,
        {
            "Status": "OK",
            "Direction": "Output",
            "PeerConnectionID": -1,
            "PeerConnectionManager": "",
            "ProtocolInfo": "",
            "AVTransportID": -1,
            "RcsID": -1,
        },
    )
    assert [name for name, _ in pairs] == [a.name for a in INFO.out_arguments]
    assert dict(pairs)["RcsID"] == "-1"
    with pytest.raises(UPnPError) as info:
        encode_arguments(SCPD, INFO.in_arguments, {"ConnectionID": "x"})
    assert info.value.code == 402
    with pytest.raises(UPnPError) as info:
        encode_arguments(SCPD, INFO.in_arguments, {"Connection": 1})
    assert info.value.code == 402
    with pytest.raises(UPnPError) as info:
        encode_arguments(RANGED, RANGED.action("SetVolume").in_arguments, {"Volume": 200})
    assert info.value.code == 601


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ConnectionID": 1, "Extra": 2}, "unexpected argument Extra"),
        ({"Extra": 2}, "unexpected argument Extra"),  # unknown is reported before missing
        ({}, "missing argument ConnectionID"),
    ],
)
def test_encode_names_the_wrong_argument(values, message):
    with pytest.raises(UPnPError) as info:
        encode_arguments(SCPD, INFO.in_arguments, values)
    assert info.value.code == 402
    assert info.value.description == message


@pytest.mark.parametrize(("name", "bad"), [("Direction", "Sideways"), ("RcsID", "notanint")])
def test_encode_reports_an_unknown_name_before_a_bad_value(name, bad):
    values = {
        "RcsID": -1,
        "AVTransportID": -1,
        "ProtocolInfo": "",
        "PeerConnectionManager": "",
        "PeerConnectionID": -1,
        "Direction": "Output",
        name: bad,
        "Extra": 1,
    }  # and Status is missing
    with pytest.raises(UPnPError) as info:
        encode_arguments(SCPD, INFO.out_arguments, values)
    assert (info.value.code, info.value.description) == (402, "unexpected argument Extra")


def test_decode_results_lenient_and_strict():
    pairs = [("RcsID", "-1"), ("AVTransportID", "garbage"), ("Vendor", "x")]
    values = decode_arguments(SCPD, INFO.out_arguments, pairs)
    assert values == {"RcsID": -1, "AVTransportID": "garbage", "Vendor": "x"}
    with pytest.raises(UPnPError):
        decode_arguments(SCPD, INFO.out_arguments, pairs, strict=True)


def test_out_argument_problems_names_order_types():
    from upnpcm.core.arguments import out_argument_problems
    from upnpcm.core.connection_manager import connection_manager_scpd

    scpd = connection_manager_scpd()
    action = scpd.action("GetCurrentConnectionInfo")
    assert action is not None
    good = [
        ("RcsID", "-1"),
        ("AVTransportID", "-1"),
        ("ProtocolInfo", ""),
        ("PeerConnectionManager", ""),
        ("PeerConnectionID", "-1"),
        ("Direction", "Input"),
        ("Status", "OK"),
    ]
    assert out_argument_problems(scpd, action, good) == []
    assert out_argument_problems(scpd, action, good[1:] + good[:1]) == [
        "out-arguments in the order AVTransportID, ProtocolInfo, PeerConnectionManager, "
        "PeerConnectionID, Direction, Status, RcsID, not RcsID, AVTransportID, ProtocolInfo, "
        "PeerConnectionManager, PeerConnectionID, Direction, Status"
    ]
    assert out_argument_problems(scpd, action, [("RcsID", "x"), *good[1:], ("Extra", "")]) == [
        "unknown out-argument Extra",
        "RcsID='x' is not a i4",
    ]
