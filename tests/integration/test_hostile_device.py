"""A hostile, scripted device on loopback against the control point and the CLI (issue 12).

Each test failed on the code before its item was done.
"""

import asyncio

import pytest
from aiohttp import web

from tests.conftest import load_fixture
from tests.helpers.fake_http import FakeHttp
from tests.helpers.hostile import scpd_of_size
from tests.helpers.processes import run_upnpcm
from upnpcm.aio.control_point import ControlPoint
from upnpcm.errors import RemoteProtocolError, UPnPError

CM_TYPE = "urn:schemas-upnp-org:service:ConnectionManager:1"
DIGITS = "9" * 5000

#: Every test here runs with the asyncio control point and again with the blocking one.
pytestmark = pytest.mark.usefixtures("both_control_points")


def description(services: str, *, url_base: str = "", devices: str = "") -> bytes:
    base = f"<URLBase>{url_base}</URLBase>" if url_base else ""
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        f"<specVersion><major>1</major><minor>0</minor></specVersion>{base}<device>"
        "<deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>"
        "<friendlyName>hostile</friendlyName><UDN>uuid:hostile-1</UDN>"
        f"<serviceList>{services}</serviceList>"
        f"{f'<deviceList>{devices}</deviceList>' if devices else ''}</device></root>"
    ).encode()


def service(scpd: str, control: str = "/ctl", event: str = "/evt", n: int = 0) -> str:
    return (
        f"<service><serviceType>{CM_TYPE}</serviceType>"
        f"<serviceId>urn:upnp-org:serviceId:CM{n}</serviceId><SCPDURL>{scpd}</SCPDURL>"
        f"<controlURL>{control}</controlURL><eventSubURL>{event}</eventSubURL></service>"
    )


def fault(code: str, description: str = "") -> bytes:
    desc = f"<errorDescription>{description}</errorDescription>" if description else ""
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        "<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
        '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
        f"<errorCode>{code}</errorCode>{desc}</UPnPError></detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


def answering(body: bytes, status: int = 500):
    async def control(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="text/xml")

    return control


def one_cm(control) -> dict:
    return {
        "/d.xml": description(service("/scpd.xml")),
        "/scpd.xml": load_fixture("sonos", "ConnectionManager1.xml"),
        "/ctl": control,
    }


# ------------------------------------------------------------- item 5: long integers


async def test_a_fault_code_of_5000_digits_is_a_protocol_error_and_exit_3():
    async with FakeHttp(one_cm(answering(fault(DIGITS)))) as fake:
        async with ControlPoint() as cp:
            device = await cp.load(fake.url("/d.xml"))
            try:
                await device.service("CM").call("GetProtocolInfo")
            except RemoteProtocolError as exc:
                assert "bad errorCode" in str(exc)
            else:
                raise AssertionError("no RemoteProtocolError")
        got, _, err = await run_upnpcm("call", fake.url("/d.xml"), "CM", "GetProtocolInfo")
    assert got == 3, err
    assert "bad errorCode" in err
    assert "Exceeds the limit" not in err and "Traceback" not in err


# ------------------------------------------------ item 8: a huge errorDescription is cut


async def test_an_error_description_over_4_kib_is_cut_before_it_is_printed_or_logged():
    long_text = "x" * 200_000
    async with FakeHttp(one_cm(answering(fault("718", long_text)))) as fake:
        async with ControlPoint() as cp:
            device = await cp.load(fake.url("/d.xml"))
            try:
                await device.service("CM").call("GetProtocolInfo")
            except UPnPError as exc:
                error = exc
            else:
                raise AssertionError("no UPnPError")
        got, _, err = await run_upnpcm("-DD", "call", fake.url("/d.xml"), "CM", "GetProtocolInfo")
    assert error.code == 718
    assert error.description is not None
    assert error.description.startswith("x" * 4096)
    assert error.description.endswith(f"[... {200_000 - 4096} more characters cut]")
    assert len(str(error)) < 4300
    assert got == 1
    assert "more characters cut" in err
    assert len(err) < 3 * 4300  # the fault line (-DD logs it too) and the error message


# --------------------------------------------- item 1: the control point's memory is bounded


def many_services(count: int, *, distinct_scpds: bool = True) -> bytes:
    return description(
        "".join(
            service(f"/scpd/{i if distinct_scpds else 0}.xml", f"/ctl/{i}", f"/evt/{i}", n=i)
            for i in range(count)
        )
    )


def scpd_server(body: bytes, log: list[str], *, delay: float = 0.0, in_flight=None):
    async def scpd(request: web.Request) -> web.Response:
        log.append(request.path)
        if in_flight is not None:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            await asyncio.sleep(delay)
            return web.Response(body=body, content_type="text/xml")
        finally:
            if in_flight is not None:
                in_flight["now"] -= 1

    return scpd


class Routes(dict):
    """Routes with one handler for every /scpd/... path."""

    def __init__(self, document: bytes, scpd) -> None:
        super().__init__({"/d.xml": document})
        self.scpd = scpd

    def get(self, path, default=None):
        return self.scpd if path.startswith("/scpd/") else super().get(path, default)


async def test_a_description_listing_4000_services_is_refused_before_any_scpd_is_fetched():
    fetched: list[str] = []
    routes = Routes(many_services(4000), scpd_server(scpd_of_size(1000), fetched))
    async with FakeHttp(routes) as fake:
        async with ControlPoint() as cp:
            with pytest.raises(RemoteProtocolError, match=r"more than 128 services.*max_services"):
                await cp.load(fake.url("/d.xml"))
        got, _, err = await run_upnpcm("describe", "-S", fake.url("/d.xml"))
    assert fetched == []
    assert got == 3, err
    assert "max_services" in err and "Traceback" not in err


