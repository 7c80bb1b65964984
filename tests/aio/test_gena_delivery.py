"""GENA on real sockets: delivery order, fan-out, dead callbacks, CallStranger (loopback only)."""

import asyncio
import time
from dataclasses import replace

import pytest

from tests.helpers.callbacks import CallbackServer, Listener, gena
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings, GenaSettings

EVENT = "/MediaRenderer/ConnectionManager/Event"


async def make_host(tmp_path, **gena_kw):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False, gena=GenaSettings(**gena_kw))
    host = DeviceHost(settings, state_dir=tmp_path)
    await host.start()
    return host


async def subscribe(host, cb: CallbackServer, *, source=None, timeout="Second-1800", callback=None):
    return await gena(
        "SUBSCRIBE",
        host.server.url("127.0.0.1", EVENT),
        source_ip=source or cb.ip,
        headers={"CALLBACK": callback or f"<{cb.url}>", "NT": "upnp:event", "TIMEOUT": timeout},
    )


PREPARE_INPUT = [
    ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
    ("PeerConnectionManager", ""),
    ("PeerConnectionID", "-1"),
    ("Direction", "Input"),
]


async def test_initial_event_after_200_then_changes_in_order(tmp_path):
    host = await make_host(tmp_path)
    cb = await CallbackServer("127.0.0.2").start()
    try:
        status, headers = await subscribe(host, cb)
        assert status == 200
        assert headers["TIMEOUT"] == "Second-1800"
        sid = headers["SID"]
        await cb.wait_for(lambda c: len(c.received) >= 1)
        first = cb.received[0]
        assert (first.sid, first.seq) == (sid, 0)
        assert set(first.changes) == {
            "SourceProtocolInfo",
            "SinkProtocolInfo",
            "CurrentConnectionIDs",
        }
        assert first.headers["NT"] == "upnp:event"
        assert first.headers["NTS"] == "upnp:propchange"
        assert first.headers["Content-Type"] == 'text/xml; charset="utf-8"'
        host.set_protocol_info("renderer", sink="http-get:*:audio/flac:*")
        await cb.wait_for(lambda c: len(c.received) >= 2)
        assert cb.received[1].seq == 1
        assert cb.received[1].changes == {"SinkProtocolInfo": "http-get:*:audio/flac:*"}
    finally:
        await cb.stop()
        await host.stop()


async def test_32_subscribers_1000_changes_in_order_with_final_value(tmp_path):
    host = await make_host(tmp_path)
    servers = [await CallbackServer(f"127.0.1.{i + 1}").start() for i in range(32)]
    try:
        sids = {}
        for cb in servers:
            status, headers = await subscribe(host, cb)
            assert status == 200
            sids[cb.ip] = headers["SID"]
        for cb in servers:
            await cb.wait_for(lambda c: len(c.received) >= 1)
        started = time.monotonic()
        for i in range(1000):
            host.set_protocol_info("renderer", sink=f"http-get:*:audio/x-step-{i}:*")
            if i % 50 == 0:
                await asyncio.sleep(0)  # let deliveries interleave with the storm
        final = "http-get:*:audio/x-step-999:*"
        for cb in servers:
            await cb.wait_for(
                lambda c: c.received and c.received[-1].changes.get("SinkProtocolInfo") == final,
                timeout=30,
            )
        elapsed = time.monotonic() - started
        for cb in servers:
            seqs = [n.seq for n in cb.received]
            assert seqs == list(range(len(seqs))), seqs  # 0,1,2,… no gaps, in order
            assert {n.sid for n in cb.received} == {sids[cb.ip]}
            # Coalesced and rate-limited: at most about 5 per second, never 1000.
            assert len(cb.received) <= 2 + elapsed / 0.2 + 1
        assert host.server.notifier.stats.failed == 0
    finally:
        for cb in servers:
            await cb.stop()
        await host.stop()


