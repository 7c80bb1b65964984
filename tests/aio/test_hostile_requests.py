"""Hostile requests on real loopback sockets: the exact answer, at once, and the process stays up.

Regression tests of issue 12 (items 5, 6 and 8): each failed on the code before it.
"""

import asyncio

import pytest

from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import LeanHttpClient

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
CONTROL = "/MediaRenderer/ConnectionManager/Control"
EVENT = "/MediaRenderer/ConnectionManager/Event"
ENVELOPE = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>{}</s:Body></s:Envelope>'
)
ACTION = f'<u:GetProtocolInfo xmlns:u="{CM}"></u:GetProtocolInfo>'
DIGITS = "9" * 5000


async def exchange(port: int, raw: bytes, *, timeout: float = 3.0) -> tuple[int, bytes, bytes]:
    """Send ``raw``; (status, head, body) of the answer, read until the server closes or ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while b"\r\n\r\n" not in data or len(data) < _framed_length(data):
            chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - loop.time()))
            if not chunk:
                break
            data += chunk
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def _framed_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(data)


def post(port: int, body: bytes, *, soapaction: str = f'"{CM}#GetProtocolInfo"', extra=""):
    return (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
        f"SOAPACTION: {soapaction}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def chunked(port: int, body: bytes, *, coding: str = "chunked") -> bytes:
    return (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\nTransfer-Encoding: {coding}\r\n\r\n'
    ).encode() + body


async def still_serves(port: int) -> None:
    status, _, body = await exchange(port, post(port, ENVELOPE.format(ACTION).encode()))
    assert status == 200 and b"GetProtocolInfoResponse" in body


# ------------------------------------------------------------- item 5: long integers


async def test_a_soapaction_version_of_5000_digits_is_the_401_fault(device):
    port = device.port
    long_type = f"urn:schemas-upnp-org:service:ConnectionManager:{DIGITS}"
    action = ACTION.replace(CM, long_type)  # the body agrees with the header
    status, _, body = await exchange(
        port,
        post(port, ENVELOPE.format(action).encode(), soapaction=f'"{long_type}#GetProtocolInfo"'),
    )
    assert status == 500
    assert b"<errorCode>401</errorCode>" in body
    await still_serves(port)


async def test_a_seq_of_5000_digits_at_the_notify_listener_is_400():
    async with EventListener(LeanHttpClient(), bind_host="127.0.0.1") as listener:
        port = listener.port
        body = (
            b'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">'
            b"<e:property><A>1</A></e:property></e:propertyset>"
        )
        notify = (
            f"NOTIFY /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
            f"NT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:nobody\r\nSEQ: {DIGITS}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        status, _, _ = await exchange(port, notify)
        assert status == 400
        ok = notify.replace(DIGITS.encode(), b"0")
        assert (await exchange(port, ok))[0] == 412  # unknown SID: the listener is fine


@pytest.mark.parametrize(
    "length",
    [DIGITS[:25], "0" * 30 + "1"],
)
async def test_a_content_length_of_many_digits_is_refused(device, length):
    port = device.port
    raw = post(port, b"").replace(b"Content-Length: 0", f"Content-Length: {length}".encode())
    status, _, _ = await exchange(port, raw)
    assert status in (400, 413)
    await still_serves(port)
