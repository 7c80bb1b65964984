"""Control-point subscription state machine and NOTIFY router (fake clock, seeded RNG)."""

import itertools
import random

import pytest

from upnpcm.core.gena import build_propertyset
from upnpcm.core.http import Headers, HttpRequest
from upnpcm.core.subscription import (
    ClientSubscription,
    EventReceived,
    NotifyRouter,
    Resubscribing,
    RetryScheduled,
    Subscribed,
    SubscriptionState,
    Unsubscribed,
)

EVENT_URL = "http://127.0.0.9:1400/MediaRenderer/ConnectionManager/Event"
CALLBACK = "http://127.0.0.1:5000/notify"


def new(now=0.0, seed=1, timeout=1800):
    return ClientSubscription(
        event_url=EVENT_URL,
        callback_url=CALLBACK,
        requested_timeout=timeout,
        rng=random.Random(seed),
        now=now,
    )


def grant(sub, now, sid="uuid:s1", timeout="Second-1800"):
    request = sub.poll(now)
    assert request is not None
    return request, sub.on_reply(200, Headers([("SID", sid), ("TIMEOUT", timeout)]), now)


def test_subscribe_request_and_grant():
    sub = new()
    request = sub.poll(0.0)
    assert request.method == "SUBSCRIBE" and request.purpose == "subscribe"
    assert dict(request.headers) == {
        "CALLBACK": f"<{CALLBACK}>",
        "NT": "upnp:event",
        "TIMEOUT": "Second-1800",
    }
    assert sub.poll(0.0) is None  # one request in flight at a time
    assert sub.next_deadline() is None
    events = sub.on_reply(200, Headers([("SID", "uuid:s1"), ("TIMEOUT", "Second-300")]), 0.0)
    assert events == [Subscribed("uuid:s1", 300, False)]
    assert sub.state is SubscriptionState.ACTIVE


@pytest.mark.parametrize("granted", [300, 1800, 3600, 86400])
def test_renews_at_about_half_of_the_granted_timeout(granted):
    sub = new(timeout=1800)
    grant(sub, 0.0, timeout=f"Second-{granted}")
    due = sub.next_deadline()
    assert 0.45 * granted <= due <= 0.55 * granted
    assert sub.poll(due - 1) is None
    renew = sub.poll(due)
    assert renew.purpose == "renew"
    assert dict(renew.headers) == {"SID": "uuid:s1", "TIMEOUT": "Second-1800"}
    events = sub.on_reply(200, Headers([("SID", "uuid:s1"), ("TIMEOUT", f"Second-{granted}")]), due)
    assert events == [Subscribed("uuid:s1", granted, True)]


def test_jitter_varies_with_seed():
    deadlines = set()
    for seed in range(5):
        sub = new(seed=seed)
        grant(sub, 0.0)
        deadlines.add(round(sub.next_deadline(), 3))
    assert len(deadlines) == 5


def test_412_on_renew_resubscribes_at_once():
    sub = new()
    grant(sub, 0.0)
    due = sub.next_deadline()
    sub.poll(due)
    events = sub.on_reply(412, Headers(), due)
    assert isinstance(events[0], Resubscribing) and "412" in events[0].reason
    assert sub.next_deadline() == due
    again = sub.poll(due)
    assert again.purpose == "subscribe"
    assert sub.on_reply(200, Headers([("SID", "uuid:s2"), ("TIMEOUT", "Second-1800")]), due) == [
        Subscribed("uuid:s2", 1800, False)
    ]


def test_backoff_doubles_to_60s_and_never_hot_loops():
    sub = new()
    now = 0.0
    delays = []
    attempts = 0
    while now < 300:  # five fake minutes of an unreachable device
        request = sub.poll(now)
        if request is not None:
            attempts += 1
            (event,) = sub.on_reply(None, Headers(), now)
            assert isinstance(event, RetryScheduled)
            delays.append(event.delay)
        now = sub.next_deadline()
    assert all(0.5 <= d <= 1.0 for d in delays[:1])
    assert all(d <= 60.0 for d in delays)
    assert max(delays) > 30
    assert attempts <= 15  # 1+2+4+…+60 capped: a handful a minute, not a hot loop
    assert all(b >= a * 0.5 or a > 30 for a, b in itertools.pairwise(delays))


