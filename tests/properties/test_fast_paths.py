"""M1: with every fast path off, a device answers byte for byte as with them on.

Two devices, identical but for ``fast_paths``, get the same arbitrary sequence
of requests (every action, odd and broken bodies, unknown IDs, other Host
headers, SUBSCRIBE/UNSUBSCRIBE) interleaved with state changes (new protocol
lists, a new Server header, time passing, delivery outcomes). Every response —
status, headers, body — and every effect must be the same.

The fast device also gets every control request as an adapter hands it over
(rule M5): first :meth:`DeviceCore.recall` with its bytes (here an injective
encoding of the request), and when that knows no answer, :meth:`handle`
followed by :meth:`DeviceCore.remember`. A recalled answer must be the slow
device's, which must have had no effects.
"""

from __future__ import annotations

import dataclasses

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.core.test_device import CM, CONTROL, make_core, request, soap
from upnpcm.core import description, memo
from upnpcm.core.connection_manager import connection_manager_scpd
from upnpcm.core.device import DeviceCore, HostedService
from upnpcm.core.effects import SendNotify, ServiceFailed
from upnpcm.core.http import Headers, HttpRequest
from upnpcm.core.memo import Memo
from upnpcm.core.soap import build_action_request
from upnpcm.profiles import cm_service

