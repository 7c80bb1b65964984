"""The HTTP face of a served device, on real loopback sockets (raw bytes)."""

import asyncio

import pytest

from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
CONTROL = "/MediaRenderer/ConnectionManager/Control"


async def exchange(
    port: int, raw: bytes, *, read_timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), read_timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = (
            await asyncio.wait_for(reader.readexactly(length), read_timeout)
            if length and not raw.startswith(b"HEAD")
            else b""
        )
        return status, headers, body
    finally:
        writer.close()


def post(
    port: int,
    body: bytes,
    *,
    soapaction: str | None = f'"{CM}#GetProtocolInfo"',
    content_type="text/xml",
    extra=b"",
) -> bytes:
    head = f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
    if soapaction is not None:
        head += f"SOAPACTION: {soapaction}\r\n"
    return (
        head.encode()
        + extra
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


async def test_get_description_and_head(device):
    port = device.port
    status, headers, body = await exchange(
        port, f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    )
    assert status == 200
    assert headers["content-type"] == 'text/xml; charset="utf-8"'
    assert b"MediaRenderer:1" in body
    status, head_headers, _ = await exchange(
        port,
        f"HEAD /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(),
    )
    assert status == 200
    assert head_headers["content-length"] == str(len(body))


async def test_soap_success(device):
    _, body = build_action_request(CM, "GetProtocolInfo", [])
    status, headers, reply = await exchange(device.port, post(device.port, body))
    assert status == 200
    assert headers["ext"] == ""
    assert dict(parse_action_response(reply, "GetProtocolInfo"))["Sink"].startswith("http-get:")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", 404),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", 404),
        (b"GET /xml/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", 404),
        (b"DELETE /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", 405),
        (b"FOO /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n", 501),
        (b"GET /xml/device_description.xml HTTP/1.1\r\n\r\n", 400),
        (b"GET /xml/device_description.xml HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400),
        (b"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", 400),
        # Header names are matched case-insensitively: a second "host" is a duplicate Host.
        (
            b"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            b"host: 127.0.0.1:{port}\r\n\r\n",
            400,
        ),
    ],
)
async def test_http_errors_on_the_wire(device, raw, status):
    got, _, body = await exchange(device.port, raw.replace(b"{port}", str(device.port).encode()))
    assert got == status
    assert b"root:" not in body


async def test_405_allow_header(device):
    status, headers, _ = await exchange(
        device.port,
        f"POST /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\nContent-Length: 0\r\n\r\n".encode(),
    )
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


async def test_415_400_and_fault(device):
    _, body = build_action_request(CM, "GetProtocolInfo", [])
    assert (await exchange(device.port, post(device.port, body, content_type="application/json")))[
        0
    ] == 415
    assert (await exchange(device.port, post(device.port, body, soapaction=None)))[0] == 400
    assert (await exchange(device.port, post(device.port, b"<not-soap/>")))[0] == 400
    _, bad = build_action_request(CM, "GetCurrentConnectionInfo", [("ConnectionID", "77")])
    status, _, reply = await exchange(
        device.port, post(device.port, bad, soapaction=f'"{CM}#GetCurrentConnectionInfo"')
    )
    assert status == 500
    assert parse_fault(reply).code == 706


async def test_oversize_body_413_before_reading(device):
    # Announce 1 MiB but send nothing: the answer must come from Content-Length alone.
    raw = (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\nContent-Type: text/xml\r\n"
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\nContent-Length: {1024 * 1024}\r\n\r\n'
    ).encode()
    status, _, _ = await exchange(device.port, raw, read_timeout=3)
    assert status == 413


async def test_oversize_chunked_body_413(device):
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    raw = (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\nContent-Type: text/xml\r\n"
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\nTransfer-Encoding: chunked\r\n\r\n'
    ).encode() + chunks
    status, _, _ = await exchange(device.port, raw)
    assert status == 413


def chunked_post(port: int, body: bytes, trailers: bytes) -> bytes:
    return (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\nTransfer-Encoding: chunked\r\n'
        "Connection: close\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailers)


async def test_trailer_fields_are_not_merged_into_the_header_section(device):
    # A Host, SOAPACTION or Content-Type in the trailer would make the request
    # fail (duplicate Host, mismatched action, 415) if it counted as a header.
    _, body = build_action_request(CM, "GetProtocolInfo", [])
    trailers = b"Host: evil.example\r\nSOAPACTION: bogus\r\nContent-Type: image/png\r\n"
    status, _, reply = await exchange(device.port, chunked_post(device.port, body, trailers))
    assert status == 200
    assert parse_action_response(reply, "GetProtocolInfo")


async def test_trailer_fields_count_towards_the_head_limit(device):
    _, body = build_action_request(CM, "GetProtocolInfo", [])
    trailers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 4000) for i in range(5))
    status, _, _ = await exchange(device.port, chunked_post(device.port, body, trailers))
    assert status == 431


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    ],
)
async def test_bad_framing_is_400(device, headers):
    raw = (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\nContent-Type: text/xml\r\n".encode()
        + headers
        + b"\r\nabc"
    )
    status, _, _ = await exchange(device.port, raw)
    assert status == 400