def test_failed_renewal_retries_as_renewal_while_the_sid_lives():
    sub = new()
    grant(sub, 0.0, timeout="Second-1800")
    due = sub.next_deadline()
    sub.poll(due)
    sub.on_reply(500, Headers(), due)
    retry = sub.poll(sub.next_deadline())
    assert retry.purpose == "renew"
    sub.on_reply(None, Headers(), sub.next_deadline() or 0)
    late = 2000.0  # past expiry: a fresh SUBSCRIBE
    assert sub.poll(late).purpose == "subscribe"


def test_seq_order_duplicate_gap_and_wraps():
    sub = new()
    grant(sub, 0.0)
    assert sub.on_notify(0, {"A": "1"}, 1.0) == [EventReceived("uuid:s1", 0, {"A": "1"})]
    assert sub.on_notify(1, {"A": "2"}, 1.0)[0].seq == 1
    assert sub.on_notify(1, {"A": "2"}, 1.0) == []  # duplicate ignored
    events = sub.on_notify(3, {"A": "4"}, 1.0)  # 2 is missing: a gap
    assert isinstance(events[0], EventReceived)
    assert isinstance(events[1], Resubscribing) and "gap" in events[1].reason
    assert events[1].old_sid == "uuid:s1"
    assert sub.poll(1.0).purpose == "subscribe"
    for last in (4294967295, 2147483647):
        wrap = new()
        grant(wrap, 0.0)
        wrap.on_notify(0, {}, 0.0)
        wrap.seq = last
        assert [type(e) for e in wrap.on_notify(1, {"A": "x"}, 0.0)] == [EventReceived]
        assert wrap.state is SubscriptionState.ACTIVE


def test_a_first_notify_other_than_seq_zero_is_the_start():
    # Devices that count from 1 (or share one counter among SIDs): resubscribing
    # would get the same, so it is accepted and the count goes on from there.
    sub = new()
    grant(sub, 0.0)
    assert sub.on_notify(5, {"A": "1"}, 0.0) == [EventReceived("uuid:s1", 5, {"A": "1"})]
    assert [type(e) for e in sub.on_notify(6, {}, 0.0)] == [EventReceived]
    assert sub.state is SubscriptionState.ACTIVE


def test_repeated_gaps_are_paced_never_a_hot_loop():
    # A device whose every SID skips numbers: each fresh subscription sees a gap.
    sub = new()
    now, sid_no, subscribes = 0.0, 0, 0
    delays = []
    while now < 300.0:  # five fake minutes
        request = sub.poll(now)
        if request is not None:
            subscribes += 1
            sid_no += 1
            sub.on_reply(
                200, Headers([("SID", f"uuid:s{sid_no}"), ("TIMEOUT", "Second-1800")]), now
            )
            sub.on_notify(0, {}, now)
            events = sub.on_notify(2, {}, now)  # 1 never comes
            (restart,) = [e for e in events if isinstance(e, Resubscribing)]
            delays.append(restart.delay)
        now = max(now + 0.001, sub.next_deadline() or now)
    assert delays[0] == 0.0  # the first restart goes out at once
    assert all(0 < d <= 60.0 for d in delays[1:])
    assert subscribes <= 15


def test_in_order_events_reset_the_pacing():
    sub = new()
    grant(sub, 0.0)
    sub.on_notify(0, {}, 0.0)
    sub.on_notify(2, {}, 0.0)  # gap: restart at once
    assert sub.next_deadline() == 0.0
    grant(sub, 0.0, sid="uuid:s2")
    sub.on_notify(0, {}, 0.0)
    sub.on_notify(1, {}, 0.0)  # in order: the device numbers properly again
    (restart,) = sub.restart("BOOTID.UPNP.ORG changed", 5.0)
    assert restart.delay == 0.0 and sub.next_deadline() == 5.0


