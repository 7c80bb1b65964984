import pytest

from upnpcm.core.connection_manager import (
    ConnectionInfo,
    ConnectionManager,
    ConnectionManagerConfig,
    ConnectionStatus,
    Direction,
    StateVariablesChanged,
)
from upnpcm.errors import UPnPError

SINK = "http-get:*:audio/mpeg:*,http-get:*:audio/L16;rate=44100;channels=2:DLNA.ORG_PN=LPCM"
SOURCE = "http-get:*:audio/flac:*"


def renderer(**kw) -> ConnectionManager:
    return ConnectionManager(ConnectionManagerConfig(sink=SINK, **kw))


def code(fn, *args) -> int:
    with pytest.raises(UPnPError) as info:
        fn(*args)
    return info.value.code


def test_get_protocol_info_returns_lists_verbatim():
    cm = ConnectionManager(ConnectionManagerConfig(source=SOURCE, sink=SINK + ","))
    assert cm.handle_action("GetProtocolInfo", {}) == {"Source": SOURCE, "Sink": SINK + ","}


def test_prepare_complete_cycle_and_events():
    cm = renderer()
    assert cm.current_connection_ids() == ""
    first = cm.prepare_for_connection(
        "http-get:*:audio/mp3:*", "uuid:s/urn:upnp-org:serviceId:ConnectionManager", 4, "Input"
    )
    second = cm.prepare_for_connection("http-get:*:audio/L16:*", "", -1, Direction.INPUT)
    assert (first.connection_id, second.connection_id) == (1, 2)
    assert first == ConnectionInfo(
        connection_id=1,
        rcs_id=-1,
        av_transport_id=-1,
        protocol_info="http-get:*:audio/mp3:*",
        peer_connection_manager="uuid:s/urn:upnp-org:serviceId:ConnectionManager",
        peer_connection_id=4,
        direction=Direction.INPUT,
        status=ConnectionStatus.OK,
    )
    assert cm.current_connection_ids() == "1,2"
    assert cm.connection_info(2).peer_connection_id == -1
    cm.connection_complete(1)
    assert cm.current_connection_ids() == "2"
    assert cm.events() == [
        StateVariablesChanged({"CurrentConnectionIDs": "1"}),
        StateVariablesChanged({"CurrentConnectionIDs": "1,2"}),
        StateVariablesChanged({"CurrentConnectionIDs": "2"}),
    ]
    assert cm.events() == []


def test_ids_never_reused():
    cm = renderer(max_connections=1)
    seen = set()
    for _ in range(20):
        info = cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input")
        assert info.connection_id not in seen
        seen.add(info.connection_id)
        cm.connection_complete(info.connection_id)
    assert sorted(seen) == list(range(1, 21))


def test_limit_is_704_and_frees_on_complete():
    cm = renderer(max_connections=2)
    cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input")
    cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input")
    assert code(cm.prepare_for_connection, "http-get:*:audio/mpeg:*", "", -1, "Input") == 704
    cm.connection_complete(1)
    assert cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input").connection_id == 3
    assert cm.statistics()["refused"] == {704: 1}


def test_incompatible_protocol_is_701():
    cm = renderer()
    assert code(cm.prepare_for_connection, "rtsp-rtp-udp:*:audio/mpeg:*", "", -1, "Input") == 701
    assert code(cm.prepare_for_connection, "http-get:*:video/mp4:*", "", -1, "Input") == 701
    assert code(cm.prepare_for_connection, "not-a-protocol-info", "", -1, "Input") == 701
    assert (
        code(cm.prepare_for_connection, "http-get:*:audio/L16;rate=48000:*", "", -1, "Input") == 701
    )
    assert (
        code(cm.prepare_for_connection, "http-get:*:audio/L16:DLNA.ORG_PN=MP3", "", -1, "Input")
        == 701
    )
    assert cm.current_connection_ids() == ""
    assert cm.events() == []


def test_wrong_direction_for_this_device_is_702():
    cm = renderer()  # a sink only: cannot serve Output
    assert code(cm.prepare_for_connection, "http-get:*:audio/mpeg:*", "", -1, "Output") == 702
    server = ConnectionManager(ConnectionManagerConfig(source=SOURCE))
    assert code(server.prepare_for_connection, "http-get:*:audio/flac:*", "", -1, "Input") == 702
    assert (
        server.prepare_for_connection("http-get:*:audio/x-flac:*", "", -1, "Output").direction
        is Direction.OUTPUT
    )


