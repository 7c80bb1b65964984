"""DeviceCore: every HTTP/SOAP answer, driven without sockets."""

import pytest

from upnpcm.core.connection_manager import (
    ConnectionManager,
    ConnectionManagerConfig,
    connection_manager_scpd,
)
from upnpcm.core.description import (
    Device,
    DeviceDescription,
    parse_device_description,
    parse_scpd,
    render_scpd,
)
from upnpcm.core.device import DeviceCore, HostedService, Resource
from upnpcm.core.effects import LeasesExpired, SendNotify, ServiceFailed
from upnpcm.core.http import Headers, HttpRequest
from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault
from upnpcm.profiles import cm_service

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
LOCAL = ("127.0.0.1", 1400)
CONTROL = "/MediaRenderer/ConnectionManager/Control"


class Boom:
    """A service whose action raises an unexpected exception."""

    def handle_action(self, action, arguments, *, now=None):
        raise RuntimeError("secret /etc/path detail")

    def evented_state(self):
        return {}

    def events(self):
        return []


def make_core(*, fast_paths: bool = True, **kw) -> tuple[DeviceCore, ConnectionManager]:
    cm = ConnectionManager(ConnectionManagerConfig(sink="http-get:*:audio/mpeg:*", **kw))
    scpd = connection_manager_scpd(prepare_for_connection=cm.config.prepare_for_connection)
    service = cm_service("MediaRenderer")
    boom_service = cm_service("Boom")
    desc = DeviceDescription(
        device=Device(
            device_type="urn:schemas-upnp-org:device:MediaRenderer:1",
            udn="uuid:1",
            services=(service,),
        )
    )
    core = DeviceCore(
        desc,
        [
            HostedService(service=service, scpd=scpd, scpd_xml=render_scpd(scpd), handler=cm),
            HostedService(
                service=boom_service, scpd=scpd, scpd_xml=render_scpd(scpd), handler=Boom()
            ),
        ],
        resources={"/status": Resource(content_type="text/plain", body=lambda: b"live")},
        fast_paths=fast_paths,
        server_header="Linux/6 UPnP/1.1 upnpcm/0",
    )
    return core, cm


def request(
    method="GET", path="/xml/device_description.xml", headers=(), body=b"", host="127.0.0.1:1400"
):
    pairs = [("Host", host)] if host is not None else []
    return HttpRequest(
        method=method,
        path=path,
        headers=Headers([*pairs, *headers]),
        body=body,
        peer="127.0.0.1",
        local=LOCAL[0],
        local_port=LOCAL[1],
    )


def soap(action, args=(), *, path=CONTROL, soapaction=None, content_type=None):
    headers, body = build_action_request(CM, action, list(args))
    return request(
        "POST",
        path,
        headers=[
            ("Content-Type", content_type or headers["Content-Type"]),
            ("SOAPACTION", soapaction if soapaction is not None else headers["SOAPACTION"]),
        ],
        body=body,
    )


def fault_code(result):
    assert result.response.status == 500
    assert result.response.header("Content-Type") == 'text/xml; charset="utf-8"'
    return parse_fault(result.response.body).code


def test_description_and_scpd_served():
    core, _ = make_core()
    result = core.handle(request())
    assert result.response.status == 200
    assert result.response.header("Content-Type") == 'text/xml; charset="utf-8"'
    assert result.response.header("Server") == "Linux/6 UPnP/1.1 upnpcm/0"
    assert parse_device_description(result.response.body).device.udn == "uuid:1"
    scpd = core.handle(request(path="/xml/ConnectionManager1.xml"))
    assert parse_scpd(scpd.response.body).action("PrepareForConnection") is not None
    assert core.handle(request("HEAD")).response.status == 200
    assert core.handle(request(path="/status")).response.body == b"live"


def test_action_success_200_out_arguments_in_order():
    core, _ = make_core()
    result = core.handle(soap("GetProtocolInfo"))
    assert result.response.status == 200
    assert result.response.header("EXT") == ""
    assert parse_action_response(result.response.body, "GetProtocolInfo") == [
        ("Source", ""),
        ("Sink", "http-get:*:audio/mpeg:*"),
    ]


def test_unquoted_soapaction_accepted():
    core, _ = make_core()
    result = core.handle(
        soap("GetCurrentConnectionIDs", soapaction=f"{CM}#GetCurrentConnectionIDs")
    )
    assert result.response.status == 200