def test_restart_during_a_renewal_discards_its_answer():
    sub = new()
    grant(sub, 0.0)
    due = sub.next_deadline()
    assert sub.poll(due).purpose == "renew"  # in flight
    (restart,) = sub.restart("BOOTID.UPNP.ORG changed 3 -> 4", due + 0.1)
    assert restart.old_sid == "uuid:s1"
    # The renewal's 200 must not bring the given-up SID back.
    late = Headers([("SID", "uuid:s1"), ("TIMEOUT", "Second-1800")])
    assert sub.on_reply(200, late, due + 0.2) == []
    assert sub.sid is None and sub.state is SubscriptionState.SUBSCRIBING
    fresh = sub.poll(due + 0.2)
    assert fresh is not None and fresh.purpose == "subscribe"
    assert "SID" not in fresh.headers


def test_close_after_a_failed_first_subscribe_sends_nothing():
    sub = new()
    sub.poll(0.0)  # first SUBSCRIBE in flight
    assert sub.close(0.1) == []
    assert sub.on_reply(None, Headers(), 0.2) == [Unsubscribed(None)]
    assert sub.state is SubscriptionState.CLOSED
    assert sub.poll(1e9) is None
    refused = new()
    refused.poll(0.0)
    refused.close(0.1)
    assert refused.on_reply(503, Headers(), 0.2) == [Unsubscribed(None)]


def test_restart_on_bootid_change():
    sub = new()
    grant(sub, 0.0)
    events = sub.restart("BOOTID.UPNP.ORG changed 3 -> 4", 10.0)
    assert events == [Resubscribing("BOOTID.UPNP.ORG changed 3 -> 4", "uuid:s1")]
    assert sub.poll(10.0).purpose == "subscribe"


def test_close_unsubscribes_and_412_counts_as_done():
    sub = new()
    grant(sub, 0.0)
    assert sub.close(5.0) == []
    request = sub.poll(5.0)
    assert request.method == "UNSUBSCRIBE" and dict(request.headers) == {"SID": "uuid:s1"}
    assert sub.on_reply(412, Headers(), 5.0) == [Unsubscribed("uuid:s1")]
    assert sub.state is SubscriptionState.CLOSED
    assert sub.poll(1e9) is None
    never = new()
    assert never.close(0.0) == [Unsubscribed(None)]


def test_close_while_subscribing_unsubscribes_the_granted_sid():
    sub = new()
    sub.poll(0.0)
    sub.close(0.1)
    assert sub.on_reply(200, Headers([("SID", "uuid:late"), ("TIMEOUT", "Second-1800")]), 0.2) == []
    request = sub.poll(0.2)
    assert request.method == "UNSUBSCRIBE" and request.headers["SID"] == "uuid:late"


# ---------------------------------------------------------------------- router


def notify(
    sid="uuid:s1",
    seq="0",
    nt="upnp:event",
    nts="upnp:propchange",
    body=None,
    peer="127.0.0.9",
    extra=(),
):
    headers = [
        (k, v) for k, v in (("SID", sid), ("SEQ", seq), ("NT", nt), ("NTS", nts)) if v is not None
    ]
    return HttpRequest(
        method="NOTIFY",
        path="/notify",
        headers=Headers([*headers, *extra]),
        body=build_propertyset({"CurrentConnectionIDs": "0"}) if body is None else body,
        peer=peer,
    )


def routed(now=0.0):
    router = NotifyRouter()
    sub = new()
    router.add(sub)
    grant(sub, now)
    router.bind(sub, now)
    return router, sub


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, 200),
        ({"sid": None}, 412),
        ({"nt": None}, 400),
        ({"nts": None}, 400),
        ({"nt": "upnp:other"}, 412),
        ({"nts": "ssdp:alive"}, 412),
        ({"seq": None}, 400),
        ({"seq": "abc"}, 400),
        ({"seq": "-1"}, 400),
        ({"seq": "4294967296"}, 400),
        ({"sid": "uuid:unknown"}, 412),
        ({"body": b"<not-a-propertyset/>"}, 400),
        ({"body": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'}, 400),
        ({"extra": [("SID", "uuid:s1")]}, 400),
    ],
)
def test_router_answers(kwargs, status):
    router, _ = routed()
    code, _, _ = router.handle(notify(**kwargs), 0.0)
    assert code == status


