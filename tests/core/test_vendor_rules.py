"""Rules a vendor's services need (I6, I7, Q6), initial-event retry (T4), restarts (T5), E1."""

from __future__ import annotations

import pytest

from tests.core.test_device_services import SCPD, SERVICE, TYPE, Dial
from upnpcm.core.arguments import decode_in_arguments
from upnpcm.core.delivery import DeliveryPolicy
from upnpcm.core.description import Device, DeviceDescription, parse_scpd
from upnpcm.core.device import DeviceCore, HostedService
from upnpcm.core.effects import SendNotify, SubscriptionEnded
from upnpcm.core.gena import SubscriberTable
from upnpcm.core.http import Headers, HttpRequest
from upnpcm.core.lastchange import LastChange, merge_last_change, parse_last_change
from upnpcm.core.soap import build_action_request, parse_fault
from upnpcm.errors import UPnPError

RINCON = "urn:schemas-rinconnetworks-com:metadata-1-0/"
QUEUE_NS = "urn:schemas-sonos-com:metadata-1-0/Queue/"


def core_for(*, delivery: DeliveryPolicy | None = None, **hosted: object) -> DeviceCore:
    return DeviceCore(
        DeviceDescription(
            device=Device(device_type="urn:x:device:D:1", udn="uuid:d", services=(SERVICE,))
        ),
        [
            HostedService(
                service=SERVICE, scpd=parse_scpd(SCPD), scpd_xml=SCPD, handler=Dial(), **hosted
            )
        ],
        delivery=delivery,
    )


def post(core: DeviceCore, action: str, args, *, service_type: str = TYPE):
    headers, body = build_action_request(service_type, action, list(args))
    return core.handle(
        HttpRequest(
            method="POST",
            path=SERVICE.control_url,
            headers=Headers([("Host", "127.0.0.1:80"), *headers.items()]),
            body=body,
            peer="127.0.0.1",
            local="127.0.0.1",
            local_port=80,
        )
    )


def gena(core: DeviceCore, *pairs: tuple[str, str], method: str = "SUBSCRIBE", now: float = 0.0):
    return core.handle(
        HttpRequest(
            method=method,
            path=SERVICE.event_sub_url,
            headers=Headers([("Host", "127.0.0.1:80"), *pairs]),
            peer="127.0.0.5",
            local="127.0.0.1",
            local_port=80,
        ),
        now=now,
        entropy=11,
    )


def new_subscription(core: DeviceCore, now: float = 0.0) -> tuple[str, SendNotify]:
    result = gena(core, ("CALLBACK", "<http://127.0.0.5:9/>"), ("NT", "upnp:event"), now=now)
    assert result.response.status == 200
    [initial] = [e for e in result.effects if isinstance(e, SendNotify)]
    return result.response.header("SID"), initial


# ------------------------------------------------------------------- I6, I7


def test_extra_arguments_are_402_unless_the_service_ignores_them():
    scpd = parse_scpd(SCPD)
    action = scpd.action("Turn")
    pairs = [("Mode", "FAST"), ("To", "3"), ("Speed", "1")]
    with pytest.raises(UPnPError) as refused:
        decode_in_arguments(scpd, action, pairs)
    assert refused.value.code == 402
    assert decode_in_arguments(scpd, action, pairs, ignore_extra=True) == {"Mode": "FAST", "To": 3}
    for bad in ([("Mode", "FAST")], [("Mode", "FAST"), ("Mode", "SLOW"), ("To", "1")]):
        with pytest.raises(UPnPError) as still:
            decode_in_arguments(scpd, action, bad, ignore_extra=True)  # missing, duplicate
        assert still.value.code == 402


def test_the_device_core_ignores_extra_arguments_only_where_told():
    strict, lenient = core_for(), core_for(ignore_extra_arguments=True)
    args = [("Mode", "FAST"), ("To", "3"), ("Channel", "Master")]
    assert parse_fault(post(strict, "Turn", args).response.body).code == 402
    assert post(lenient, "Turn", args).response.status == 200


def test_a_type_alias_is_answered_as_the_services_own_type():
    alias = "urn:schemas-upnp-org:service:Dial:1"
    plain, aliased = core_for(), core_for(type_aliases=(alias,))
    assert parse_fault(post(plain, "Read", [], service_type=alias).response.body).code == 401
    assert post(aliased, "Read", [], service_type=alias).response.status == 200
    other = "urn:schemas-upnp-org:service:Other:1"
    assert parse_fault(post(aliased, "Read", [], service_type=other).response.body).code == 401


# ----------------------------------------------------------------------- Q6