@pytest.mark.parametrize(
    ("req", "status"),
    [
        (request(path="/nope"), 404),
        (request(path="/xml/../xml/device_description.xml"), 404),
        (request(path="/xml/%2e%2e/device_description.xml"), 404),
        (request(path="/xml/device_description.xml%00"), 404),
        (request("POST"), 405),
        (request("DELETE", "/xml/ConnectionManager1.xml"), 405),
        (request("GET", CONTROL), 405),
        (request("SUBSCRIBE", CONTROL), 405),
        (request("POST", "/MediaRenderer/ConnectionManager/Event"), 405),
        (request("FOO"), 501),
        (request(host=None), 400),
        (request(host="evil.example:1400"), 400),
        (request(host="localhost:1400"), 400),
        (request(host="127.0.0.1:1401"), 400),
        (request(host="127.0.0.2:1400"), 400),
        (request(host="127.0.0.1"), 400),
        (request(headers=[("Host", "127.0.0.1:1400")]), 400),  # duplicated Host
    ],
)
def test_http_errors(req, status):
    core, _ = make_core()
    assert core.handle(req).response.status == status


def test_405_carries_allow():
    core, _ = make_core()
    assert core.handle(request("POST")).response.header("Allow") == "GET, HEAD"
    assert core.handle(request("GET", CONTROL)).response.header("Allow") == "POST"
    assert core.handle(request("GET", "/MediaRenderer/ConnectionManager/Event")).response.header(
        "Allow"
    ) == ("SUBSCRIBE, UNSUBSCRIBE")


def test_allowed_hosts_and_ipv6_host():
    from upnpcm.core.device import DeviceLimits

    core, _ = make_core()
    core.limits = DeviceLimits(allowed_hosts=frozenset({"zp.local:1400"}))
    assert core.handle(request(host="zp.local:1400")).response.status == 200
    v6 = HttpRequest(
        method="GET",
        path="/xml/device_description.xml",
        headers=Headers([("Host", "[::1]:1400")]),
        local="::1",
        local_port=1400,
    )
    assert core.handle(v6).response.status == 200


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_non_xml_content_type_415(content_type):
    core, _ = make_core()
    req = soap("GetProtocolInfo", content_type=content_type or "x")
    if not content_type:
        req = request(
            "POST", CONTROL, headers=[("SOAPACTION", f'"{CM}#GetProtocolInfo"')], body=req.body
        )
    assert core.handle(req).response.status == 415


def test_application_xml_accepted():
    core, _ = make_core()
    assert (
        core.handle(soap("GetProtocolInfo", content_type="application/xml")).response.status == 200
    )


@pytest.mark.parametrize("soapaction", ["", "garbage", f'"{CM}"', f'"{CM}#"'])
def test_bad_soapaction_400(soapaction):
    core, _ = make_core()
    assert core.handle(soap("GetProtocolInfo", soapaction=soapaction)).response.status == 400


def test_missing_soapaction_400():
    core, _ = make_core()
    req = soap("GetProtocolInfo")
    req = request("POST", CONTROL, headers=[("Content-Type", "text/xml")], body=req.body)
    assert core.handle(req).response.status == 400