def test_router_routes_by_sid_not_by_source_address():
    # Multi-homed devices (and Sonos) NOTIFY from another address than their event URL's.
    router, sub = routed()
    code, got, _ = router.handle(notify(peer="127.0.0.66"), 0.0)
    assert (code, got) == (200, sub)


@pytest.mark.parametrize("seq", ["\u00b2", "\u0663", "1\u00b9"])
def test_router_refuses_non_ascii_digits_in_seq(seq):
    router, _ = routed()
    assert router.handle(notify(seq=seq), 0.0)[0] == 400


def test_router_delivers_events():
    router, sub = routed()
    code, got, events = router.handle(notify(), 0.0)
    assert (code, got) == (200, sub)
    assert events == [EventReceived("uuid:s1", 0, {"CurrentConnectionIDs": "0"})]


def test_notify_before_subscribe_answer_is_held_then_replayed():
    router = NotifyRouter()
    sub = new()
    router.add(sub)
    sub.poll(0.0)  # SUBSCRIBE in flight
    code, got, events = router.handle(notify(sid="uuid:early"), 0.0)
    assert (code, got, events) == (200, None, [])
    assert router.handle(notify(sid="uuid:early", seq="1"), 0.0)[0] == 412  # only SEQ 0 is held
    sub.on_reply(200, Headers([("SID", "uuid:early"), ("TIMEOUT", "Second-1800")]), 0.1)
    replayed = router.bind(sub, 0.1)
    assert replayed == [EventReceived("uuid:early", 0, {"CurrentConnectionIDs": "0"})]


def test_held_backlog_is_bounded_and_ages_out():
    router = NotifyRouter(backlog_size=4, backlog_age=10.0)
    sub = new()
    router.add(sub)
    sub.poll(0.0)
    for i in range(20):
        assert router.handle(notify(sid=f"uuid:x{i}"), float(i))[0] == 200
    assert len(router._held) <= 4
    sub.on_reply(200, Headers([("SID", "uuid:x0"), ("TIMEOUT", "Second-1800")]), 30.0)
    assert router.bind(sub, 30.0) == []  # too old and already pushed out


def test_given_up_sid_is_no_longer_routed():
    router, sub = routed()
    router.handle(notify(), 0.0)
    sub.restart("test", 1.0)
    assert router.handle(notify(seq="1"), 1.0)[0] == 412


def test_read_notify_and_grant_problems():
    from upnpcm.core.http import Headers
    from upnpcm.core.subscription import grant_problems, read_notify
    from upnpcm.errors import SubscriptionError

    body = b'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><A>1</A></e:property></e:propertyset>'
    headers = Headers(
        [("NT", "upnp:event"), ("NTS", "upnp:propchange"), ("SID", "uuid:1"), ("SEQ", "0")]
    )
    message = read_notify(headers, body)
    assert (message.sid, message.seq, message.changes) == ("uuid:1", 0, {"A": "1"})
    wrong = Headers(
        [("NT", "upnp:event"), ("NTS", "upnp:propchanged"), ("SID", "uuid:1"), ("SEQ", "0")]
    )
    with pytest.raises(SubscriptionError) as info:
        read_notify(wrong, body)
    assert info.value.http_status == 412
    assert grant_problems(Headers([("SID", "uuid:1"), ("TIMEOUT", "Second-1800")])) == []
    assert grant_problems(Headers([("SID", "1"), ("TIMEOUT", "1800")])) == [
        "SID '1' does not start with uuid:",
        "TIMEOUT '1800' is not Second-<seconds>",
    ]
