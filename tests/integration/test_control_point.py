"""Our control point against our device, a scripted device, and description quirks (loopback)."""

import asyncio

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import load_fixture
from tests.helpers.actions import MP3_INPUT
from tests.helpers.blocking import ThreadedControlPoint
from tests.helpers.fake_http import FakeHttp, never_answer
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import AiohttpHttpClient, LeanHttpClient
from upnpcm.core.gena import build_propertyset
from upnpcm.core.soap import build_fault
from upnpcm.core.subscription import EventReceived, Resubscribing, Subscribed
from upnpcm.errors import (
    ActionArgumentError,
    ConnectError,
    RemoteProtocolError,
    TransportError,
    UPnPError,
    UpnpTimeoutError,
)
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"


@pytest.mark.usefixtures("both_control_points")
async def test_every_cm_action_on_both_services_of_our_device(device):
    async with ControlPoint() as cp:
        remote = await cp.load(device.description_url("127.0.0.1"))
        assert [s.qualified_name for s in remote.services] == [
            "MediaRenderer/ConnectionManager",
            "MediaServer/ConnectionManager",
        ]
        renderer = remote.service("MediaRenderer/ConnectionManager")
        server = remote.service("MS/CM")
        assert (await renderer.call("GetProtocolInfo"))["Source"] == ""
        assert "audio/flac" in (await server.call("GetProtocolInfo"))["Source"]
        prepared = await renderer.call(
            "PrepareForConnection",
            RemoteProtocolInfo="http-get:*:audio/mpeg:*",
            PeerConnectionManager=server.peer_id,
            PeerConnectionID=-1,
            Direction="Input",
        )
        assert prepared == {"ConnectionID": 1, "AVTransportID": -1, "RcsID": -1}
        assert await renderer.call("GetCurrentConnectionIDs") == {"ConnectionIDs": "1"}
        info = await renderer.call(
            "GetCurrentConnectionInfo", ConnectionID="1"
        )  # text is converted too
        assert info["PeerConnectionManager"] == server.peer_id
        assert await renderer.call("ConnectionComplete", ConnectionID=1) == {}
        with pytest.raises(UPnPError) as fault:
            await renderer.call("ConnectionComplete", ConnectionID=1)
        assert fault.value.code == 706


class Counting(LeanHttpClient):
    def __init__(self):
        super().__init__()
        self.posts = 0

    async def request(self, method, url, **kw):
        if method == "POST":
            self.posts += 1
        return await super().request(method, url, **kw)


@pytest.mark.parametrize(
    ("action", "kwargs", "code"),
    [
        ("NoSuchAction", {}, 401),
        ("GetCurrentConnectionInfo", {}, 402),
        ("GetCurrentConnectionInfo", {"ConnectionID": "abc"}, 402),
        ("GetCurrentConnectionInfo", {"ConnectionID": 2**31}, 402),
        ("GetCurrentConnectionInfo", {"ConnectionID": 1, "Extra": 2}, 402),
        (
            "PrepareForConnection",
            {
                "RemoteProtocolInfo": "x",
                "PeerConnectionManager": "",
                "PeerConnectionID": -1,
                "Direction": "Sideways",
            },
            601,  # UDA 1.1 table 3-3: not in the allowed value list
        ),
    ],
)
async def test_bad_arguments_are_refused_locally_and_nothing_is_sent(device, action, kwargs, code):
    http = Counting()
    cp = ControlPoint(http=http)
    remote = await cp.load(device.description_url("127.0.0.1"))
    with pytest.raises(ActionArgumentError) as info:
        await remote.service("MR/CM").call(action, **kwargs)
    assert info.value.code == code
    assert http.posts == 0


async def test_injected_aiohttp_session(device):
    async with aiohttp.ClientSession() as session:
        cp = ControlPoint(session=session)
        assert isinstance(cp.http, AiohttpHttpClient)
        remote = await cp.load(device.description_url("127.0.0.1"))
        assert (await remote.service("MR/CM").call("GetCurrentConnectionIDs")) == {
            "ConnectionIDs": ""
        }
        await cp.close()
        assert not session.closed  # the caller's session stays open