async def test_dead_callback_does_not_delay_live_ones_and_is_dropped(tmp_path):
    host = await make_host(tmp_path)
    silent = await CallbackServer("127.0.2.1", mode="silent").start()
    closed = Listener("127.0.2.2")
    await closed.start()
    closed_url = f"http://127.0.2.2:{closed.port}/cb"
    await closed.stop()  # nothing listens there now: connection refused
    live = [await CallbackServer(f"127.0.2.{10 + i}").start() for i in range(5)]
    try:
        assert (await subscribe(host, silent))[0] == 200
        status, headers = await gena(
            "SUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip="127.0.2.2",
            headers={"CALLBACK": f"<{closed_url}>", "NT": "upnp:event"},
        )
        assert status == 200
        refused_sid = headers["SID"]
        for cb in live:
            assert (await subscribe(host, cb))[0] == 200
        for cb in live:
            await cb.wait_for(lambda c: len(c.received) >= 1)
        for step in range(3):
            started = time.monotonic()
            host.set_protocol_info("renderer", sink=f"http-get:*:audio/x-{step}:*")
            for cb in live:
                await cb.wait_for(
                    lambda c, s=step: any(
                        n.changes.get("SinkProtocolInfo") == f"http-get:*:audio/x-{s}:*"
                        for n in c.received
                    )
                )
            assert time.monotonic() - started < 1.0  # the silent one is still hanging
        table = host.core.table(EVENT)
        await asyncio.sleep(0.5)
        assert refused_sid not in table  # 3 consecutive failures: dropped
        renew = await gena(
            "SUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip="127.0.2.2",
            headers={"SID": refused_sid},
        )
        assert renew[0] == 412
        assert silent.connections >= 1
    finally:
        for cb in [silent, *live]:
            await cb.stop()
        await host.stop()


async def test_silent_callback_aborted_at_total_timeout(tmp_path):
    host = await make_host(tmp_path)
    host.server.notifier.total_timeout = 0.3
    silent = await CallbackServer("127.0.3.1", mode="silent").start()
    try:
        status, headers = await subscribe(host, silent)
        sid = headers["SID"]
        for i in range(3):
            host.set_protocol_info("renderer", sink=f"http-get:*:audio/x-{i}:*")
            await asyncio.sleep(0.45)
        deadline = time.monotonic() + 5
        while sid in host.core.table(EVENT) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sid not in host.core.table(EVENT)
        assert host.server.notifier.stats.dropped == 1
    finally:
        await silent.stop()
        await host.stop()


async def test_412_reply_drops_subscription_at_once(tmp_path):
    host = await make_host(tmp_path)
    cb = await CallbackServer("127.0.3.2", mode="refuse").start()
    try:
        status, headers = await subscribe(host, cb)
        await cb.wait_for(lambda c: len(c.received) >= 1)
        await asyncio.sleep(0.1)
        assert headers["SID"] not in host.core.table(EVENT)
        host.set_protocol_info("renderer", sink="http-get:*:audio/x-late:*")
        await asyncio.sleep(0.4)
        assert len(cb.received) == 1
    finally:
        await cb.stop()
        await host.stop()


async def test_unsubscribe_stops_delivery_and_ends_its_task(tmp_path):
    host = await make_host(tmp_path)
    cb = await CallbackServer("127.0.3.3").start()
    try:
        _, headers = await subscribe(host, cb)
        await cb.wait_for(lambda c: len(c.received) >= 1)
        await asyncio.sleep(0.3)  # past the 0.2 s pacing: the core waits for the next change
        assert host.core.deliveries.tracked() == {(EVENT, headers["SID"])}
        assert host.server.notifier.active == 0  # nothing in flight
        status, _ = await gena(
            "UNSUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip=cb.ip,
            headers={"SID": headers["SID"]},
        )
        assert status == 200
        await asyncio.sleep(0.05)
        assert host.core.deliveries.tracked() == set()  # ended by the UNSUBSCRIBE itself
        host.set_protocol_info("renderer", sink="http-get:*:audio/x-after:*")
        await asyncio.sleep(0.4)
        assert len(cb.received) == 1
        assert host.server.notifier.active == 0
    finally:
        await cb.stop()
        await host.stop()


