"""GENA device side: grammar, table, SEQ, expiry, caps and CallStranger rules (fake clock)."""

import pytest

from upnpcm.core.gena import (
    SEQ_MAX,
    GenaPolicy,
    SubscriberTable,
    build_propertyset,
    format_timeout,
    next_seq,
    parse_callback_header,
    parse_propertyset,
    parse_timeout,
    validate_callback,
)
from upnpcm.core.http import Headers
from upnpcm.errors import LocalProtocolError, RemoteProtocolError, SubscriptionError

OWN = ("127.0.0.1", 1400)
PEER = "127.0.0.2"
STATE = {
    "SourceProtocolInfo": "",
    "SinkProtocolInfo": "http-get:*:audio/mpeg:*",
    "CurrentConnectionIDs": "",
}


def subscribe(
    table, *, now=0.0, entropy=1, peer=PEER, callback=None, nt="upnp:event", timeout=None, extra=()
):
    headers = []
    if callback is not False:
        headers.append(("CALLBACK", callback or f"<http://{peer}:5000/cb>"))
    if nt is not None:
        headers.append(("NT", nt))
    if timeout is not None:
        headers.append(("TIMEOUT", timeout))
    headers.extend(extra)
    return table.subscribe(
        Headers(headers), peer=peer, own=OWN, now=now, entropy=entropy, evented_state=STATE
    )


def status(fn, *args, **kw):
    with pytest.raises(SubscriptionError) as info:
        fn(*args, **kw)
    return info.value.http_status


def renew(table, sid, *, now=0.0, timeout="Second-1800", extra=()):
    return table.subscribe(
        Headers([("SID", sid), ("TIMEOUT", timeout), *extra]),
        peer=PEER,
        own=OWN,
        now=now,
        entropy=0,
        evented_state=STATE,
    )


def unsubscribe(table, sid, *, now=0.0, extra=()):
    headers = [("SID", sid)] if sid is not None else []
    return table.unsubscribe(Headers([*headers, *extra]), now=now)


def test_subscribe_grants_uuid4_sid_and_timeout():
    table = SubscriberTable()
    grant = subscribe(table, timeout="Second-1800")
    assert grant.sid.startswith("uuid:")
    assert grant.sid[5:][14] == "4"  # RFC 4122 version nibble
    assert grant.headers() == [("SID", grant.sid), ("TIMEOUT", "Second-1800")]
    assert not grant.renewal
    assert len(table) == 1


@pytest.mark.parametrize(
    ("timeout", "granted"),
    [
        (None, 1800),
        ("Second-1800", 1800),
        ("Second-10", 1800),
        ("Second-2700", 2700),
        ("Second-180030", 3600),
        ("Second-0:30:00", 1800),
        ("Second-infinite", 1800),
        ("infinite", 1800),
        ("Second--5", 1800),
        ("Second-" + "9" * 20, 1800),
        ("second-2000", 2000),
        ("Second-1800.0", 1800),
        ("garbage", 1800),
    ],
)
def test_timeout_forms(timeout, granted):
    assert subscribe(SubscriberTable(), timeout=timeout).timeout == granted


def test_policy_clamps_configurable():
    policy = GenaPolicy(min_timeout=60, max_timeout=86400, default_timeout=3600)
    table = SubscriberTable(policy)
    assert subscribe(table, timeout="Second-30").timeout == 60
    assert subscribe(table, timeout="Second-90000", entropy=2).timeout == 86400
    assert subscribe(table, entropy=3).timeout == 3600
    with pytest.raises(ValueError):
        GenaPolicy(min_timeout=10, default_timeout=5, max_timeout=20)


def test_parse_and_format_timeout():
    assert parse_timeout("Second-42") == 42
    assert parse_timeout(None) is None
    assert format_timeout(1800) == "Second-1800"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"nt": None}, 412),
        ({"nt": "upnp:propchange"}, 412),
        ({"callback": False}, 412),
        ({"callback": "http://127.0.0.2:5000/no-brackets"}, 412),
        ({"callback": "<>"}, 412),
        ({"extra": [("SID", "uuid:x")]}, 400),
        ({"extra": [("NT", "upnp:event")]}, 400),
        ({"extra": [("CALLBACK", "<http://127.0.0.2/>")]}, 400),
        ({"extra": [("TIMEOUT", "Second-5")], "timeout": "Second-1800"}, 400),
    ],
)
def test_subscribe_errors(kwargs, code):
    assert status(subscribe, SubscriberTable(), **kwargs) == code


