"""``/status`` of a hosted device over real sockets (loopback): HTML, JSON and text, every profile.

A real control point subscribes and makes a connection; the page must list
both, with the SID shortened (never the full SID, nor the callback's path,
nor a file path), and its event tail must stay bounded.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers.actions import MP3_INPUT
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.core.activity import ActivityLog
from upnpcm.core.subscription import EventReceived
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what Chromium sends


async def _get(cp: ControlPoint, url: str, accept: str | None) -> tuple[int, dict[str, str], str]:
    headers = {"Accept": accept} if accept else {}
    reply = await cp.http.request("GET", url, headers=headers, timeout=5)
    return reply.status, dict(reply.headers), reply.body.decode()


async def _first_event(subscription) -> EventReceived:
    async for event in subscription:
        if isinstance(event, EventReceived):
            return event
    raise AssertionError("the subscription ended without an event")


@pytest.mark.parametrize("profile", ["standard", "sonos", "renderer"])
async def test_status_lists_the_subscription_and_the_connection(tmp_path, profile):
    state = tmp_path / "state-dir-secret-path"
    settings = DeviceSettings(profile=profile, host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=state) as host, ControlPoint() as cp:
        device = await cp.load(host.description_url("127.0.0.1"))
        cm = device.service("MR/CM" if profile != "renderer" else "CM")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(cm)
            await asyncio.wait_for(_first_event(subscription), 5)
            sid = subscription.sid
            assert sid is not None
            if profile == "sonos":  # no PrepareForConnection: connection 0 is the table
                connection_id = 0
            else:
                prepared = await cm.call("PrepareForConnection", **MP3_INPUT)
                connection_id = int(prepared["ConnectionID"])
                await asyncio.wait_for(_first_event(subscription), 5)  # CurrentConnectionIDs
            url = f"http://127.0.0.1:{host.port}/status"
            status, headers, body = await _get(cp, url, "application/json")
            assert status == 200 and headers["Content-Type"] == "application/json"
            assert headers["Vary"] == "Accept" and headers["Cache-Control"] == "no-store"
            snap = json.loads(body)
            assert snap["device"]["udn"] == device.root.udn
            assert snap["device"]["profile"] == profile
            [sub] = snap["subscriptions"]
            assert sub["callbackHost"] == f"127.0.0.1:{listener.port}"
            assert sub["sid"] == "uuid:…" + sid[-4:]
            assert 0 < sub["timeLeft"] <= sub["timeout"]
            assert sub["seq"] >= 0 and sub["failures"] == 0
            rows = [c for c in snap["connections"] if c["service"].endswith("ConnectionManager")]
            assert connection_id in [c["connectionId"] for c in rows]
            kinds = [e["kind"] for e in snap["events"]]
            assert "subscribe" in kinds and "notify" in kinds
            if profile != "sonos":
                evented = [
                    v for e in snap["events"] if e["kind"] == "event" for v in e["variables"]
                ]
                assert ["CurrentConnectionIDs", str(connection_id)] in evented
            status, headers, page = await _get(cp, url, HTML)
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert "script-src 'sha256-" in headers["Content-Security-Policy"]
            assert f"127.0.0.1:{listener.port}" in page and "uuid:…" + sid[-4:] in page
            assert device.root.friendly_name in page
            for text in (body, page):
                assert sid not in text and sid[-12:-4] not in text  # only its last 4 characters
                assert "/notify" not in text  # the callback's path is not shown
                assert str(state) not in text and "secret-path" not in text
            status, headers, plain = await _get(cp, url, None)  # curl, Sonos clients
            assert headers["Content-Type"].startswith("text/plain")
            if profile == "sonos":  # the profile's own text, as before
                assert plain.startswith("upnpcm ") and "sonos profile" in plain
                assert "room: " in plain and "household: " in plain
            else:
                assert f"subscriptions: 1\n  {sub['service']} uuid:…{sid[-4:]}" in plain
            assert sid not in plain


async def test_html_escapes_what_the_device_is_called(tmp_path):
    settings = DeviceSettings(
        friendly_name="<script>alert(1)</script> & co",
        host=("127.0.0.1",),
        port=0,
        ssdp=False,
    )
    async with DeviceHost(settings, state_dir=tmp_path) as host, ControlPoint() as cp:
        _, _, page = await _get(cp, f"http://127.0.0.1:{host.port}/status", HTML)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


@pytest.mark.parametrize(("profile", "status"), [("standard", 404), ("sonos", 200)])
async def test_no_status_page(tmp_path, profile, status):
    settings = DeviceSettings(
        profile=profile, host=("127.0.0.1",), port=0, ssdp=False, status_page=False
    )
    async with DeviceHost(settings, state_dir=tmp_path) as host, ControlPoint() as cp:
        assert host.core.activity is None  # nothing is recorded either
        answer, headers, body = await _get(
            cp, f"http://127.0.0.1:{host.port}/status", "application/json"
        )
    assert answer == status
    if profile == "sonos":  # the zone player's own plain page stays: it is part of the profile
        assert headers["Content-Type"].startswith("text/plain") and "sonos profile" in body


async def test_the_event_tail_is_bounded(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host, ControlPoint() as cp:
        assert isinstance(host.core.activity, ActivityLog)
        device = await cp.load(host.description_url("127.0.0.1"))
        cm = device.service("MR/CM")
        huge = ",".join(f"http-get:*:audio/x-test-{i}:*" for i in range(200))
        for n in range(150):
            host.set_protocol_info("renderer", sink=f"{huge},http-get:*:audio/x-{n}:*")
            await cm.call("GetCurrentConnectionIDs")
        _, _, body = await _get(cp, f"http://127.0.0.1:{host.port}/status", "application/json")
    events = json.loads(body)["events"]
    assert len(events) == 100 and host.core.activity.recorded == 150
    assert all(len(value) <= 160 for e in events for _, value in e["variables"])


async def test_status_answers_only_get_and_head(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host, ControlPoint() as cp:
        url = f"http://127.0.0.1:{host.port}/status"
        reply = await cp.http.request("POST", url, body=b"x", timeout=5)
        assert reply.status == 405 and reply.headers.get("Allow") == "GET, HEAD"
        reply = await cp.http.request("GET", url, headers={"Host": "example.com"}, timeout=5)
        assert reply.status == 400  # the device's DNS-rebinding defence covers it too