def test_a_vendor_last_change_keeps_its_instance_tag_and_prefixes():
    change = LastChange(QUEUE_NS, instance_tag="QueueID", prefixes={"r": RINCON}, min_interval=0)
    change.add_instance(0)
    change.set(0, "UpdateID", "3")
    change.set(0, "r:Curated", "0")
    text = change.take(0.0)
    assert text == (
        f'<Event xmlns="{QUEUE_NS}" xmlns:r="{RINCON}"><QueueID val="0">'
        '<UpdateID val="3"/><r:Curated val="0"/></QueueID></Event>'
    )
    assert parse_last_change(text, instance_tag="QueueID", prefixes={"r": RINCON}) == (
        QUEUE_NS,
        {0: {("UpdateID", ""): "3", ("r:Curated", ""): "0"}},
    )
    change.set(0, "UpdateID", "4")
    merged = change.merge(text, change.take(1.0))
    assert '<UpdateID val="4"/>' in merged and '<r:Curated val="0"/>' in merged
    assert f'xmlns:r="{RINCON}"' in merged
    # the default reading knows neither: no instance found under another tag
    assert parse_last_change(text) == (QUEUE_NS, {})
    assert merge_last_change(text, text) == f'<Event xmlns="{QUEUE_NS}"></Event>'


# ----------------------------------------------------------------------- T4


def test_an_unanswered_initial_event_is_sent_once_more_before_anything_newer():
    core = core_for(delivery=DeliveryPolicy(initial_retry=0.3, min_interval=0.0))
    sid, initial = new_subscription(core)
    assert initial.message.seq == 0
    path = SERVICE.event_sub_url
    assert core.notify_done(path, sid, None, 0.01) == []  # refused: not a failure yet
    assert core.next_deadline() == pytest.approx(0.31)
    # a change meanwhile waits for the retry (SEQ 0 first)
    assert post(core, "Turn", [("Mode", "FAST"), ("To", "4")]).effects == ()
    [again] = core.handle_timer(0.31)
    assert isinstance(again, SendNotify) and again.message == initial.message
    [after] = core.notify_done(path, sid, 200, 0.32)
    assert isinstance(after, SendNotify) and after.message.seq == 1


def test_a_412_to_the_retried_initial_event_drops_the_subscription():
    core = core_for(delivery=DeliveryPolicy(initial_retry=0.3))
    sid, _ = new_subscription(core)
    path = SERVICE.event_sub_url
    assert core.notify_done(path, sid, 412, 0.0) == []  # the listener did not know the SID yet
    core.handle_timer(0.3)
    ended = core.notify_done(path, sid, 412, 0.4)
    assert ended == [SubscriptionEnded(path, sid, "dropped")]


def test_without_initial_retry_a_refused_initial_event_counts_as_a_failure():
    core = core_for()
    sid, _ = new_subscription(core)
    core.notify_done(SERVICE.event_sub_url, sid, None, 0.0)
    assert core.table(SERVICE.event_sub_url).get(sid).failures == 1
    assert core.deliveries.next_deadline() is None


# ----------------------------------------------------------------------- T5


def test_forgetting_subscriptions_makes_renewals_412():
    core = core_for()
    sid, _ = new_subscription(core)
    assert core.next_deadline() is not None  # the subscription's expiry
    ended = core.forget_subscriptions()
    assert core.next_deadline() is None  # nothing left to expire
    assert ended == [SubscriptionEnded(SERVICE.event_sub_url, sid, "forgotten")]
    assert gena(core, ("SID", sid)).response.status == 412
    assert gena(core, ("SID", sid), method="UNSUBSCRIBE").response.status == 412
    assert core.notify_done(SERVICE.event_sub_url, sid, 200, 0.1) == []  # the late outcome
    assert core.deliveries.tracked() == set()


def test_stopped_delivery_frees_the_subscription_for_its_next_message():
    core = core_for(delivery=DeliveryPolicy(min_interval=0.0, initial_retry=5.0))
    sid, _ = new_subscription(core, now=0.0)
    core.notify_done(SERVICE.event_sub_url, sid, None, 0.0)  # refused: a retry at 5 s (T4)
    assert core.next_deadline() == 5.0
    core.stop_delivery()  # the retry will never be made
    assert core.next_deadline() == 1800.0  # only the subscription's expiry is left
    assert core.deliveries.in_flight == 0
    result = post(core, "Turn", [("Mode", "FAST"), ("To", "5")])
    [nxt] = [e for e in result.effects if isinstance(e, SendNotify)]
    assert nxt.message.seq == 1  # SEQ 0 was used: the subscriber sees the gap (E3)


# ----------------------------------------------------------------------- E1


def test_a_service_that_events_nothing_still_sends_an_empty_initial_event():
    table = SubscriberTable()
    grant = table.subscribe(
        Headers([("CALLBACK", "<http://127.0.0.5:9/>"), ("NT", "upnp:event")]),
        peer="127.0.0.5",
        own=("127.0.0.1", 80),
        now=0.0,
        entropy=3,
        evented_state={},
    )
    message = table.take_message(grant.sid)
    assert message is not None and message.seq == 0 and message.changes == {}
    assert b"<e:property>" not in message.body
    assert table.take_message(grant.sid) is None  # nothing more until something changes