def test_renewal_and_its_errors(clock):
    table = SubscriberTable()
    sid = subscribe(table, now=clock.now).sid
    grant = renew(table, sid, now=clock.advance(100), timeout="Second-3000")
    assert (grant.sid, grant.timeout, grant.renewal) == (sid, 3000, True)
    assert status(renew, table, sid, extra=[("NT", "upnp:event")]) == 400
    assert status(renew, table, sid, extra=[("CALLBACK", "<http://127.0.0.2/>")]) == 400
    assert status(renew, table, "uuid:00000000-0000-4000-8000-000000000000") == 412
    assert status(renew, table, sid, extra=[("SID", sid)]) == 400  # duplicate SID header


def test_unsubscribe_and_its_errors():
    table = SubscriberTable()
    sid = subscribe(table).sid
    assert status(unsubscribe, table, sid, extra=[("NT", "upnp:event")]) == 400
    assert status(unsubscribe, table, sid, extra=[("CALLBACK", "<http://127.0.0.2/>")]) == 400
    assert status(unsubscribe, table, None) == 412
    assert unsubscribe(table, sid) == sid
    assert status(unsubscribe, table, sid) == 412  # second time: gone, 412 never 404
    assert status(renew, table, sid) == 412


def test_expiry(clock):
    table = SubscriberTable()
    sid = subscribe(table, now=clock.now, timeout="Second-1800").sid
    assert table.next_deadline() == clock.now + 1800
    renew(table, sid, now=clock.advance(1799))  # just before expiry: still alive
    clock.advance(1800)
    assert status(renew, table, sid, now=clock.now) == 412
    assert len(table) == 0
    sid2 = subscribe(table, now=clock.now, entropy=7).sid
    assert table.expire(clock.advance(1801)) == [sid2]
    assert table.take_message(sid2) is None


def test_seq_starts_at_zero_with_every_evented_variable_then_counts():
    table = SubscriberTable()
    sid = subscribe(table).sid
    first = table.take_message(sid)
    assert first is not None
    assert first.seq == 0
    assert dict(first.changes) == STATE
    assert parse_propertyset(first.body) == STATE
    assert table.take_message(sid) is None  # nothing pending
    table.queue_changes({"CurrentConnectionIDs": "1"})
    table.queue_changes({"CurrentConnectionIDs": "1,2"})  # coalesced: last value wins
    second = table.take_message(sid)
    assert (second.seq, dict(second.changes)) == (1, {"CurrentConnectionIDs": "1,2"})
    headers = second.headers_for("http://127.0.0.2:5000/cb")
    assert headers == {
        "HOST": "127.0.0.2:5000",
        "CONTENT-TYPE": 'text/xml; charset="utf-8"',
        "NT": "upnp:event",
        "NTS": "upnp:propchange",
        "SID": sid,
        "SEQ": "1",
    }


def test_seq_wraps_to_one():
    assert next_seq(SEQ_MAX) == 1
    assert next_seq(0) == 1
    table = SubscriberTable()
    sid = subscribe(table).sid
    table.take_message(sid)
    table.get(sid).seq = SEQ_MAX - 1  # as if 4294967294 messages had gone out
    seqs = []
    for value in ("a", "b", "c"):
        table.queue_changes({"CurrentConnectionIDs": value})
        seqs.append(table.take_message(sid).seq)
    assert seqs == [SEQ_MAX, 1, 2]


def test_failed_delivery_consumes_seq_and_three_failures_drop():
    table = SubscriberTable()
    sid = subscribe(table).sid
    table.take_message(sid)
    assert not table.delivery_failed(sid)
    table.queue_changes({"CurrentConnectionIDs": "1"})
    assert table.take_message(sid).seq == 1
    assert not table.delivery_failed(sid)
    table.delivered(sid)  # a success resets the count
    assert not table.delivery_failed(sid)
    assert not table.delivery_failed(sid)
    assert table.delivery_failed(sid)  # third consecutive failure
    assert sid not in table