async def test_oversize_lines_and_headers_and_server_stays_up(device):
    raw = f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\nX-Big: {'a' * 9000}\r\n\r\n".encode()
    assert (await exchange(device.port, raw))[0] == 431
    many = "".join(f"X-{i}: 1\r\n" for i in range(101))
    status, _, _ = await exchange(
        device.port,
        f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\n{many}\r\n".encode(),
    )
    assert status == 431
    long_target = f"GET /{'a' * 9000} HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\n\r\n".encode()
    assert (await exchange(device.port, long_target))[0] == 414
    status, _, _ = await exchange(
        device.port,
        f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\n\r\n".encode(),
    )
    assert status == 200


async def test_garbage_and_truncated_requests_do_not_hurt(device):
    for raw in [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST " + CONTROL.encode() + b" HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort",
    ]:
        reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
        writer.write(raw)
        await writer.drain()
        writer.close()
    status, _, _ = await exchange(
        device.port,
        f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{device.port}\r\n\r\n".encode(),
    )
    assert status == 200


async def test_superscript_digit_in_soapaction_is_a_401_fault(device):
    # Byte 0xb2 is "²" in latin-1: str.isdigit() says yes, int() raises.
    _, body = build_action_request(CM[:-1] + "\u00b2", "GetProtocolInfo", [])
    # The body names the same type (UTF-8); the header carries the raw byte (latin-1).
    soapaction = b'SOAPACTION: "' + CM[:-1].encode() + b'\xb2#GetProtocolInfo"\r\n'
    raw = post(device.port, body, soapaction=None, extra=soapaction)
    status, headers, reply = await exchange(device.port, raw)
    assert status == 500
    assert headers["content-type"] == 'text/xml; charset="utf-8"'
    assert parse_fault(reply).code == 401
    assert b"Traceback" not in reply
    _, good = build_action_request(CM, "GetProtocolInfo", [])
    status, _, _ = await exchange(device.port, post(device.port, good))
    assert status == 200


@pytest.mark.parametrize("encoding", ["foo", "x-no-such-codec"])
async def test_unknown_xml_encoding_is_400_and_server_stays_up(device, encoding, caplog):
    body = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<u:GetProtocolInfo xmlns:u="{CM}"/></s:Body></s:Envelope>'
    ).encode()
    status, _, reply = await exchange(device.port, post(device.port, body))
    assert status == 400
    assert b"unknown encoding" in reply
    assert "Traceback" not in caplog.text and "handler failed" not in caplog.text
    _, good = build_action_request(CM, "GetProtocolInfo", [])
    assert (await exchange(device.port, post(device.port, good)))[0] == 200


class _Transport:
    """Just enough of an asyncio transport for HttpProtocol, recording what it writes."""

    def __init__(self):
        self.written = []

    def get_extra_info(self, name):
        return ("127.0.0.1", 1400) if name in ("peername", "sockname") else None

    def write(self, data):
        self.written.append(bytes(data))

    def get_write_buffer_size(self):
        return 0

    def close(self):
        pass


async def test_the_application_sees_the_header_section_only():
    from upnpcm.aio.http_server import HttpLimits, HttpProtocol
    from upnpcm.core.http import HttpResponse

    seen = []

    def handler(request):
        seen.append(request)
        return HttpResponse(status=200, body=b"ok"), None

    protocol = HttpProtocol(handler, HttpLimits())
    transport = _Transport()
    protocol.connection_made(transport)
    protocol.data_received(chunked_post(1400, b"hello", b"X-Trailer: yes\r\nHost: evil\r\n"))
    (request,) = seen
    assert request.body == b"hello"
    names = [name.lower() for name, _ in request.headers]
    assert names == ["host", "content-type", "soapaction", "transfer-encoding", "connection"]
    assert request.headers.get_all("Host") == ["127.0.0.1:1400"]
    assert "X-Trailer" not in request.headers
    assert transport.written[0].startswith(b"HTTP/1.1 200 OK")


async def test_a_connection_takes_the_local_address_the_server_listens_on():
    """listen() hands in its one address: no getsockname per connection; else the kernel's."""
    from upnpcm.aio.http_server import HttpLimits, HttpProtocol
    from upnpcm.core.http import HttpResponse

    seen = []

    def handler(request):
        seen.append(request)
        return HttpResponse(status=200, body=b"ok"), None

    class Counting(_Transport):
        def __init__(self):
            super().__init__()
            self.asked = []

        def get_extra_info(self, name):
            self.asked.append(name)
            return super().get_extra_info(name)

    for local, expected, asks in (
        (("10.1.2.3", 49152), ("10.1.2.3", 49152), False),
        (None, ("127.0.0.1", 1400), True),
    ):
        transport = Counting()
        protocol = HttpProtocol(handler, HttpLimits(), local=local)
        protocol.connection_made(transport)
        protocol.data_received(b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")
        assert (seen[-1].local, seen[-1].local_port) == expected
        assert ("sockname" in transport.asked) is asks
