"""``upnpcm ui``'s server over real sockets (loopback), without SSDP: devices added by URL.

What the page relies on: calls with the exact request and answer (and the
SCPD checks before sending), subscriptions whose events reach the event
stream, the matrix with the matcher's explanation, negotiation, a check run,
the guards against other sites, and every bound. The browser itself is in
tests/netns/test_ui_browser.py (with SSDP, inside the namespace).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.helpers.actions import MP3_INPUT
from upnpcm.aio.control_point import ControlPoint
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings
from upnpcm.ui import UiApp, UiLimits, UiServer
from upnpcm.ui.hub import Hub


@pytest.fixture
async def world(tmp_path):
    standard = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False), state_dir=tmp_path / "a"
    )
    renderer = DeviceHost(
        DeviceSettings(profile="renderer", host=("127.0.0.1",), port=0, ssdp=False),
        state_dir=tmp_path / "b",
    )
    async with (
        standard,
        renderer,
        UiServer(UiApp(discovery=False), port=0) as ui,
        aiohttp.ClientSession(base_url=ui.url) as http,
    ):
        yield ui, http, standard, renderer


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> Any:
    async with http.post(path, json=body) as reply:
        data = await reply.json()
        assert reply.status == 200, data
        return data


async def added(http, host: DeviceHost) -> str:
    summary = await post(http, "/api/devices", {"location": host.description_url("127.0.0.1")})
    assert summary["state"] == "ready"
    return summary["udn"]


async def test_a_call_shows_the_exact_request_and_answer(world):
    _, http, standard, _ = world
    udn = await added(http, standard)
    call = {"udn": udn, "service": "MR/CM", "action": "GetProtocolInfo", "arguments": {}}
    record = await post(http, "/api/call", call)
    assert record["outcome"] == "ok"
    assert record["values"]["Sink"] == standard.connection_manager("renderer").protocol_info()[1]
    request = record["request"]
    assert request.startswith("POST /MediaRenderer/ConnectionManager/Control HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{standard.port}\r\n" in request
    assert (
        'SOAPACTION: "urn:schemas-upnp-org:service:ConnectionManager:1#GetProtocolInfo"' in request
    )
    assert "<u:GetProtocolInfo" in request
    assert record["response"].startswith("HTTP/1.1 200 OK\r\n")
    assert "<Sink>http-get:*:audio/mpeg:DLNA.ORG_PN=MP3," in record["response"]


async def test_a_bad_argument_is_refused_before_anything_is_sent(world):
    ui, http, standard, _ = world
    udn = await added(http, standard)
    calls = dict(
        udn=udn,
        service="MR/CM",
        action="GetCurrentConnectionInfo",
        arguments={"ConnectionID": "abc"},
    )
    record = await post(http, "/api/call", calls)
    assert record["outcome"] == "refused" and record["code"] == 402
    assert "'abc' is not a valid i4" in record["message"]
    assert record["request"] is None and record["response"] is None  # nothing went out
    record = await post(http, "/api/call", {**calls, "arguments": {"ConnectionID": "9"}})
    assert (record["outcome"], record["code"]) == ("fault", 706)  # the device's own fault
    assert "<errorCode>706</errorCode>" in record["response"]
    record = await post(http, "/api/call", {**calls, "action": "NoSuchAction"})
    assert (record["outcome"], record["code"]) == ("refused", 401)
    assert len(ui.ui.calls) == 3


async def test_subscribing_shows_the_initial_event_then_another_clients_change(world):
    ui, http, standard, _ = world
    udn = await added(http, standard)
    async with http.get("/api/events") as stream:
        kind, snapshot = await next_message(stream)
        assert kind == "snapshot" and [d["udn"] for d in snapshot["devices"]] == [udn]
        sub = await post(http, "/api/subscriptions", {"udn": udn, "service": "MR/CM"})
        initial = await next_event(stream, lambda row: row["kind"] == "event")
        assert initial["row"]["seq"] == 0
        assert ["CurrentConnectionIDs", ""] in initial["row"]["variables"]
        async with ControlPoint() as other:  # another control point makes a connection
            device = await other.load(standard.description_url("127.0.0.1"))
            prepared = await device.service("MR/CM").call("PrepareForConnection", **MP3_INPUT)
        change = await next_event(stream, lambda row: row["kind"] == "event")
        assert change["row"]["seq"] == 1
        assert change["row"]["variables"] == [
            ["CurrentConnectionIDs", str(prepared["ConnectionID"])]
        ]
        assert change["state"]["values"]["CurrentConnectionIDs"] == str(prepared["ConnectionID"])
    async with http.delete(f"/api/subscriptions/{sub['id']}") as reply:
        assert reply.status == 200
    assert ui.ui.subscriptions == {}


async def test_last_change_is_decoded(world):
    _, http, _, renderer = world
    udn = await added(http, renderer)
    async with http.get("/api/events") as stream:
        await next_message(stream)
        await post(http, "/api/subscriptions", {"udn": udn, "service": "RenderingControl"})
        initial = await next_event(stream, lambda row: row["kind"] == "event")
    decoded = initial["row"]["lastChange"]
    assert [0, "Volume", "Master", decoded[[r[1] for r in decoded].index("Volume")][3]] in decoded
    assert {row[1] for row in decoded} >= {"Volume", "Mute", "PresetNameList"}


async def test_the_matrix_explains_and_negotiates(world):
    ui, http, standard, renderer = world
    await added(http, standard)
    await added(http, renderer)
    async with http.get("/api/matrix") as reply:
        matrix = await reply.json()
    assert [s["selector"] for s in matrix["servers"]] == ["MS/CM"]
    assert sorted(r["selector"] for r in matrix["renderers"]) == ["CM", "MR/CM"]
    column = [r["selector"] for r in matrix["renderers"]].index("CM")  # the renderer profile
    cell = matrix["cells"][0][column]
    assert cell["compatible"] and cell["pairs"] > 0
    assert cell["best"]["source"].startswith("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    assert cell["explanation"][1:3] == [
        "protocol: http-get = http-get",
        "mime: audio/mpeg = audio/mpeg",
    ]
    result = await post(
        http, "/api/negotiate", {"server": cell["server"], "renderer": cell["renderer"]}
    )
    assert result["ok"], result
    assert renderer.connection_manager("renderer").connection_ids() == (
        result["result"]["renderer"]["connectionId"],
    )
    await post(http, "/api/complete", {"id": result["id"]})
    assert renderer.connection_manager("renderer").connection_ids() == ()
    assert not ui.ui.negotiated


async def test_a_check_run_reaches_the_page(world):
    ui, http, standard, _ = world
    udn = await added(http, standard)
    async with http.get("/api/events") as stream:
        await next_message(stream)
        run = await post(http, "/api/check", {"udn": udn, "only": ["description"]})
        assert run["state"] == "running"
        async with http.post("/api/check", json={"udn": udn}) as again:
            assert again.status == 409  # one at a time
        rows = []
        while True:
            kind, data = await next_message(stream)
            if kind == "checkrow":
                rows.append(data["row"])
            if kind == "check" and data["state"] != "running":
                break
    assert data["state"] == "done" and data["summary"].endswith("s")
    assert rows and {r["status"] for r in rows} <= {"PASS", "SKIP", "WARN"}
    assert "desc.fetch" in {r["check"] for r in rows}
    async with http.post("/api/check", json={"udn": udn, "only": ["nosuch"]}) as bad:
        assert bad.status == 400 and "nosuch" in (await bad.json())["error"]


async def test_guards_against_other_sites(world):
    ui, http, _, _ = world
    port = ui.port
    async with http.get("/api/state", headers={"Host": f"evil.example:{port}"}) as reply:
        assert reply.status == 400  # a DNS name: rebinding
    async with http.get("/api/state", headers={"Host": f"127.0.0.1:{port + 1}"}) as reply:
        assert reply.status == 400
    async with http.get("/api/state", headers={"Host": f"localhost:{port}"}) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")
    async with http.post(
        "/api/search", json={}, headers={"Origin": "http://evil.example"}
    ) as reply:
        assert reply.status == 403
    async with http.post(
        "/api/devices",
        data="location=http://127.0.0.1/x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as reply:
        assert reply.status == 415  # a plain form of another site cannot post JSON
    async with http.post("/api/call", json={"udn": 1}) as reply:
        assert reply.status == 400
    async with http.post(
        "/api/call", data="x" * (70 * 1024), headers={"Content-Type": "application/json"}
    ) as reply:
        assert reply.status == 413
    async with http.get("/static/../../server.py") as reply:
        assert reply.status == 404
    async with http.get("/static/app.js") as reply:
        assert reply.status == 200 and reply.content_type == "text/javascript"
        assert "http://" not in await reply.text()  # nothing is loaded from elsewhere
    async with http.get("/") as reply:
        page = await reply.text()
    assert '<script src="/static/app.js"' in page and "https://" not in page


async def test_event_tails_and_variables_are_bounded(world):
    ui, http, _, _ = world
    from upnpcm.core.subscription import EventReceived, Subscribed
    from upnpcm.ui.model import SubscriptionEntry

    limits = UiLimits(event_tail=50, max_variables=10, max_value=100)
    sub = SubscriptionEntry(id=1, udn="uuid:x", selector="S", service="S", limits=limits)
    sub.record(Subscribed("uuid:12345678-aaaa-bbbb-cccc-1234567890ab", 1800, False), 0.0)
    assert sub.sid == "uuid:…90ab"
    for n in range(1000):
        changes = {f"V{n}-{i}": "x" * 1000 for i in range(20)}
        sub.record(EventReceived("uuid:12345678-aaaa-bbbb-cccc-1234567890ab", n, changes), 0.0)
    assert len(sub.tail) == 50 and len(sub.values) == 10
    assert all(len(v) == 100 for v in sub.values.values())
    assert all(len(row["variables"]) == 10 for row in sub.tail)


async def test_a_page_that_falls_behind_is_cut_off_not_buffered():
    hub = Hub(UiLimits(client_queue=10, max_clients=2, max_clients_per_peer=1))
    slow = hub.admit("10.0.0.1")
    assert slow is not None
    assert hub.admit("10.0.0.1") is None  # per address
    other = hub.admit("10.0.0.2")
    assert other is not None and hub.admit("10.0.0.3") is None  # in all
    for n in range(50):
        hub.publish("event", {"n": n})
    assert slow.cut_off and hub.cut_offs == 2 and hub.queued() == 2  # only the end marks
    chunks = [chunk async for chunk in hub.stream(slow, dict)]
    assert chunks == [b"event: snapshot\ndata: {}\n\n"]  # the snapshot, then the end
    hub.leave(slow)
    hub.leave(other)
    assert len(hub) == 0


async def test_subscriptions_are_bounded(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    limits = UiLimits(max_subscriptions_per_device=1)
    async with (
        DeviceHost(settings, state_dir=tmp_path) as host,
        UiServer(UiApp(discovery=False, limits=limits), port=0) as ui,
        aiohttp.ClientSession(base_url=ui.url) as http,
    ):
        udn = await added(http, host)
        await post(http, "/api/subscriptions", {"udn": udn, "service": "MR/CM"})
        async with http.post("/api/subscriptions", json={"udn": udn, "service": "MS/CM"}) as reply:
            assert reply.status == 429
        async with http.post("/api/subscriptions", json={"udn": udn, "service": "MR/CM"}) as reply:
            assert reply.status in (409, 429)


async def next_message(stream: aiohttp.ClientResponse, timeout: float = 10.0) -> tuple[str, Any]:
    kind = ""
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), timeout)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind:
            return kind, json.loads(line[6:])


async def next_event(stream: aiohttp.ClientResponse, wanted) -> dict[str, Any]:
    while True:
        kind, data = await next_message(stream)
        if kind == "event" and wanted(data["row"]):
            return data


def test_renewals_and_resubscriptions_are_rows_of_the_tail():
    from upnpcm.core.subscription import (
        EventReceived,
        Resubscribing,
        RetryScheduled,
        Subscribed,
        Unsubscribed,
    )
    from upnpcm.ui.model import SubscriptionEntry

    sid, new = (
        "uuid:11111111-2222-4333-8444-555555555555",
        "uuid:66666666-2222-4333-8444-777777777777",
    )
    sub = SubscriptionEntry(id=1, udn="uuid:x", selector="S", service="S", limits=UiLimits())
    rows = [
        sub.record(Subscribed(sid, 1800, False), 1.0),
        sub.record(EventReceived(sid, 0, {"A": "1"}), 1.1),
        sub.record(Subscribed(sid, 1800, True), 900.0),
        sub.record(Resubscribing("SEQ gap: 1 after 3", old_sid=sid, delay=0.5), 950.0),
        sub.record(RetryScheduled("HTTP 503", 2.0), 951.0),
        sub.record(Subscribed(new, 300, False), 953.0),
        sub.record(Unsubscribed(new), 960.0),
    ]
    assert [r["kind"] for r in rows] == [
        "subscribed",
        "event",
        "renewed",
        "resubscribing",
        "retry",
        "subscribed",
        "unsubscribed",
    ]
    assert rows[2]["detail"] == "TIMEOUT 1800 s" and rows[3]["sid"] == "uuid:…5555"
    assert rows[3]["detail"] == "SEQ gap: 1 after 3 (in 0.5 s)"
    assert rows[4]["detail"] == "HTTP 503; again in 2.0 s"
    assert (sub.renewals, sub.restarts, sub.state, sub.sid) == (1, 1, "closed", "uuid:…7777")
    assert [r["n"] for r in rows] == list(range(1, 8))  # the page orders and dedups by n


def test_an_event_row_and_all_tails_together_are_bounded_in_size():
    from upnpcm.core.lastchange import AVT_NAMESPACE, render_last_change
    from upnpcm.core.subscription import EventReceived
    from upnpcm.ui.model import SubscriptionEntry

    limits = UiLimits(max_row=5000, max_value=2000, event_tail=50, max_events=120)
    sid = "uuid:11111111-2222-4333-8444-555555555555"
    sub = SubscriptionEntry(id=1, udn="uuid:x", selector="S", service="S", limits=limits)
    last_change = render_last_change(
        AVT_NAMESPACE, {n: {(f"V{i}", ""): "y" * 900 for i in range(30)} for n in range(5)}
    )
    row = sub.record(EventReceived(sid, 0, {f"A{i}": "x" * 3000 for i in range(40)}), 0.0)
    *shown, marker = row["variables"]
    assert sum(len(n) + len(v) for n, v in shown) <= 5000 + 5
    assert marker == ["…", f"{40 - len(shown)} more variables not shown"]
    row = sub.record(EventReceived(sid, 1, {"LastChange": last_change}), 0.0)
    decoded = row["lastChange"]
    assert decoded[-1] == [None, "…", "", "more not shown"]
    assert sum(len(r[3]) for r in decoded) <= 5000
    app = UiApp(discovery=False, limits=limits)
    for n in range(4):
        entry = SubscriptionEntry(id=n, udn="uuid:x", selector=f"S{n}", service="S", limits=limits)
        for seq in range(50):
            entry.record(EventReceived(sid, seq, {"A": "1"}), 0.0)
        app.subscriptions[n] = entry
    app._trim_tails()
    assert sum(len(s.tail) for s in app.subscriptions.values()) == 120
    assert sorted(len(s.tail) for s in app.subscriptions.values()) == [30, 30, 30, 30]