async def test_expiry_drops_and_renewal_gets_412(tmp_path):
    host = await make_host(tmp_path, min_timeout=1, default_timeout=1, max_timeout=1)
    cb = await CallbackServer("127.0.3.4").start()
    try:
        _, headers = await subscribe(host, cb, timeout="Second-1")
        assert headers["TIMEOUT"] == "Second-1"
        await cb.wait_for(lambda c: len(c.received) >= 1)
        await asyncio.sleep(1.4)
        renew = await gena(
            "SUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip=cb.ip,
            headers={"SID": headers["SID"], "TIMEOUT": "Second-1"},
        )
        assert renew[0] == 412
        assert host.server.notifier.active == 0
        assert host.core.deliveries.tracked() == set()
    finally:
        await cb.stop()
        await host.stop()


async def test_caps_503_over_http(tmp_path):
    host = await make_host(tmp_path, max_subscriptions=3, max_per_peer=2)
    servers = [
        await CallbackServer(ip).start()
        for ip in ("127.0.4.1", "127.0.4.1", "127.0.4.1", "127.0.4.2", "127.0.4.3")
    ]
    try:
        results = [(await subscribe(host, cb))[0] for cb in servers[:3]]
        assert results == [200, 200, 503]  # third from one peer
        assert (await subscribe(host, servers[3]))[0] == 200
        assert (await subscribe(host, servers[4]))[0] == 503  # service full
        assert len(host.core.table(EVENT)) == 3
    finally:
        for cb in servers:
            await cb.stop()
        await host.stop()


@pytest.mark.parametrize(
    "callback",
    [
        "<http://127.0.5.3:{lport}/cb>",  # not the subscriber (127.0.5.2)
        "<http://203.0.113.5/cb>",
        "<http://[::ffff:8.8.8.8]/cb>",
        "<http://attacker.example/cb>",
        "<https://127.0.5.2:{lport}/cb>",
        "<file:///etc/passwd>",
        "<gopher://127.0.5.2:{lport}/x>",
        "<http://127.0.0.1:{dport}/MediaRenderer/ConnectionManager/Control>",  # the device itself
        "<http://0.0.0.0:{lport}/>",
        "<http://239.1.1.1:{lport}/>",
        "<http://127.0.5.2:{lport}/" + "a" * 250 + ">",  # longer than 256 bytes
        "<http://127.0.5.2:{lport}/?" + "x" * 4000 + ">",
    ],
)
async def test_callstranger_412_and_zero_connection_attempts(tmp_path, callback):
    host = await make_host(tmp_path)
    other = await Listener("127.0.5.3").start()
    own = await Listener("127.0.5.2").start()
    try:
        url = callback.format(
            lport=other.port if "127.0.5.3" in callback else own.port, dport=host.port
        )
        status, _ = await gena(
            "SUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip="127.0.5.2",
            headers={"CALLBACK": url, "NT": "upnp:event"},
        )
        assert status == 412
        await asyncio.sleep(0.3)
        assert (other.accepted, own.accepted) == (0, 0)
        assert host.server.notifier.stats.attempts == 0
        assert len(host.core.table(EVENT)) == 0
    finally:
        await other.stop()
        await own.stop()
        await host.stop()


async def test_host_header_checked_on_event_requests(tmp_path):
    host = await make_host(tmp_path)
    cb = await CallbackServer("127.0.6.1").start()
    try:
        status, _ = await gena(
            "SUBSCRIBE",
            host.server.url("127.0.0.1", EVENT),
            source_ip=cb.ip,
            headers={"Host": "rebind.example", "CALLBACK": f"<{cb.url}>", "NT": "upnp:event"},
        )
        assert status == 400
        assert len(host.core.table(EVENT)) == 0
    finally:
        await cb.stop()
        await host.stop()