async def test_more_embedded_devices_than_the_cap_are_refused():
    device = (
        "<device><deviceType>urn:schemas-upnp-org:device:X:1</deviceType>"
        "<UDN>uuid:e-{}</UDN></device>"
    )
    document = description("", devices="".join(device.format(i) for i in range(40)))
    async with FakeHttp({"/d.xml": document}) as fake:
        async with ControlPoint() as cp:
            with pytest.raises(RemoteProtocolError, match=r"more than 32 devices.*max_devices"):
                await cp.load(fake.url("/d.xml"))
        async with ControlPoint(max_devices=64) as cp:  # a setting, not a constant
            loaded = await cp.load(fake.url("/d.xml"))
    assert len(list(loaded.root.iter_devices())) == 41


async def test_the_bytes_of_one_load_are_bounded_and_scpds_are_fetched_four_at_a_time():
    fetched: list[str] = []
    in_flight = {"now": 0, "max": 0}
    scpd = scpd_of_size(900 * 1024)
    routes = Routes(many_services(100), scpd_server(scpd, fetched, delay=0.02, in_flight=in_flight))
    async with FakeHttp(routes) as fake:
        async with ControlPoint() as cp:
            with pytest.raises(RemoteProtocolError, match=r"over 8388608 bytes.*max_load_bytes"):
                await cp.load(fake.url("/d.xml"))
        got, _, err = await run_upnpcm("describe", "-S", fake.url("/d.xml"))
    assert got == 3 and "max_load_bytes" in err, err
    assert in_flight["max"] <= 4
    # 8 MiB / 900 KiB: the tenth SCPD passes the budget; at most the ones in flight follow.
    assert len(fetched) <= 2 * (10 + 4)  # the API load, then the CLI's


async def test_within_the_limits_everything_loads():
    fetched: list[str] = []
    in_flight = {"now": 0, "max": 0}
    routes = Routes(
        many_services(20), scpd_server(scpd_of_size(2000), fetched, in_flight=in_flight)
    )
    async with FakeHttp(routes) as fake, ControlPoint(scpd_concurrency=2) as cp:
        device = await cp.load(fake.url("/d.xml"))
    assert len(device.services) == 20 and all(s.scpd_error is None for s in device.services)
    assert len(fetched) == 20 and in_flight["max"] <= 2


# ------------------------------------------------------- item 4: no SSRF through descriptions


def cm_at(scpd: str, control: str, event: str, *, url_base: str = "") -> bytes:
    return description(service(scpd, control, event), url_base=url_base)


async def test_urls_on_another_host_are_refused_and_named():
    elsewhere = FakeHttp(
        {"/scpd.xml": load_fixture("sonos", "ConnectionManager1.xml")}, "127.0.0.2"
    )
    async with elsewhere:
        other = f"http://127.0.0.2:{elsewhere.port}"
        cases = {
            "/base.xml": cm_at("/scpd.xml", "/ctl", "/evt", url_base=other + "/"),
            "/control.xml": cm_at("/scpd.xml", other + "/ctl", "/evt"),
            "/scpd.xml.xml": cm_at(other + "/scpd.xml", "/ctl", "/evt"),
            "/event.xml": cm_at("/scpd.xml", "/ctl", other + "/evt"),
        }
        routes = {**cases, "/scpd.xml": load_fixture("sonos", "ConnectionManager1.xml")}
        async with FakeHttp(routes) as fake:
            async with ControlPoint() as cp:
                for path in cases:
                    with pytest.raises(RemoteProtocolError, match="other hosts") as caught:
                        await cp.load(fake.url(path))
                    assert f"{other}/" in str(caught.value)  # the refused URL is named
            got, _, err = await run_upnpcm(
                "call", fake.url("/control.xml"), "CM", "GetProtocolInfo"
            )
            assert got == 3 and f"{other}/ctl" in err, err
            got, _, err = await run_upnpcm("eventlog", fake.url("/event.xml"), "--duration", "1")
            assert got == 3 and f"{other}/evt" in err, err  # no SUBSCRIBE there
            assert elsewhere.requests == []  # nothing was ever sent there
            got, _, err = await run_upnpcm(
                "--allow-foreign-urls", "describe", "-S", fake.url("/scpd.xml.xml")
            )
            assert got == 0, err  # the opt-out, on the command line
            assert [r[1] for r in elsewhere.requests] == ["/scpd.xml"]
            elsewhere.requests.clear()
            async with ControlPoint(allow_foreign_urls=True) as cp:  # the opt-out
                device = await cp.load(fake.url("/scpd.xml.xml"))
            assert device.services[0].scpd_error is None
            assert [r[1] for r in elsewhere.requests] == ["/scpd.xml"]


@pytest.mark.parametrize(
    ("port", "allowed"),
    [("{same}", True), ("49152", True), ("1024", True), ("80", False), ("22", False)],
)
async def test_the_same_host_may_use_its_own_port_or_one_from_1024(port, allowed):
    async with FakeHttp({}) as fake:
        fake.routes["/d.xml"] = cm_at(
            "/scpd.xml", f"http://127.0.0.1:{port.format(same=fake.port)}/ctl", "/evt"
        )
        async with ControlPoint() as cp:
            if allowed:
                await cp.load(fake.url("/d.xml"))
            else:
                with pytest.raises(RemoteProtocolError, match=f"127.0.0.1:{port}/ctl"):
                    await cp.load(fake.url("/d.xml"))
