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


# ---------------------------------------------------------------- next_deadline (T1)
# DeviceCore.next_deadline() is remembered until something may move it; each test
# asks for it first (so a stale value exists) and then changes what it depends on.

EVENT = "/MediaRenderer/ConnectionManager/Event"


def _subscribe(core, now=0.0):
    from tests.core.test_device import request

    result = core.handle(
        request(
            "SUBSCRIBE",
            EVENT,
            headers=[("CALLBACK", "<http://127.0.0.1:5000/cb>"), ("NT", "upnp:event")],
        ),
        now=now,
        entropy=7,
    )
    assert result.response.status == 200
    return result.response.header("SID")


def test_a_subscription_moves_the_deadline():
    core, _ = make_core()
    assert core.next_deadline() is None
    _subscribe(core)
    assert core.next_deadline() == 1800.0  # the initial event is in flight, not resting


def test_a_new_lease_moves_the_deadline():
    core, _ = make_core(connection_idle_timeout=60)
    assert core.next_deadline() is None
    assert core.handle(soap("PrepareForConnection", MP3_OFFER), now=5.0).response.status == 200
    assert core.next_deadline() == 65.0


def test_a_delivery_outcome_moves_the_deadline():
    core, cm = make_core()
    sid = _subscribe(core)
    cm.set_protocol_info(sink="http-get:*:audio/x-other:*")
    assert core.flush_events(0.1) == []  # the initial event is still in flight
    assert core.next_deadline() == 1800.0
    assert core.notify_done(EVENT, sid, 200, now=0.1) == []  # resting until 0.2
    assert core.next_deadline() == 0.2


def test_a_subscription_dropped_by_its_outcome_leaves_the_deadline():
    core, _ = make_core()
    sid = _subscribe(core)
    assert core.next_deadline() == 1800.0  # its expiry
    ended = core.notify_done(EVENT, sid, 412, now=0.1)  # E4: the subscriber forgot it
    assert [effect.reason for effect in ended] == ["dropped"]
    assert core.next_deadline() is None


def test_flushed_changes_move_the_deadline():
    core, cm = make_core()
    sid = _subscribe(core)
    assert core.notify_done(EVENT, sid, 200, now=0.0) == []
    assert core.next_deadline() == 1800.0
    cm.set_protocol_info(sink="http-get:*:audio/x-other:*")
    assert core.flush_events(0.1) == []  # paced: 0.2 s after the initial event
    assert core.next_deadline() == 0.2


def test_expired_work_leaves_the_deadline():
    core, _ = make_core()
    sid = _subscribe(core)
    core.notify_done(EVENT, sid, 200, now=0.0)
    assert core.next_deadline() == 1800.0
    effects = core.handle_timer(1800.0)
    assert [(e.sid, e.reason) for e in effects] == [(sid, "expired")]
    assert core.next_deadline() is None


def test_a_changed_server_header_reaches_a_cached_empty_answer():
    # ConnectionComplete has no out-arguments: its answer is remembered once (M1).
    core, _ = make_core()
    for _ in range(2):
        assert core.handle(soap("PrepareForConnection", MP3_OFFER)).response.status == 200
    first = core.handle(soap("ConnectionComplete", [("ConnectionID", "1")])).response
    core.server_header = "Other/1"
    second = core.handle(soap("ConnectionComplete", [("ConnectionID", "2")])).response
    assert first.header("Server") != second.header("Server") == "Other/1"


def test_empty_answers_are_built_once_with_fast_paths_and_each_time_without():
    for fast in (True, False):
        core, _ = make_core(fast_paths=fast)
        for _ in range(2):
            assert core.handle(soap("PrepareForConnection", MP3_OFFER)).response.status == 200
        one = core.handle(soap("ConnectionComplete", [("ConnectionID", "1")])).response
        two = core.handle(soap("ConnectionComplete", [("ConnectionID", "2")])).response
        assert one == two
        assert (one is two) is fast


def test_an_action_whose_event_must_wait_moves_the_deadline():
    core, _ = make_core()
    sid = _subscribe(core)
    assert core.notify_done(EVENT, sid, 200, now=0.0) == []
    assert core.next_deadline() == 1800.0
    # PrepareForConnection changes CurrentConnectionIDs: its NOTIFY rests until 0.2 (pacing).
    assert core.handle(soap("PrepareForConnection", MP3_OFFER), now=0.1).response.status == 200
    assert core.next_deadline() == 0.2


def _core_for(service, tmp_path):
    """A device core hosting ``service`` alone, laid out by the public API."""
    from upnpcm.core.device import DeviceCore
    from upnpcm.hosting import Device, device_spec
    from upnpcm.settings import DeviceSettings
    from upnpcm.state import StateStore

    device = Device(device_type="urn:x:device:X:1", udn="uuid:x", services=[service])
    spec = device_spec(device, DeviceSettings(), StateStore(tmp_path))
    return DeviceCore(spec.description, spec.services)


def test_a_change_outside_a_request_moves_a_service_clock(tmp_path):
    # A LastChange service: a change made outside a request, inside the moderation window,
    # is published when the window ends; the device must wake then.
    from upnpcm.core.lastchange import RCS_NAMESPACE
    from upnpcm.service import Service, StateVariable

    class Volume(Service):
        service_type = "urn:schemas-upnp-org:service:RenderingControl:1"
        last_change_namespace = RCS_NAMESPACE
        Volume = StateVariable("ui2", evented=False)

    service = Volume()
    core = _core_for(service, tmp_path)
    service.instance(0).set("Volume", 1)
    assert core.flush_events(10.0) == []  # published at once (no subscribers)
    assert core.next_deadline() is None
    service.instance(0).set("Volume", 2)  # "from the device", inside the window
    assert core.flush_events(10.1) == []
    assert core.next_deadline() == 10.2


def test_a_cacheable_action_of_a_service_reports_its_changed_state(tmp_path):
    from tests.core.test_service_api import Counter
    from upnpcm.core.http import Headers, HttpRequest
    from upnpcm.core.soap import build_action_request

    counter = Counter()
    core = _core_for(counter, tmp_path)
    headers, body = build_action_request(counter.service_type, "GetState", [])
    request = HttpRequest(
        method="POST",
        path=counter.control_url,
        headers=Headers([("Host", "127.0.0.1:80"), *headers.items()]),
        body=body,
        peer="127.0.0.1",
        local="127.0.0.1",
        local_port=80,
    )

    def count() -> str:
        return dict(parse_action_response(core.handle(request).response.body, "GetState"))[
            "CurrentCount"
        ]

    assert "GetState" in counter.cacheable_actions
    assert count() == "0"
    counter.Count = 7  # outside a request: the cached answer must not survive it
    assert count() == "7"