def test_412_reply_drops_at_once():
    table = SubscriberTable()
    sid = subscribe(table).sid
    assert table.delivery_failed(sid, status=412)
    assert sid not in table


def test_caps_503_and_existing_untouched():
    table = SubscriberTable(GenaPolicy(max_subscriptions=32, max_per_peer=8))
    sids = []
    for i in range(32):
        peer = f"127.0.1.{i // 8}"
        sids.append(subscribe(table, peer=peer, entropy=i + 1).sid)
    assert status(subscribe, table, peer="127.0.2.1", entropy=99) == 503
    assert table.sids() == sids
    unsubscribe(table, sids[0])
    assert subscribe(table, peer="127.0.2.1", entropy=100).sid not in sids
    per_peer = SubscriberTable()
    for i in range(8):
        subscribe(per_peer, entropy=i + 1)
    assert status(subscribe, per_peer, entropy=50) == 503
    assert len(per_peer) == 8
    assert subscribe(per_peer, peer="127.0.0.3", entropy=51)


def test_sids_unique_over_many_cycles():
    import secrets

    table = SubscriberTable()
    seen = set()
    for _ in range(10_000):
        sid = subscribe(table, entropy=secrets.randbits(128)).sid
        assert sid not in seen
        seen.add(sid)
        unsubscribe(table, sid)


def test_sid_collision_is_503():
    table = SubscriberTable()
    subscribe(table, entropy=5)
    assert status(subscribe, table, entropy=5, peer="127.0.0.9") == 503


# ---------------------------------------------------------------- CallStranger


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.3:5000/cb",  # not the subscriber (127.0.0.2)
        "http://203.0.113.5/cb",
        "http://[::ffff:8.8.8.8]/cb",
        "http://evil.example/cb",
        "https://127.0.0.2/cb",
        "file:///etc/passwd",
        "gopher://127.0.0.2:70/x",
        "http://127.0.0.1:1400/cb",  # the device itself
        "http://0.0.0.0:5000/",
        "http://239.1.1.1:5000/",
        "http://255.255.255.255/",
        "http://user:pw@127.0.0.2:5000/",
        "http://127.0.0.2:5000/" + "a" * 240,  # 257+ bytes
        "http://127.0.0.2:5000/?" + "x" * 4000,  # exfiltration in the query
        "http://127.0.0.2:99999/",
    ],
)
def test_callstranger_urls_refused_412(url):
    table = SubscriberTable()
    assert status(subscribe, table, callback=f"<{url}>") == 412
    assert len(table) == 0
    assert table.rejected_callbacks == 1


def test_mapped_v4_peer_matches_and_valid_urls_kept():
    table = SubscriberTable()
    grant = subscribe(
        table,
        peer="127.0.0.2",
        callback="<http://[::ffff:127.0.0.2]:5000/a><http://evil.example/><http://127.0.0.2:5001/b>",
    )
    assert table.get(grant.sid).callbacks == (
        "http://[::ffff:127.0.0.2]:5000/a",
        "http://127.0.0.2:5001/b",
    )


def test_only_first_six_urls_considered():
    urls = "".join(f"<http://127.0.0.9:{5000 + i}/>" for i in range(6)) + "<http://127.0.0.2:5000/>"
    assert parse_callback_header(urls, limit=6) == [
        f"http://127.0.0.9:{5000 + i}/" for i in range(6)
    ]
    assert status(subscribe, SubscriberTable(), callback=urls) == 412  # the good 7th is ignored


def test_subnet_scope():
    import ipaddress

    policy = GenaPolicy(callback_scope="subnet")
    table = SubscriberTable(policy, networks=[ipaddress.ip_network("127.0.0.0/24")])
    assert subscribe(table, callback="<http://127.0.0.77:5000/>")
    assert status(subscribe, table, callback="<http://127.0.1.77:5000/>", entropy=2) == 412
    assert (
        status(subscribe, table, callback="<http://127.0.0.255:5000/>", entropy=3) == 412
    )  # broadcast
    assert (
        validate_callback(
            "http://127.0.0.5/", peer="127.0.0.9", own=OWN, scope="subnet", networks=()
        )
        is not None
    )