@pytest.mark.parametrize("direction", ["Direction", "input", "INPUT", "", 1, None, ["Input"]])
def test_direction_outside_the_list_is_601(direction):
    assert (
        code(renderer().prepare_for_connection, "http-get:*:audio/mpeg:*", "", -1, direction) == 601
    )


def test_direction_given_as_the_enum_or_its_text():
    cm = renderer()
    for direction in (Direction.INPUT, "Input"):
        info = cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, direction)
        assert info.direction is Direction.INPUT


def test_unknown_connection_is_706():
    cm = renderer()
    assert code(cm.connection_info, 0) == 706
    assert code(cm.connection_info, 7) == 706
    assert code(cm.connection_complete, 7) == 706
    info = cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input")
    cm.connection_complete(info.connection_id)
    assert code(cm.connection_complete, info.connection_id) == 706  # second Complete
    assert code(cm.connection_info, info.connection_id) == 706


def test_connection_zero_rules_without_prepare():
    cm = renderer(prepare_for_connection=False)
    assert cm.current_connection_ids() == "0"
    assert cm.connection_info(0).as_arguments() == {
        "RcsID": -1,
        "AVTransportID": -1,
        "ProtocolInfo": "",
        "PeerConnectionManager": "",
        "PeerConnectionID": -1,
        "Direction": "Input",
        "Status": "OK",
    }
    assert code(cm.connection_info, 1) == 706
    assert code(cm.prepare_for_connection, "http-get:*:audio/mpeg:*", "", -1, "Input") == 401
    assert code(cm.connection_complete, 0) == 401
    assert code(cm.handle_action, "PrepareForConnection", {}) == 401
    assert code(cm.handle_action, "ConnectionComplete", {"ConnectionID": 0}) == 401
    server = ConnectionManager(ConnectionManagerConfig(source=SOURCE, prepare_for_connection=False))
    assert server.connection_info(0).direction is Direction.OUTPUT


def test_sonos_switches():
    cm = renderer(prepare_for_connection=False, idle_connection_ids="", connection_info_faults=True)
    assert cm.current_connection_ids() == ""
    assert cm.evented_state()["CurrentConnectionIDs"] == ""
    assert code(cm.connection_info, 0) == 402
    assert code(cm.connection_info, 3) == 706


def test_set_protocol_info_events_only_changes():
    cm = renderer()
    cm.set_protocol_info(sink=SINK)
    assert cm.events() == []
    cm.set_protocol_info(source="http-get:*:audio/ogg:*", sink="http-get:*:audio/ogg:*")
    assert cm.events() == [
        StateVariablesChanged(
            {
                "SourceProtocolInfo": "http-get:*:audio/ogg:*",
                "SinkProtocolInfo": "http-get:*:audio/ogg:*",
            }
        )
    ]
    assert code(cm.prepare_for_connection, "http-get:*:audio/mpeg:*", "", -1, "Input") == 701


def test_set_status():
    cm = renderer()
    info = cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input")
    cm.set_status(info.connection_id, ConnectionStatus.CONTENT_FORMAT_MISMATCH)
    assert cm.connection_info(info.connection_id).status is ConnectionStatus.CONTENT_FORMAT_MISMATCH
    assert code(cm.set_status, 99, ConnectionStatus.OK) == 706


def test_handle_action_dispatch():
    cm = renderer()
    out = cm.handle_action(
        "PrepareForConnection",
        {
            "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
            "PeerConnectionManager": "",
            "PeerConnectionID": -1,
            "Direction": "Input",
        },
    )
    assert out == {"ConnectionID": 1, "AVTransportID": -1, "RcsID": -1}
    assert cm.handle_action("GetCurrentConnectionIDs", {}) == {"ConnectionIDs": "1"}
    assert cm.handle_action("GetCurrentConnectionInfo", {"ConnectionID": 1})["Direction"] == "Input"
    assert cm.handle_action("ConnectionComplete", {"ConnectionID": 1}) == {}
    assert code(cm.handle_action, "Nope", {}) == 401