@pytest.mark.usefixtures("both_control_points")
async def test_sonos_quirks_load_and_fault_without_description():
    async def fault(request: web.Request) -> web.Response:
        body = build_fault(402, None)  # Sonos omits errorDescription
        return web.Response(status=500, body=body, content_type="text/xml")

    routes = {
        "/xml/device_description.xml": load_fixture("sonos", "device_description.xml"),
        "/xml/ConnectionManager1.xml": load_fixture("sonos", "ConnectionManager1.xml"),
        "/MediaRenderer/ConnectionManager/Control": fault,
    }
    async with FakeHttp(routes) as fake, ControlPoint() as cp:
        remote = await cp.load(fake.url("/xml/device_description.xml"))
        cm = remote.service("MediaRenderer/ConnectionManager")
        assert cm.control_url == fake.url(
            "/MediaRenderer/ConnectionManager/Control"
        )  # no URLBase: LOCATION
        assert cm.scpd_error is None
        assert [a.name for a in cm.scpd.actions] == [
            "GetProtocolInfo",
            "GetCurrentConnectionIDs",
            "GetCurrentConnectionInfo",
        ]
        broken = remote.service("AVTransport")
        assert "404" in (broken.scpd_error or "")  # kept, with the reason
        with pytest.raises(UPnPError) as info:
            await cm.call("GetCurrentConnectionInfo", ConnectionID=0)
        assert (info.value.code, info.value.description) == (402, None)
        assert remote.service("ZonePlayer/AlarmClock").name == "AlarmClock"
        paths = [path for _, path, _, _ in fake.requests]
        assert paths.count("/xml/ConnectionManager1.xml") == 1  # shared SCPD fetched once


