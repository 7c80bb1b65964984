"""Every cache invalidation has a test that fails when the invalidation is deleted.

The invalidating lines are marked ``# invalidates:`` in the source; ``scripts/mutants``
deletes each in turn and checks that these tests (and the suite) notice.
"""

from tests.core.test_device import fault_code, make_core, soap
from upnpcm.core.connection_manager import ConnectionStatus
from upnpcm.core.soap import parse_action_response

FLAC_OFFER = [
    ("RemoteProtocolInfo", "http-get:*:audio/flac:*"),
    ("PeerConnectionManager", ""),
    ("PeerConnectionID", "-1"),
    ("Direction", "Input"),
]
MP3_OFFER = [
    (n, "http-get:*:audio/mpeg:*" if n == "RemoteProtocolInfo" else v) for n, v in FLAC_OFFER
]


def test_a_refused_offer_is_accepted_once_its_format_joins_the_sink_list():
    core, cm = make_core()
    assert fault_code(core.handle(soap("PrepareForConnection", FLAC_OFFER))) == 701
    cm.set_protocol_info(sink="http-get:*:audio/mpeg:*,http-get:*:audio/flac:*")
    assert core.handle(soap("PrepareForConnection", FLAC_OFFER)).response.status == 200


def test_get_protocol_info_reports_a_changed_sink_list():
    core, cm = make_core()
    first = parse_action_response(core.handle(soap("GetProtocolInfo")).response.body, "")
    cm.set_protocol_info(sink="http-get:*:audio/flac:*")
    second = parse_action_response(core.handle(soap("GetProtocolInfo")).response.body, "")
    assert dict(first)["Sink"] != dict(second)["Sink"] == "http-get:*:audio/flac:*"


def test_get_current_connection_info_reports_a_changed_status():
    core, cm = make_core(connection_idle_timeout=0)  # no lease: the read is cacheable
    assert "GetCurrentConnectionInfo" in cm.cacheable_actions
    assert core.handle(soap("PrepareForConnection", MP3_OFFER)).response.status == 200
    info = [("ConnectionID", "1")]
    before = dict(
        parse_action_response(core.handle(soap("GetCurrentConnectionInfo", info)).response.body, "")
    )
    assert before["Status"] == "OK"
    cm.set_status(1, ConnectionStatus.CONTENT_FORMAT_MISMATCH)
    after = dict(
        parse_action_response(core.handle(soap("GetCurrentConnectionInfo", info)).response.body, "")
    )
    assert after["Status"] == "ContentFormatMismatch"


def test_get_current_connection_ids_follows_prepare_and_complete():
    core, _ = make_core()
    ids = lambda: dict(  # noqa: E731
        parse_action_response(core.handle(soap("GetCurrentConnectionIDs")).response.body, "")
    )["ConnectionIDs"]
    assert ids() == ""
    assert core.handle(soap("PrepareForConnection", MP3_OFFER)).response.status == 200
    assert ids() == "1"
    assert core.handle(soap("ConnectionComplete", [("ConnectionID", "1")])).response.status == 200
    assert ids() == ""


def test_a_changed_server_header_reaches_a_cached_read():
    core, _ = make_core()
    core.handle(soap("GetProtocolInfo"))
    core.server_header = "Other/1"
    assert core.handle(soap("GetProtocolInfo")).response.header("Server") == "Other/1"
