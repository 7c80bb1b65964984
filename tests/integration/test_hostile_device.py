"""A hostile, scripted device on loopback against the control point and the CLI (issue 12).

Each test failed on the code before its item was done.
"""

from aiohttp import web

from tests.conftest import load_fixture
from tests.helpers.fake_http import FakeHttp
from tests.helpers.processes import run_upnpcm
from upnpcm.aio.control_point import ControlPoint
from upnpcm.errors import RemoteProtocolError, UPnPError

CM_TYPE = "urn:schemas-upnp-org:service:ConnectionManager:1"
DIGITS = "9" * 5000


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
