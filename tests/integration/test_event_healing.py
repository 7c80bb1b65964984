"""Event subscriptions against odd devices: pacing, callbacks, address families (loopback)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import load_fixture
from tests.helpers.actions import MP3_INPUT
from tests.helpers.fake_http import FakeHttp
from tests.helpers.net import ipv6_loopback
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.core.gena import build_propertyset
from upnpcm.core.subscription import EventReceived, Resubscribing, Subscribed
from upnpcm.errors import ConnectError
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
DESCRIPTION = (
    '<root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:x:device:T:1</deviceType>'
    f"<UDN>uuid:fake</UDN><serviceList><service><serviceType>{CM}</serviceType>"
    "<serviceId>urn:upnp-org:serviceId:ConnectionManager</serviceId><SCPDURL>/cm.xml</SCPDURL>"
    "<controlURL>/c</controlURL><eventSubURL>/e</eventSubURL></service></serviceList></device></root>"
).encode()


def scripted_device(seqs: list[int], host: str = "127.0.0.1", source: str = "127.0.0.1"):
    """A device that answers each SUBSCRIBE, then NOTIFYs the given SEQs from ``source``."""
    subscribes: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(callback: str, sid: str) -> None:
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            for seq in seqs:
                headers = {
                    "NT": "upnp:event",
                    "NTS": "upnp:propchange",
                    "SID": sid,
                    "SEQ": str(seq),
                }
                body = build_propertyset({"CurrentConnectionIDs": str(seq)})
                async with session.request("NOTIFY", callback, headers=headers, data=body):
                    pass

    async def event(request: web.Request) -> web.Response:
        if request.method == "SUBSCRIBE" and "CALLBACK" in request.headers:
            sid = f"uuid:s{len(subscribes) + 1}"
            subscribes.append(sid)
            task = asyncio.create_task(send(request.headers["CALLBACK"].strip("<>"), sid))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return web.Response(headers={"SID": sid, "TIMEOUT": "Second-1800"})
        return web.Response()

    routes = {"/desc.xml": DESCRIPTION, "/cm.xml": load_fixture("sonos", "ConnectionManager1.xml")}
    routes["/e"] = event
    return FakeHttp(routes, host=host), subscribes


async def collect(subscription, seconds: float) -> list[object]:
    got: list[object] = []
    events = aiter(subscription)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got.append(await asyncio.wait_for(anext(events), left))
        except TimeoutError:
            break
    return got


async def test_device_counting_from_one_is_not_resubscribed_in_a_loop():
    fake, subscribes = scripted_device([1, 2])
    async with fake, ControlPoint() as cp:
        remote = await cp.load(fake.url("/desc.xml"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(remote.service("CM"))
            got = await collect(subscription, 1.5)
    assert [e.seq for e in got if isinstance(e, EventReceived)] == [1, 2]
    assert not any(isinstance(e, Resubscribing) for e in got)
    assert subscribes == ["uuid:s1"]


async def test_device_whose_every_sid_has_a_gap_is_resubscribed_with_backoff():
    fake, subscribes = scripted_device([0, 2])  # 1 never comes, on every SID
    async with fake, ControlPoint() as cp:
        remote = await cp.load(fake.url("/desc.xml"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(remote.service("CM"))
            got = await collect(subscription, 3.0)
    restarts = [e for e in got if isinstance(e, Resubscribing)]
    assert restarts and restarts[0].delay == 0.0
    assert all(r.delay > 0 for r in restarts[1:])
    assert 2 <= len(subscribes) <= 5  # before pacing: hundreds in three seconds


async def test_notify_from_another_address_of_the_device_is_delivered():
    # The device's event URL is on 127.0.0.42; it sends NOTIFY from 127.0.0.1.
    fake, _ = scripted_device([0], host="127.0.0.42", source="127.0.0.1")
    async with fake, ControlPoint() as cp:
        remote = await cp.load(fake.url("/desc.xml"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(remote.service("CM"))
            got = await collect(subscription, 1.0)
    assert [e.seq for e in got if isinstance(e, EventReceived)] == [0]


async def test_a_raising_callback_costs_neither_answer_nor_subscription(device, caplog):
    calls: list[object] = []

    def broken(event: object) -> None:
        calls.append(event)
        raise RuntimeError("bug in user code")

    async with ControlPoint() as cp:
        remote = await cp.load(device.description_url("127.0.0.1"))
        renderer = remote.service("MediaRenderer/ConnectionManager")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(renderer, on_event=broken)
            events = aiter(subscription)
            assert isinstance(await asyncio.wait_for(anext(events), 5), Subscribed)
            assert isinstance(await asyncio.wait_for(anext(events), 5), EventReceived)
            await renderer.call("PrepareForConnection", **MP3_INPUT)
            change = await asyncio.wait_for(anext(events), 5)
            assert isinstance(change, EventReceived) and change.seq == 1
            assert subscription._task is not None and not subscription._task.done()
            table = device.core.table("/MediaRenderer/ConnectionManager/Event")
            assert len(table) == 1  # the device got 200s: it kept us
    assert [type(e) for e in calls][:3] == [Subscribed, EventReceived, EventReceived]
    assert "bug in user code" in caplog.text


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_default_listener_serves_both_families_on_one_port(tmp_path):
    settings = DeviceSettings(host=("::1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as device, ControlPoint() as cp:
        remote = await cp.load(device.description_url("::1"))
        async with EventListener(cp.http) as listener:  # default bind: IPv4 and IPv6
            ports = {
                (sock.family, sock.getsockname()[1])
                for server in listener._servers
                for sock in server.sockets
            }
            assert ports == {(socket.AF_INET, listener.port), (socket.AF_INET6, listener.port)}
            subscription = await listener.subscribe(remote.service("MR/CM"))
            assert "[::1]" in subscription.machine.callback_url
            got = await collect(subscription, 1.0)
    assert any(isinstance(e, EventReceived) and e.seq == 0 for e in got)


async def test_event_url_by_host_name_resolves_off_the_loop(tmp_path, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    allowed = (f"localhost:{port}",)
    async with (
        DeviceHost(
            DeviceSettings(host=("127.0.0.1",), port=port, ssdp=False, allowed_hosts=allowed),
            state_dir=tmp_path,
        ) as device,
        ControlPoint() as cp,
    ):
        remote = await cp.load(f"http://localhost:{device.port}/xml/device_description.xml")
        service = remote.service("MediaRenderer/ConnectionManager")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(service)
            assert subscription.machine.callback_url.startswith("http://127.0.0.1:")
            got = await collect(subscription, 1.0)
            assert any(isinstance(e, EventReceived) for e in got)

            async def no_such_name(*args: object, **kwargs: object) -> object:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

            monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
            with pytest.raises(ConnectError, match="cannot resolve"):
                await listener.subscribe(service)