def test_config_rejects_zero_limit():
    with pytest.raises(ValueError):
        ConnectionManagerConfig(max_connections=0)


def test_lists_xml_cannot_carry_are_refused():
    from upnpcm.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        ConnectionManagerConfig(sink="http-get:*:audio/mpeg:\x01")
    cm = renderer()
    with pytest.raises(LocalProtocolError):
        cm.set_protocol_info(sink="bad\x00")
    assert cm.protocol_info()[1] == SINK
    assert cm.events() == []


# ------------------------------------------------------------------ idle lease (R8)


def prepare(cm, now=None):
    return cm.prepare_for_connection("http-get:*:audio/mpeg:*", "", -1, "Input", now=now)


def test_idle_rows_expire_with_an_event_and_ids_are_never_reused():
    cm = renderer(connection_idle_timeout=100)
    first, second = prepare(cm, now=0.0).connection_id, prepare(cm, now=50.0).connection_id
    cm.events()
    assert cm.next_expiry() == 100.0
    assert cm.expire_idle(99.9) == []
    assert cm.events() == []
    assert cm.expire_idle(100.0) == [first]
    assert cm.current_connection_ids() == str(second)
    assert cm.events() == [StateVariablesChanged({"CurrentConnectionIDs": str(second)})]
    assert code(cm.connection_info, first) == 706
    assert code(cm.connection_complete, first) == 706
    assert cm.expire_idle(150.0) == [second]
    assert cm.current_connection_ids() == ""
    assert prepare(cm, now=151.0).connection_id == second + 1  # never reused
    assert cm.statistics()["expired"] == 2


def test_references_renew_the_lease():
    cm = renderer(connection_idle_timeout=100)
    cid = prepare(cm, now=0.0).connection_id
    assert cm.handle_action("GetCurrentConnectionInfo", {"ConnectionID": cid}, now=90.0)
    assert cm.expire_idle(150.0) == []  # referenced at 90: good until 190
    cm.set_status(cid, ConnectionStatus.UNRELIABLE_CHANNEL, now=180.0)
    assert cm.expire_idle(250.0) == []
    assert cm.next_expiry() == 280.0
    assert cm.expire_idle(280.0) == [cid]


def test_a_reference_without_a_time_counts_from_the_next_sweep():
    cm = renderer(connection_idle_timeout=100)
    cid = prepare(cm).connection_id  # no now: never expires early
    assert cm.next_expiry() is None
    assert cm.expire_idle(10_000.0) == []  # stamped here
    assert cm.expire_idle(10_099.0) == []
    assert cm.expire_idle(10_100.0) == [cid]


def test_zero_idle_timeout_keeps_rows_and_completed_rows_leave_the_lease():
    cm = renderer(connection_idle_timeout=0)
    prepare(cm, now=0.0)
    assert cm.expire_idle(1e9) == [] and cm.next_expiry() is None
    assert "GetCurrentConnectionInfo" in cm.cacheable_actions  # no lease to renew
    leased = renderer(connection_idle_timeout=100)
    assert "GetCurrentConnectionInfo" not in leased.cacheable_actions  # a read renews the lease
    cid = prepare(leased, now=0.0).connection_id
    leased.connection_complete(cid)
    assert leased.next_expiry() is None and leased.expire_idle(1e9) == []
    without_prepare = renderer(prepare_for_connection=False, connection_idle_timeout=1)
    assert (
        without_prepare.expire_idle(1e9) == [] and without_prepare.current_connection_ids() == "0"
    )


def test_idle_timeout_must_not_be_negative():
    with pytest.raises(ValueError, match="connection_idle_timeout"):
        ConnectionManagerConfig(connection_idle_timeout=-1)
    with pytest.raises(ValueError, match="connection_idle_timeout"):
        ConnectionManagerConfig(connection_idle_timeout=float("nan"))


def test_parse_connection_ids():
    from upnpcm.core.connection_manager import parse_connection_ids
    from upnpcm.errors import RemoteProtocolError

    assert parse_connection_ids("") == ()
    assert parse_connection_ids("0") == (0,)
    assert parse_connection_ids("3, 7,12") == (3, 7, 12)
    for bad in ("1,,2", "x", "-1", "1,1", "2147483648"):
        with pytest.raises(RemoteProtocolError):
            parse_connection_ids(bad)