@pytest.mark.parametrize(
    "body",
    [b"", b"<x", b"<a/>", b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'],
)
def test_unparsable_envelope_400(body):
    core, _ = make_core()
    req = request(
        "POST",
        CONTROL,
        headers=[("Content-Type", "text/xml"), ("SOAPACTION", f'"{CM}#GetProtocolInfo"')],
        body=body,
    )
    result = core.handle(req)
    assert result.response.status == 400
    assert b"passwd" not in result.response.body or b"root:" not in result.response.body


def test_oversize_body_413():
    core, _ = make_core()
    req = soap("GetProtocolInfo")
    big = request(
        "POST",
        CONTROL,
        headers=[("Content-Type", "text/xml"), ("SOAPACTION", f'"{CM}#GetProtocolInfo"')],
        body=req.body + b" " * 16 * 1024,
    )
    assert core.handle(big).response.status == 413


def test_upnp_error_codes_as_faults():
    core, cm = make_core(max_connections=1)
    assert fault_code(core.handle(soap("NoSuchAction"))) == 401
    assert (
        fault_code(
            core.handle(soap("GetProtocolInfo", soapaction=f'"{CM}#GetCurrentConnectionIDs"'))
        )
        == 401
    )
    other = soap("Play", soapaction='"urn:schemas-upnp-org:service:AVTransport:1#Play"')
    assert fault_code(core.handle(other)) == 401
    assert (
        fault_code(core.handle(soap("GetCurrentConnectionInfo", [("ConnectionID", "abc")]))) == 402
    )
    assert fault_code(core.handle(soap("GetCurrentConnectionInfo"))) == 402
    assert (
        fault_code(
            core.handle(soap("GetCurrentConnectionInfo", [("ConnectionID", "1"), ("X", "1")]))
        )
        == 402
    )
    assert fault_code(core.handle(soap("GetCurrentConnectionInfo", [("ConnectionID", "5")]))) == 706
    args = [
        ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
        ("PeerConnectionManager", ""),
        ("PeerConnectionID", "-1"),
    ]
    assert (
        fault_code(core.handle(soap("PrepareForConnection", [*args, ("Direction", "Sideways")])))
        == 601  # UDA 1.1 table 3-3; security.md §6 item 11
    )
    assert (
        fault_code(core.handle(soap("PrepareForConnection", [*args, ("Direction", "Output")])))
        == 702
    )
    bad = [("RemoteProtocolInfo", "http-get:*:video/mp4:*"), *args[1:], ("Direction", "Input")]
    assert fault_code(core.handle(soap("PrepareForConnection", bad))) == 701
    ok = core.handle(soap("PrepareForConnection", [*args, ("Direction", "Input")]))
    assert ok.response.status == 200
    assert (
        fault_code(core.handle(soap("PrepareForConnection", [*args, ("Direction", "Input")])))
        == 704
    )
    assert fault_code(core.handle(soap("ConnectionComplete", [("ConnectionID", "9")]))) == 706


def test_higher_version_soapaction_refused():
    core, _ = make_core()
    v2 = soap(
        "GetProtocolInfo",
        soapaction='"urn:schemas-upnp-org:service:ConnectionManager:2#GetProtocolInfo"',
    )
    assert fault_code(core.handle(v2)) == 401


def test_disabled_prepare_is_401():
    core, _ = make_core(prepare_for_connection=False)
    assert fault_code(core.handle(soap("PrepareForConnection"))) == 401
    assert fault_code(core.handle(soap("ConnectionComplete", [("ConnectionID", "0")]))) == 401
    ids = core.handle(soap("GetCurrentConnectionIDs"))
    assert parse_action_response(ids.response.body, "GetCurrentConnectionIDs") == [
        ("ConnectionIDs", "0")
    ]


def test_handler_exception_is_generic_501_fault():
    core, _ = make_core()
    result = core.handle(soap("GetProtocolInfo", path="/Boom/ConnectionManager/Control"))
    assert fault_code(result) == 501
    assert b"secret" not in result.response.body
    assert b"Traceback" not in result.response.body
    (failed,) = result.effects
    assert isinstance(failed, ServiceFailed)
    assert isinstance(failed.error, RuntimeError)
    assert failed.operation == "GetProtocolInfo"
    assert core.handle(soap("GetProtocolInfo")).response.status == 200  # still serving


def sent(result_or_effects) -> list[SendNotify]:
    effects = getattr(result_or_effects, "effects", result_or_effects)
    return [effect for effect in effects if isinstance(effect, SendNotify)]


def test_prepare_wakes_subscribers():
    core, cm = make_core()
    event = "/MediaRenderer/ConnectionManager/Event"
    sub = core.handle(
        request(
            "SUBSCRIBE",
            event,
            headers=[
                ("CALLBACK", "<http://127.0.0.1:5000/cb>"),
                ("NT", "upnp:event"),
                ("TIMEOUT", "Second-1800"),
            ],
        ),
        now=0.0,
        entropy=42,
    )
    assert sub.response.status == 200
    sid = sub.response.header("SID")
    (initial,) = sent(sub)  # E1: the core hands out the initial event itself
    assert (initial.path, initial.message.sid, initial.message.seq) == (event, sid, 0)
    assert initial.message.changes["CurrentConnectionIDs"] == ""
    args = [
        ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
        ("PeerConnectionManager", ""),
        ("PeerConnectionID", "-1"),
        ("Direction", "Input"),
    ]
    result = core.handle(soap("PrepareForConnection", args), now=0.05)
    assert sent(result) == []  # T2: the initial event is still in flight
    assert sent(core.notify_done(event, sid, 200, now=0.1)) == []  # T2: paced until 0.2
    assert core.next_deadline() == 0.2
    (message,) = sent(core.handle_timer(0.2))
    assert message.message.seq == 1
    assert message.message.changes["CurrentConnectionIDs"] == "1"  # the change, coalesced


def test_conflicting_routes_refused():
    core, _ = make_core()
    with pytest.raises(ValueError, match="two"):
        DeviceCore(core.description, [*list(core.services), core.services[0]])


@pytest.mark.parametrize("version", ["\u00b2", "\u0663", "1\u00b9"])
def test_non_ascii_digit_service_version_is_401_not_a_crash(version):
    # "²".isdigit() is True but int("²") raises: the version must still get a 401 fault.
    core, _ = make_core()
    service_type = CM[:-1] + version
    headers, body = build_action_request(service_type, "GetProtocolInfo", [])
    req = request(
        "POST",
        CONTROL,
        headers=[("Content-Type", "text/xml"), ("SOAPACTION", headers["SOAPACTION"])],
        body=body,
    )
    assert service_type.encode() in body  # the body agrees: only the version is odd
    result = core.handle(req)
    assert fault_code(result) == 401
    assert result.effects == ()  # an expected fault: nothing to log as a failure


@pytest.mark.parametrize("port", ["\u00b2", "1\u00b9", "\u0661\u0664\u0660\u0660"])
def test_non_ascii_digit_host_port_is_400(port):
    core, _ = make_core()
    assert core.handle(request(host=f"127.0.0.1:{port}")).response.status == 400


EVENT = "/MediaRenderer/ConnectionManager/Event"


def subscribe(core, *, now=0.0):
    """A SUBSCRIBE to the renderer's CM from 127.0.0.1 (its own callback)."""
    headers = [("CALLBACK", "<http://127.0.0.1:5000/cb>"), ("NT", "upnp:event")]
    return core.handle(request("SUBSCRIBE", EVENT, headers=headers), now=now, entropy=42)


def test_idle_connections_expire_through_the_core_and_wake_subscribers():
    core, _ = make_core(connection_idle_timeout=60)
    event = EVENT
    sub = subscribe(core)
    sid = sub.response.header("SID")
    assert len(sent(sub)) == 1  # the initial event is out
    core.notify_done(event, sid, 200, now=0.0)
    args = [
        ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
        ("PeerConnectionManager", ""),
        ("PeerConnectionID", "-1"),
        ("Direction", "Input"),
    ]
    prepared = core.handle(soap("PrepareForConnection", args), now=10.0)
    assert prepared.response.status == 200
    assert len(sent(prepared)) == 1
    core.notify_done(event, sid, 200, now=10.0)
    assert core.next_deadline() == 70.0  # T1: the lease is the core's own timer
    info = soap("GetCurrentConnectionInfo", [("ConnectionID", "1")])
    assert core.handle(info, now=50.0).response.status == 200  # renews: now good until 110
    assert core.handle(info, now=50.0).response.status == 200  # twice: never from a cache
    assert core.handle_timer(100.0) == []
    assert core.next_deadline() == 110.0
    effects = core.handle_timer(110.0)
    assert [type(effect) for effect in effects] == [LeasesExpired, SendNotify]
    assert effects[0].dropped == (1,)
    assert effects[1].message.changes == {"CurrentConnectionIDs": ""}
    assert fault_code(core.handle(info, now=111.0)) == 706
    ids = core.handle(soap("GetCurrentConnectionIDs"), now=111.0)
    assert parse_action_response(ids.response.body, "GetCurrentConnectionIDs") == [
        ("ConnectionIDs", "")
    ]
    core.notify_done(event, sid, 200, now=111.0)
    assert core.next_deadline() == 1800.0  # only the subscription's own expiry is left


def test_fault_text_that_xml_cannot_carry_falls_back_to_the_code_meaning():
    # Sans-I/O callers may pass what llhttp would refuse: the core still answers.
    core, _ = make_core()
    result = core.handle(
        soap(
            "GetCurrentConnectionIDs",
            soapaction=f'"{CM[:-2]}\x00:1#GetCurrentConnectionIDs"',
        )
    )
    assert result.response.status in (400, 500)
    if result.response.status == 500:
        assert fault_code(result) == 401


class Recorder:
    """A service that keeps the arguments it was given, and then scribbles on them."""

    def __init__(self):
        self.calls = []

    def handle_action(self, action, arguments, *, now=None):
        self.calls.append(dict(arguments))
        arguments["PeerConnectionID"] = 12345  # a handler that mutates what it got
        return {"ConnectionID": 1, "AVTransportID": -1, "RcsID": -1}

    def evented_state(self):
        return {}

    def events(self):
        return []


def test_repeated_arguments_reach_the_handler_checked_and_unshared():
    scpd = connection_manager_scpd()
    service = cm_service("MediaRenderer")
    recorder = Recorder()
    core = DeviceCore(
        DeviceDescription(
            device=Device(device_type="urn:x:device:X:1", udn="uuid:2", services=(service,))
        ),
        [HostedService(service=service, scpd=scpd, scpd_xml=render_scpd(scpd), handler=recorder)],
    )
    good = [
        ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
        ("PeerConnectionManager", ""),
        ("PeerConnectionID", "-1"),
        ("Direction", "Input"),
    ]
    for _ in range(3):
        assert core.handle(soap("PrepareForConnection", good)).response.status == 200
    expected = {
        "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
        "PeerConnectionManager": "",
        "PeerConnectionID": -1,
        "Direction": "Input",
    }
    assert recorder.calls == [expected] * 3  # the scribbles of earlier calls never show
    bad = [*good[:3], ("Direction", "Sideways")]
    for _ in range(2):  # a refusal is never remembered as accepted
        assert fault_code(core.handle(soap("PrepareForConnection", bad))) == 601
    assert len(recorder.calls) == 3


def test_a_changed_server_header_reaches_every_response():
    core, _ = make_core()
    core.server_header = "Changed/1 UPnP/1.1 x/2"
    for result in (
        core.handle(soap("GetProtocolInfo")),  # 200
        core.handle(soap("ConnectionComplete", [("ConnectionID", "99")])),  # a fault
        core.handle(request(path="/nope")),  # plain 404
    ):
        assert result.response.header("Server") == "Changed/1 UPnP/1.1 x/2"
    core.server_header = ""
    assert core.handle(soap("GetProtocolInfo")).response.header("Server") is None


def test_an_addressed_handler_hears_the_local_address_and_is_never_cached():
    """A handler with wants_local_address gets the address each request arrived on."""
    from upnpcm.core.description import (
        Action,
        Argument,
        Service,
        ServiceDescription,
        StateVariable,
    )

    class WhereAmI:
        wants_local_address = True
        cacheable_actions = frozenset({"Where"})  # ignored: the answer differs per address
        state_version = 0

        def __init__(self):
            self.calls = []

        def handle_action(self, action, arguments, *, now=None, local=""):
            self.calls.append(local)
            return {"Address": local}

        def evented_state(self):
            return {}

        def events(self):
            return []

    scpd = ServiceDescription(
        actions=(
            Action(
                name="Where",
                arguments=(Argument(name="Address", direction="out", related_state_variable="A"),),
            ),
        ),
        state_variables=(StateVariable(name="A", send_events=False),),
    )
    handler = WhereAmI()
    service = Service(
        service_type="urn:example-com:service:Where:1",
        service_id="urn:example-com:serviceId:Where",
        scpd_url="/where.xml",
        control_url="/where",
        event_sub_url="/where/event",
    )
    core = DeviceCore(
        DeviceDescription(
            device=Device(
                device_type="urn:example-com:device:W:1",
                friendly_name="w",
                manufacturer="m",
                model_name="m",
                udn="uuid:w",
                services=(service,),
            )
        ),
        [HostedService(service=service, scpd=scpd, scpd_xml=b"<x/>", handler=handler)],
    )
    for local in ("127.0.0.5", "127.0.0.6", "127.0.0.5"):
        headers, body = build_action_request("urn:example-com:service:Where:1", "Where", [])
        request = HttpRequest(
            method="POST",
            path="/where",
            headers=Headers([("Host", f"{local}:1400"), *headers.items()]),
            body=body,
            peer="127.0.0.1",
            local=local,
            local_port=1400,
        )
        response = core.handle(request, now=1.0).response
        assert response.status == 200
        assert f"<Address>{local}</Address>".encode() in response.body
    assert handler.calls == ["127.0.0.5", "127.0.0.6", "127.0.0.5"]


def test_every_gena_answer_names_the_server_once():
    core, _ = make_core()
    sub = subscribe(core)
    gone = core.handle(request("UNSUBSCRIBE", EVENT, headers=[("SID", "uuid:nobody")]), now=1.0)
    for response in (sub.response, gone.response):
        servers = [value for name, value in response.headers if name.lower() == "server"]
        assert servers == ["Linux/6 UPnP/1.1 upnpcm/0"], response