EVENT = "/MediaRenderer/ConnectionManager/Event"
FORMATS = st.sampled_from(
    [
        "http-get:*:audio/mpeg:*",
        "http-get:*:audio/flac:*",
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3",
        "*:*:*:*",
        "nonsense",
        "",
    ]
)
IDS = st.sampled_from(["0", "1", "2", "3", "-1", "x", "", "٣", "99999999999"])
ACTIONS = st.one_of(
    st.tuples(st.just("GetProtocolInfo"), st.just(())),
    st.tuples(st.just("GetProtocolInfo"), st.just(())),
    st.tuples(st.just("GetCurrentConnectionIDs"), st.just(())),
    st.tuples(
        st.just("GetCurrentConnectionInfo"), st.tuples(st.tuples(st.just("ConnectionID"), IDS))
    ),
    st.tuples(st.just("ConnectionComplete"), st.tuples(st.tuples(st.just("ConnectionID"), IDS))),
    st.tuples(
        st.just("PrepareForConnection"),
        st.tuples(
            st.tuples(st.just("RemoteProtocolInfo"), FORMATS),
            st.tuples(st.just("PeerConnectionManager"), st.sampled_from(["", "uuid:x/cm"])),
            st.tuples(st.just("PeerConnectionID"), IDS),
            st.tuples(st.just("Direction"), st.sampled_from(["Input", "Output", "Sideways"])),
        ),
    ),
    st.tuples(st.just("NoSuchAction"), st.just(())),
)
#: Body rewrites: same request in other markup, or a broken one.
SAME = lambda b: b  # noqa: E731 - one of the rewrites
REWRITES = st.sampled_from(
    [
        SAME,
        SAME,
        SAME,
        SAME,
        SAME,
        lambda b: b"  \n" + b,
        lambda b: b.replace(b"u:", b"m:").replace(b":u=", b":m="),
        lambda b: b.replace(b"<s:Body>", b'<s:Body id="7">'),
        lambda b: b.replace(b'<?xml version="1.0"?>', b""),
        lambda b: b[: len(b) // 2],
        lambda b: b.replace(b"</s:Body>", b"<!-- x --></s:Body>"),
        lambda b: b.replace(b"<ConnectionID>", b"<ConnectionID><![CDATA[").replace(
            b"</ConnectionID>", b"]]></ConnectionID>"
        ),
        lambda b: b.replace(b"audio", b"&#97;udio"),
    ]
)

HOSTS = st.sampled_from(["127.0.0.1:1400"] * 6 + ["127.0.0.1:1401", "example.com"])
#: The port the request arrived on: the same bytes on another port get another Host verdict.
PORTS = st.sampled_from([1400] * 5 + [1401])
#: Header sections other than the plain one: each is checked from the headers alone (M8).
HEAD_VARIANTS = st.sampled_from(
    [
        None,
        ("replace", "Content-Type", "text/plain"),
        ("replace", "Content-Type", "application/xml; charset=utf-8"),
        ("add", "SOAPACTION", '"urn:schemas-upnp-org:service:ConnectionManager:1#Other"'),
        ("add", "Content-Type", 'text/xml; charset="utf-8"'),
        ("add", "Content-Type", "text/html"),
        ("add", "Host", "127.0.0.1:1400"),
        ("drop", "Host", ""),
    ]
)
control = st.one_of(
    st.tuples(st.just("control"), ACTIONS, REWRITES, HOSTS),
    st.tuples(st.just("control"), ACTIONS, REWRITES, HOSTS, PORTS),
    st.tuples(st.just("control"), ACTIONS, REWRITES, HOSTS, PORTS, HEAD_VARIANTS),
)
subscribe = st.tuples(st.just("subscribe"), st.sampled_from(["Second-1800", "Second-5", None]))
unsubscribe = st.tuples(st.just("unsubscribe"), st.integers(0, 3))
sink = st.tuples(st.just("sink"), FORMATS)
server = st.tuples(st.just("server"), st.sampled_from(["", "Linux UPnP/1.1 test/1", "other/2"]))
time = st.tuples(st.just("time"), st.floats(0, 4000))
outcome = st.tuples(st.just("outcome"), st.sampled_from([200, 412, 500, None]))
STEPS = st.lists(
    st.one_of(control, control, control, subscribe, unsubscribe, sink, server, time, outcome),
    max_size=40,
)


def _effects(effects):
    out = []
    for effect in effects:
        if isinstance(effect, ServiceFailed):
            out.append(("failed", effect.operation, type(effect.error)))
        elif isinstance(effect, SendNotify):
            m = effect.message
            out.append(("notify", effect.path, m.sid, m.seq, m.callbacks, m.body))
        else:
            out.append(effect)
    return out


def raw_bytes(req) -> bytes:
    """An injective encoding of a request, standing in for its bytes on the wire."""
    return repr((req.method, req.path, req.query, req.headers.items, req.body)).encode()


class Device:
    def __init__(self, fast_paths: bool) -> None:
        self.core, self.cm = make_core(fast_paths=fast_paths, connection_idle_timeout=600)
        self.fast = fast_paths
        #: One Headers object per distinct header section, handed again as the HTTP
        #: framing hands a head it read before (M6), so M8 is exercised.
        self.heads: dict[tuple[tuple[str, str], ...], Headers] = {}
        self.now = 0.0
        self.sids: list[str] = []
        self.flight: list[tuple[str, str]] = []
        #: Control requests answered by recall (M5), without handle().
        self.recalled = 0

    def step(self, step, entropy: int):
        kind = step[0]
        if kind == "control":
            (action, args), rewrite, host = step[1:4]
            port = step[4] if len(step) > 4 else 1400
            variant = step[5] if len(step) > 5 else None
            headers, body = build_action_request(CM, action, list(args))
            pairs = [
                ("Content-Type", headers["Content-Type"]),
                ("SOAPACTION", headers["SOAPACTION"]),
            ]
            if variant is not None:
                how, name, value = variant
                if how == "replace":
                    pairs = [(n, value if n == name else v) for n, v in pairs]
                elif how == "add":
                    pairs.append((name, value))
                else:
                    host = None
            req = request("POST", CONTROL, headers=pairs, body=rewrite(body), host=host)
            items = req.headers.items
            req = dataclasses.replace(
                req, local_port=port, headers=self.heads.setdefault(items, req.headers)
            )
            raw = raw_bytes(req)
            known = self.core.recall(raw, req.local, req.local_port)
            if known is not None:
                self.recalled += 1
                assert known[1] is True  # the keep-alive verdict handed over below
                return (known[0].status, known[0].headers, known[0].body, "recalled", [])
            result = self.core.handle(req, now=self.now)
            self.core.remember(raw, req, True)
            return self._result(result)
        if kind == "subscribe":
            extra = [("TIMEOUT", step[1])] if step[1] else []
            result = self.core.handle(
                request(
                    "SUBSCRIBE",
                    EVENT,
                    headers=[
                        ("CALLBACK", "<http://127.0.0.1:5000/cb>"),
                        ("NT", "upnp:event"),
                        *extra,
                    ],
                ),
                now=self.now,
                entropy=entropy,
            )
            if result.response.status == 200:
                self.sids.append(result.response.header("SID"))
            return self._result(result)
        if kind == "unsubscribe":
            sid = self.sids[step[1] % len(self.sids)] if self.sids else "uuid:none"
            result = self.core.handle(
                request("UNSUBSCRIBE", EVENT, headers=[("SID", sid)]), now=self.now
            )
            return self._result(result)
        if kind == "sink":
            self.cm.set_protocol_info(sink=step[1])
            return _effects(self._track(self.core.flush_events(self.now)))
        if kind == "server":
            self.core.server_header = step[1]
            return None
        if kind == "time":
            self.now += step[1]
            return _effects(self._track(self.core.handle_timer(self.now)))
        if kind == "outcome" and self.flight:
            path, sid = self.flight.pop(0)
            return _effects(self._track(self.core.notify_done(path, sid, step[1], self.now)))
        return None

    def _track(self, effects):
        self.flight += [(e.path, e.message.sid) for e in effects if isinstance(e, SendNotify)]
        return effects

    def _result(self, result):
        response = result.response
        return (
            response.status,
            response.headers,
            response.body,
            result.operation,
            _effects(self._track(result.effects)),
        )


GET_INFO = ("control", ("GetProtocolInfo", ()), SAME, "127.0.0.1:1400")
PREPARE = (
    "control",
    (
        "PrepareForConnection",
        (
            ("RemoteProtocolInfo", "http-get:*:audio/flac:*"),
            ("PeerConnectionManager", ""),
            ("PeerConnectionID", "-1"),
            ("Direction", "Input"),
        ),
    ),
    SAME,
    "127.0.0.1:1400",
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
@example([GET_INFO, ("server", "other/2"), GET_INFO])
@example([GET_INFO, GET_INFO, ("sink", "http-get:*:audio/flac:*"), GET_INFO])
@example([GET_INFO, GET_INFO, ("server", "other/2"), GET_INFO])
@example([GET_INFO, GET_INFO, (*GET_INFO, 1401)])
@example([GET_INFO, ("sink", "http-get:*:audio/flac:*"), GET_INFO])
@example([PREPARE, ("sink", "http-get:*:audio/flac:*"), PREPARE])
def test_fast_paths_change_no_byte(steps):
    fast, slow = Device(True), Device(False)
    for number, step in enumerate(steps):
        entropy = 1000 + number
        got, expected = fast.step(step, entropy), slow.step(step, entropy)
        if isinstance(got, tuple) and got[3] == "recalled":
            assert got[:3] == expected[:3], (number, step)
            assert expected[4] == [], (number, step)  # an answer without effects
        else:
            assert got == expected, (number, step)
    assert fast.core.next_deadline() == slow.core.next_deadline()
    assert slow.recalled == 0


def test_a_repeated_request_is_recalled_until_the_state_changes():
    """M5: the second GetProtocolInfo is recalled by its bytes; a new Sink list ends that."""
    fast, slow = Device(True), Device(False)
    steps = [GET_INFO, GET_INFO, GET_INFO, ("sink", "http-get:*:audio/flac:*"), GET_INFO, GET_INFO]
    answers = []
    for number, step in enumerate(steps):
        got, expected = fast.step(step, number), slow.step(step, number)
        assert got == expected if not isinstance(got, tuple) else got[:3] == expected[:3]
        answers.append(got)
    # the first is parsed, the second answered from the answer cache (and its bytes
    # remembered), the third recalled; after the change the next is parsed again (its
    # answer is cached anew) and the one after it recalled from that
    assert [a[3] for a in answers if isinstance(a, tuple)] == [
        "GetProtocolInfo",
        "GetProtocolInfo",
        "recalled",
        "GetProtocolInfo",
        "recalled",
    ]
    assert b"audio/flac" in answers[-1][2]


def test_the_switch_really_turns_the_fast_paths_off():
    fast, slow = Device(True), Device(False)
    step = ("control", ("GetProtocolInfo", ()), lambda b: b, "127.0.0.1:1400")
    for _ in range(3):
        fast.step(step, 0)
        slow.step(step, 0)
    assert fast.core.memo._answers and fast.core.memo._requests and fast.core.memo._hosts
    assert fast.core.memo._raw and fast.recalled == 1 and fast.core.memo._head_facts
    assert fast.core.memo._plans
    assert not (slow.core.memo._answers or slow.core.memo._requests or slow.core.memo._hosts)
    assert not (slow.core.memo._raw or slow.core.memo._head_facts or slow.core.memo._plans)


def _headed(peer: str, n: int) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path=CONTROL,
        headers=Headers([("Host", f"127.0.0.1:{n}")]),
        peer=peer,
        local="127.0.0.1",
        local_port=1400,
    )


def test_header_facts_are_bounded_per_peer_and_in_all():
    """M8, M2: a peer over its share loses its own entries, not another's; a full table empties."""
    kept = Memo()
    judged: list[HttpRequest] = []

    def judge(req: HttpRequest) -> str:
        judged.append(req)
        return ""

    other = _headed("10.0.0.2", 0)
    kept.host_problem(other, judge)
    mine = [_headed("10.0.0.1", n) for n in range(memo.MAX_HEAD_FACTS_PER_PEER + 1)]
    for req in mine:
        kept.host_problem(req, judge)
        assert sum(f.peer == "10.0.0.1" for f in kept._head_facts.values()) <= (
            memo.MAX_HEAD_FACTS_PER_PEER
        )
    judged.clear()
    kept.host_problem(other, judge)  # still known: another peer's share is its own
    kept.host_problem(mine[-1], judge)  # the newest of the full share is known too
    assert judged == []
    kept.host_problem(mine[0], judge)  # dropped with its peer's share
    assert judged == [mine[0]]
    for peer in range(2 * memo.MAX_HEAD_FACTS // memo.MAX_HEAD_FACTS_PER_PEER + 1):
        for n in range(memo.MAX_HEAD_FACTS_PER_PEER):
            kept.host_problem(_headed(f"10.1.0.{peer}", n), judge)
            assert len(kept._head_facts) <= memo.MAX_HEAD_FACTS


def test_header_facts_follow_the_address_the_request_arrived_on():
    """M8: the same header section on another local port gets its own Host verdict."""
    core, _ = make_core()
    req = soap("GetProtocolInfo")
    assert core.handle(req).response.status == 200
    moved = dataclasses.replace(req, local_port=1401)
    assert core.handle(moved).response.body == (
        b"400 Host header does not name this device's address and port\n"
    )
    assert core.handle(req).response.status == 200


def test_whole_requests_kept_are_bounded_in_count_and_bytes():
    """M2 for M5: the bytes are the client's; a full table is emptied."""
    kept = Memo()
    key = (0, "GetProtocolInfo", ())
    for i in range(600):
        kept.keep_raw((b"x" * 8000 + b"%d" % i, "127.0.0.1", 1400), key, True)
        assert sum(len(raw) for raw, _, _ in kept._raw) <= memo.MAX_RAW_KEY_BYTES
    for i in range(600):
        kept.keep_raw((b"%d" % i, "127.0.0.1", 1400), key, True)
        assert len(kept._raw) <= memo.MAX_ENTRIES
    assert kept.recall((b"599", "127.0.0.1", 1400)) == (key, True)
    assert kept.recall((b"599", "127.0.0.1", 1401)) is None


class Answering:
    """A service answering GetCurrentConnectionInfo with whatever outputs it is given."""

    def __init__(self, outputs: dict[str, object]) -> None:
        self.outputs = outputs

    def handle_action(self, action, arguments, *, now=None):
        return dict(self.outputs)

    def evented_state(self):
        return {}

    def events(self):
        return []


OUT_NAMES = ["RcsID", "AVTransportID", "ProtocolInfo", "PeerConnectionManager"]
OUT_NAMES += ["PeerConnectionID", "Direction", "Status", "Other"]
OUT_VALUES = st.one_of(
    st.integers(-(2**32), 2**32),
    st.sampled_from(["Input", "Output", "OK", "Unknown", "", "a&b<c>", "x\x00y", "-1", "7"]),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
FULL = {
    "RcsID": -1,
    "AVTransportID": 0,
    "ProtocolInfo": "http-get:*:audio/mpeg:*",
    "PeerConnectionManager": "",
    "PeerConnectionID": -1,
    "Direction": "Input",
    "Status": "OK",
}


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.dictionaries(st.sampled_from(OUT_NAMES), OUT_VALUES, max_size=8),
        st.tuples(st.sampled_from(OUT_NAMES), OUT_VALUES).map(lambda p: {**FULL, p[0]: p[1]}),
    )
)
@example(FULL)
@example({**FULL, "Other": 1})
@example({**FULL, "ProtocolInfo": "a&b<c>"})
@example({**FULL, "RcsID": 2**31})  # an int outside i4: 501, not its digits
@example({**FULL, "PeerConnectionID": -(2**31) - 1})
@example({**FULL, "AVTransportID": True})  # a bool is not an i4
def test_an_answer_is_built_byte_for_byte_as_the_slow_path_builds_it(outputs):
    """M1 for OutPlan: any outputs a service answers, the same bytes (or the same fault)."""
    answers = []
    scpd = connection_manager_scpd()
    service = cm_service("MediaRenderer")
    device = description.DeviceDescription(
        device=description.Device(device_type="urn:x:device:X:1", udn="uuid:1", services=(service,))
    )
    for fast_paths in (True, False):
        handler = Answering(outputs)
        hosted = HostedService(
            service=service, scpd=scpd, scpd_xml=description.render_scpd(scpd), handler=handler
        )
        core = DeviceCore(device, [hosted], fast_paths=fast_paths, server_header="s/1")
        for _ in range(2):  # the second from a plan derived before
            try:
                result = core.handle(soap("GetCurrentConnectionInfo", [("ConnectionID", "0")]))
            except Exception as exc:  # e.g. a NUL the answer cannot carry: raised both ways
                answers.append((type(exc), str(exc)))
                continue
            response = result.response
            answers.append(
                (response.status, response.headers, response.body, _effects(result.effects))
            )
    assert answers[:2] == answers[2:]
    assert answers[0] == answers[1]