@pytest.mark.usefixtures("both_control_points")
async def test_description_limits_redirects_timeouts_and_dtd():
    async def redirect(request):
        return web.Response(status=302, headers={"Location": "http://203.0.113.9/x.xml"})

    async def endless(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(2000):
            await response.write(b"<a>" * 1000)
        return response

    routes = {
        "/big.xml": b"<root>" + b" " * (1024 * 1024) + b"</root>",
        "/endless.xml": endless,
        "/redirect.xml": redirect,
        "/slow.xml": never_answer,
        "/dtd.xml": b'<!DOCTYPE root [<!ENTITY x SYSTEM "file:///etc/passwd">]><root>&x;</root>',
    }
    async with FakeHttp(routes) as fake:
        cp = ControlPoint(timeout=0.5)
        with pytest.raises(TransportError, match="larger than"):
            await cp.load(fake.url("/big.xml"))
        with pytest.raises(TransportError, match="larger than"):
            await cp.load(fake.url("/endless.xml"))
        with pytest.raises(TransportError, match="302"):
            await cp.load(fake.url("/redirect.xml"))
        with pytest.raises(UpnpTimeoutError):
            await cp.load(fake.url("/slow.xml"))
        with pytest.raises(RemoteProtocolError):
            await cp.load(fake.url("/dtd.xml"))
        assert all(path != "/x.xml" for _, path, _, _ in fake.requests)
    with pytest.raises(ConnectError):
        await ControlPoint().load(f"http://127.0.0.1:{fake.port}/gone.xml")


async def test_lean_client_framings():
    async def chunked(request):
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"hello ")
        await response.write(b"world")
        await response.write_eof()
        return response

    async with FakeHttp({"/chunked": chunked, "/plain": b"abc"}) as fake:
        client = LeanHttpClient()
        reply = await client.request("GET", fake.url("/chunked"))
        assert (reply.status, reply.body) == (200, b"hello world")
        head = await client.request("GET", fake.url("/plain"), head_only=True)
        assert (head.status, head.body, head.headers.get("Content-Length")) == (200, b"", "3")

    async def unframed(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(unframed, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reply = await LeanHttpClient().request("GET", f"http://127.0.0.1:{port}/")
        assert reply.body == b"until close"
    finally:
        server.close()


async def test_subscription_initial_event_change_and_unsubscribe(device):
    async with ControlPoint() as cp:
        remote = await cp.load(device.description_url("127.0.0.1"))
        renderer = remote.service("MediaRenderer/ConnectionManager")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(renderer)
            events = aiter(subscription)
            subscribed = await asyncio.wait_for(anext(events), 5)
            assert isinstance(subscribed, Subscribed) and subscribed.timeout == 1800
            initial = await asyncio.wait_for(anext(events), 5)
            assert isinstance(initial, EventReceived) and initial.seq == 0
            assert set(initial.changes) == {
                "SourceProtocolInfo",
                "SinkProtocolInfo",
                "CurrentConnectionIDs",
            }
            await renderer.call("PrepareForConnection", **MP3_INPUT)
            change = await asyncio.wait_for(anext(events), 5)
            assert (change.seq, dict(change.changes)) == (1, {"CurrentConnectionIDs": "1"})
        table = device.core.table("/MediaRenderer/ConnectionManager/Event")
        assert len(table) == 0  # UNSUBSCRIBE on exit


async def test_resubscribes_after_device_restart(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    first = DeviceHost(settings, state_dir=tmp_path)
    await first.start()
    port = first.port
    async with ControlPoint() as cp:
        remote = await cp.load(first.description_url("127.0.0.1"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(remote.service("MR/CM"))
            events = aiter(subscription)
            await asyncio.wait_for(anext(events), 5)  # subscribed
            await asyncio.wait_for(anext(events), 5)  # initial event
            old_sid = subscription.sid
            await first.stop()
            second = DeviceHost(
                DeviceSettings(host=("127.0.0.1",), port=port, ssdp=False), state_dir=tmp_path
            )
            await second.start()
            try:
                loop = asyncio.get_running_loop()
                subscription.machine._due = (
                    loop.time()
                )  # renewal due now (instead of in 15 minutes)
                subscription.wake()
                seen = []
                while not any(isinstance(e, EventReceived) for e in seen):
                    seen.append(await asyncio.wait_for(anext(events), 10))
                assert any(isinstance(e, Resubscribing) and "412" in e.reason for e in seen)
                assert subscription.sid != old_sid
                assert [e.seq for e in seen if isinstance(e, EventReceived)] == [0]
            finally:
                await listener.stop()
                await second.stop()


async def test_seq_gap_from_a_scripted_device_triggers_a_fresh_subscribe():
    subscribes = []
    callbacks = []

    async def event(request: web.Request) -> web.Response:
        if request.method == "SUBSCRIBE":
            sid = f"uuid:s{len(subscribes) + 1}"
            subscribes.append((sid, request.headers.get("CALLBACK")))
            if "CALLBACK" in request.headers:
                callbacks.append(request.headers["CALLBACK"].strip("<>"))
            return web.Response(headers={"SID": sid, "TIMEOUT": "Second-1800"})
        return web.Response()

    routes = {
        "/desc.xml": (
            f'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:x:device:T:1</deviceType>'
            f"<UDN>uuid:fake</UDN><serviceList><service><serviceType>{CM}</serviceType>"
            "<serviceId>urn:upnp-org:serviceId:ConnectionManager</serviceId><SCPDURL>/cm.xml</SCPDURL>"
            "<controlURL>/c</controlURL><eventSubURL>/e</eventSubURL></service></serviceList></device></root>"
        ).encode(),
        "/cm.xml": load_fixture("sonos", "ConnectionManager1.xml"),
        "/e": event,
    }
    async with FakeHttp(routes) as fake, ControlPoint() as cp:
        remote = await cp.load(fake.url("/desc.xml"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            subscription = await listener.subscribe(remote.service("CM"))
            events = aiter(subscription)
            await asyncio.wait_for(anext(events), 5)
            async with aiohttp.ClientSession() as session:

                async def notify(seq, sid="uuid:s1"):
                    headers = {
                        "NT": "upnp:event",
                        "NTS": "upnp:propchange",
                        "SID": sid,
                        "SEQ": str(seq),
                    }
                    async with session.request(
                        "NOTIFY",
                        callbacks[0],
                        headers=headers,
                        data=build_propertyset({"CurrentConnectionIDs": str(seq)}),
                    ) as r:
                        return r.status

                assert await notify(0) == 200
                assert await notify(1) == 200
                assert await notify(3) == 200  # 2 went missing
                assert await notify(4, sid="uuid:unknown") == 412
            got = [await asyncio.wait_for(anext(events), 5) for _ in range(5)]
            assert [e.seq for e in got if isinstance(e, EventReceived)] == [0, 1, 3]
            assert any(isinstance(e, Resubscribing) and "gap" in e.reason for e in got)
            assert isinstance(got[-1], Subscribed) and got[-1].sid == "uuid:s2"
            await asyncio.sleep(0.2)
        methods = [(m, h.get("SID")) for m, p, h, _ in fake.requests if p == "/e"]
        assert ("UNSUBSCRIBE", "uuid:s1") in methods  # the given-up SID is released
        assert ("UNSUBSCRIBE", "uuid:s2") in methods  # and ours on exit


def odd_description(services: list[tuple[str, str, str]]) -> bytes:
    """A root device holding one ConnectionManager per (serviceId, SCPDURL, controlURL)."""
    listed = "".join(
        f"<service><serviceType>{CM}</serviceType><serviceId>urn:upnp-org:serviceId:{sid}</serviceId>"
        f"<SCPDURL>{scpd}</SCPDURL><controlURL>{control}</controlURL>"
        f"<eventSubURL>/evt</eventSubURL></service>"
        for sid, scpd, control in services
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        "<deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>"
        "<friendlyName>odd</friendlyName><UDN>uuid:odd-1</UDN>"
        f"<serviceList>{listed}</serviceList></device></root>"
    ).encode()


@pytest.fixture(params=["lean", "aiohttp", "blocking"])
async def any_cp(request):
    if request.param == "lean":
        async with ControlPoint() as cp:
            yield cp
        return
    if request.param == "blocking":
        async with ThreadedControlPoint() as threaded:
            yield threaded
        return
    async with aiohttp.ClientSession() as session, ControlPoint(session=session) as cp:
        yield cp


async def test_odd_scpd_urls_do_not_fail_the_whole_device(any_cp):
    scpd = load_fixture("sonos", "ConnectionManager1.xml")
    answer = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<s:Body><u:GetCurrentConnectionIDsResponse xmlns:u="' + CM.encode() + b'">'
        b"<ConnectionIDs>0</ConnectionIDs></u:GetCurrentConnectionIDsResponse></s:Body></s:Envelope>"
    )

    async def control(request):
        return web.Response(body=answer, content_type="text/xml")

    description = odd_description(
        [
            ("Good", "/scpd.xml", "/ctl"),
            ("Euro", "/x/\u20ac dir/scpd.xml", "/ctl/\u20ac"),  # non-ASCII and a space
            ("BadHost", "http://[::1/x.xml", "/ctl"),  # not a URL at all
            ("BadControl", "/scpd.xml", "http://[::1/ctl"),
        ]
    )
    routes = {
        "/d.xml": description,
        "/scpd.xml": scpd,
        "/x/\u20ac dir/scpd.xml": scpd,
        "/ctl": control,
        "/ctl/\u20ac": control,
    }
    async with FakeHttp(routes) as fake:
        remote = await any_cp.load(fake.url("/d.xml"))
        good, euro, bad_host, bad_control = remote.services
        assert good.scpd_error is None and euro.scpd_error is None
        assert euro.scpd.action("GetCurrentConnectionIDs") is not None
        assert await euro.call("GetCurrentConnectionIDs") == {"ConnectionIDs": "0"}
        requested = [path for method, path, _, _ in fake.requests if method == "POST"]
        assert requested == ["/ctl/\u20ac"]  # percent-encoded on the wire, decoded by the server
        assert "not a usable URL" in (bad_host.scpd_error or "")
        assert bad_host.scpd_url == "http://[::1/x.xml"
        with pytest.raises(TransportError, match=r"could not be loaded \(.*not a usable URL"):
            await bad_host.call("GetCurrentConnectionIDs")
        with pytest.raises(RemoteProtocolError, match="controlURL 'http://\\[::1/ctl'"):
            await bad_control.call("GetCurrentConnectionIDs")
        assert await good.call("GetCurrentConnectionIDs") == {"ConnectionIDs": "0"}


async def test_an_action_on_a_service_whose_scpd_failed_is_a_transport_error(any_cp):
    routes = {"/d.xml": odd_description([("Gone", "/missing.xml", "/ctl")])}
    async with FakeHttp(routes) as fake:
        remote = await any_cp.load(fake.url("/d.xml"))
        (gone,) = remote.services
        assert "404" in (gone.scpd_error or "")
        with pytest.raises(TransportError, match=r"GetProtocolInfo.*\(GET .*HTTP 404 Not Found\)"):
            await gone.call("GetProtocolInfo")
        assert [m for m, *_ in fake.requests].count("POST") == 0


async def test_padded_documents_and_answers_from_a_real_server(any_cp):
    """A CRLF before ``<?xml`` and NULs after the document, in every kind of reply."""

    def padded(body: bytes) -> bytes:
        return b"\r\n" + body.strip() + b"\r\n\x00\x00"

    async def answer(request):
        action = request.headers["SOAPACTION"].strip('"').split("#")[1]
        if action == "GetCurrentConnectionInfo":
            body = build_fault(706, "Invalid connection reference")
            return web.Response(status=500, body=padded(body), content_type="text/xml")
        body = (
            '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<s:Body><u:{action}Response xmlns:u="{CM}"><ConnectionIDs>0</ConnectionIDs>'
            f"</u:{action}Response></s:Body></s:Envelope>"
        ).encode()
        return web.Response(body=padded(body), content_type="text/xml")

    routes = {
        "/d.xml": padded(odd_description([("CM", "/scpd.xml", "/ctl")])),
        "/scpd.xml": padded(load_fixture("sonos", "ConnectionManager1.xml")),
        "/ctl": answer,
    }
    async with FakeHttp(routes) as fake:
        remote = await any_cp.load(fake.url("/d.xml"))
        (cm,) = remote.services
        assert cm.scpd_error is None
        assert await cm.call("GetCurrentConnectionIDs") == {"ConnectionIDs": "0"}
        with pytest.raises(UPnPError) as info:
            await cm.call("GetCurrentConnectionInfo", ConnectionID=3)
        assert info.value.code == 706