async def test_shutdown_stops_delivery_cleanly(tmp_path):
    host = await make_host(tmp_path)
    silent = await CallbackServer("127.0.6.2", mode="silent").start()
    try:
        await subscribe(host, silent)
        await asyncio.sleep(0.2)
        assert host.server.notifier.active == 1
        started = time.monotonic()
        await host.stop()
        assert time.monotonic() - started < 2
        assert host.server.notifier.active == 0
    finally:
        await silent.stop()


def test_settings_gena_roundtrip():
    gena_settings = replace(GenaSettings(), max_subscriptions=5)
    assert gena_settings.max_subscriptions == 5


async def test_subnet_scope_accepts_loopback_callbacks_when_served_on_loopback(tmp_path):
    host = await make_host(tmp_path, callback_scope="subnet")
    cb = await CallbackServer("127.0.0.7").start()
    listener = await Listener("127.0.0.8").start()
    try:
        assert host.core.table(EVENT)._networks  # the host handed the tables its networks
        # From 127.0.0.1, a callback on another loopback address: same network, accepted.
        status, headers = await subscribe(host, cb, source="127.0.0.1")
        assert status == 200
        await cb.wait_for(lambda c: len(c.received) >= 1)
        assert cb.received[0].sid == headers["SID"]
        # Outside every network the device is served on: refused before any connection.
        for outside in ("http://192.0.2.1:9/cb", "http://10.99.99.99:9/cb"):
            status, _ = await subscribe(host, cb, source="127.0.0.1", callback=f"<{outside}>")
            assert status == 412
        # Still never the device's own ip:port.
        own = host.server.url("127.0.0.1", "/cb")
        assert (await subscribe(host, cb, source="127.0.0.1", callback=f"<{own}>"))[0] == 412
        await asyncio.sleep(0.2)
        assert listener.accepted == 0
    finally:
        await listener.stop()
        await cb.stop()
        await host.stop()


async def test_peer_scope_still_refuses_another_loopback_callback(tmp_path):
    host = await make_host(tmp_path)  # callback_scope="peer"
    cb = await CallbackServer("127.0.0.7").start()
    try:
        assert (await subscribe(host, cb, source="127.0.0.1"))[0] == 412
        assert (await subscribe(host, cb))[0] == 200  # from the callback's own address
        await cb.wait_for(lambda c: len(c.received) >= 1)
    finally:
        await cb.stop()
        await host.stop()


async def test_idle_connection_expires_on_the_live_server_and_is_evented(tmp_path):
    import aiohttp

    from upnpcm.core.soap import build_action_request, parse_action_response

    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False, connection_idle_timeout=0.5)
    host = DeviceHost(settings, state_dir=tmp_path)
    await host.start()
    cb = await CallbackServer("127.0.0.2").start()
    cm_type = "urn:schemas-upnp-org:service:ConnectionManager:1"
    control = host.server.url("127.0.0.1", "/MediaRenderer/ConnectionManager/Control")

    async def call(session, action, args):
        headers, body = build_action_request(cm_type, action, args)
        async with session.post(control, data=body, headers=headers) as response:
            return response.status, dict(parse_action_response(await response.read(), action))

    try:
        assert (await subscribe(host, cb))[0] == 200
        await cb.wait_for(lambda c: len(c.received) >= 1)
        async with aiohttp.ClientSession() as session:
            status, out = await call(
                session,
                "PrepareForConnection",
                PREPARE_INPUT,
            )
            assert status == 200
            cid = out["ConnectionID"]
            await cb.wait_for(
                lambda c: any(n.changes.get("CurrentConnectionIDs") == cid for n in c.received)
            )
            started = time.monotonic()
            await cb.wait_for(
                lambda c: c.received[-1].changes.get("CurrentConnectionIDs") == "", timeout=10
            )
            assert time.monotonic() - started < 5  # the sweeper woke for the short lease
            _, ids = await call(session, "GetCurrentConnectionIDs", [])
            assert ids["ConnectionIDs"] == ""
            _, again = await call(
                session,
                "PrepareForConnection",
                PREPARE_INPUT,
            )
            assert int(again["ConnectionID"]) == int(cid) + 1  # never reused
    finally:
        await cb.stop()
        await host.stop()