def test_propertyset_escaping_and_parsing():
    body = build_propertyset(
        {"SinkProtocolInfo": "a<b>&c", "CurrentConnectionIDs": ""}, declaration=False
    )
    assert not body.startswith(b"<?xml")
    assert parse_propertyset(body) == {"SinkProtocolInfo": "a<b>&c", "CurrentConnectionIDs": ""}
    with pytest.raises(RemoteProtocolError):
        parse_propertyset(b"<other/>")
    with pytest.raises(RemoteProtocolError):
        parse_propertyset(
            b'<!DOCTYPE x [<!ENTITY a "b">]><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"/>'
        )


def test_subnet_scope_uses_the_network_the_request_arrived_on():
    import ipaddress

    nets = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("192.168.1.0/24")]

    def why(url, own):
        return validate_callback(url, peer="192.168.1.5", own=own, scope="subnet", networks=nets)

    lan = ("192.168.1.2", 1400)
    assert why("http://192.168.1.9:5000/", lan) is None
    # A SUBSCRIBE that came in over the LAN may not aim NOTIFYs at loopback.
    assert why("http://127.0.0.1:6379/", lan) is not None
    assert why("http://127.0.0.1:6379/", ("127.0.0.1", 1400)) is None
    assert why("http://192.168.1.9:5000/", ("127.0.0.1", 1400)) is not None
    assert why("http://192.168.1.9:5000/", ("", 0)) is not None  # arrival unknown: nothing


def test_device_core_hands_networks_to_every_table():
    import ipaddress

    from upnpcm.core.connection_manager import ConnectionManager, connection_manager_scpd
    from upnpcm.core.description import Device, DeviceDescription, render_scpd
    from upnpcm.core.device import DeviceCore, HostedService
    from upnpcm.profiles import cm_service

    scpd = connection_manager_scpd()
    services = [cm_service("A"), cm_service("B")]
    core = DeviceCore(
        DeviceDescription(device=Device(device_type="urn:x:device:X:1", udn="uuid:1")),
        [
            HostedService(
                service=s, scpd=scpd, scpd_xml=render_scpd(scpd), handler=ConnectionManager()
            )
            for s in services
        ],
        gena_policy=GenaPolicy(callback_scope="subnet"),
    )
    core.set_networks([ipaddress.ip_network("127.0.0.0/8")])
    for service in services:
        table = core.table(service.event_sub_url)
        assert subscribe(table, peer="127.0.0.1", callback="<http://127.0.0.9:5000/>")


@pytest.mark.parametrize("subscribed", [False, True])
@pytest.mark.parametrize(
    "changes",
    [
        {"CurrentConnectionIDs": "1", "Bad Name": "x"},
        {"CurrentConnectionIDs": "1", "Other": "nul\x00"},
        {"CurrentConnectionIDs": "\ufffe"},
    ],
)
def test_changes_xml_cannot_carry_are_refused_before_anything_is_queued(changes, subscribed):
    table = SubscriberTable()
    sid = subscribe(table).sid if subscribed else None
    if sid is not None:
        table.take_message(sid)  # the initial event
    with pytest.raises(LocalProtocolError):
        table.queue_changes(changes)
    if sid is not None:
        assert table.take_message(sid) is None  # nothing half-queued
        table.queue_changes({"CurrentConnectionIDs": "7"})
        assert b"<CurrentConnectionIDs>7</CurrentConnectionIDs>" in table.take_message(sid).body


def test_policy_problem_checks_partial_values_as_the_policy_checks_whole_ones():
    from upnpcm.core.gena import policy_problem

    assert policy_problem() is None
    assert policy_problem(default_timeout=50_000) is None  # a profile may allow it
    assert "min_timeout" in (policy_problem(min_timeout=10, max_timeout=5) or "")
    assert "caps" in (policy_problem(max_per_peer=0) or "")
    with pytest.raises(ValueError, match="min_timeout"):
        GenaPolicy(min_timeout=10, default_timeout=5)
