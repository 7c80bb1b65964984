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


# ------------------------------------------------------------ item 6: chunk sizes


@pytest.mark.parametrize("size", ["4001", "ffffffffffffffff", "0" * 20 + "1", "f" * 40])
async def test_a_chunk_size_over_the_body_cap_is_413_at_once(device, size):
    port = device.port
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await exchange(port, chunked(port, f"{size}\r\n".encode()), timeout=5)
    assert status == (413 if len(size) <= 20 else 400)  # over 20 digits: not a size we read
    assert loop.time() - started < 1  # used to hang until the 30 s body timeout
    await still_serves(port)


async def test_the_header_name_s_case_does_not_hide_a_chunked_body(device):
    port = device.port
    raw = chunked(port, b"4001\r\n").replace(b"Transfer-Encoding", b"tRANSFER-eNCODING")
    assert (await exchange(port, raw))[0] == 413


async def test_chunks_adding_up_over_the_cap_are_413_before_the_data(device):
    port = device.port
    chunk = b"%x\r\n" % 10_000 + b"x" * 10_000 + b"\r\n"
    raw = chunked(port, chunk + b"%x\r\n" % 10_000)  # the second size passes 16 KiB
    status, _, _ = await exchange(port, raw)
    assert status == 413


# ------------------------------------------------- item 8: exact answers (HTTP framing)


async def test_a_transfer_coding_other_than_chunked_is_501(device):
    port = device.port
    status, _, _ = await exchange(port, chunked(port, b"0\r\n\r\n", coding="gzip, chunked"))
    assert status == 501
    status, _, _ = await exchange(port, chunked(port, b"0\r\n\r\n", coding="chunked, chunked"))
    assert status == 400  # chunked twice: framing llhttp refuses
    await still_serves(port)


async def test_chunk_extensions_over_256_bytes_are_400(device):
    port = device.port
    body = ENVELOPE.format(ACTION).encode()
    for extension, answer in ((b";a=" + b"b" * 300, 400), (b";a=" + b"b" * 250, 200)):
        raw = chunked(port, b"%x%s\r\n%s\r\n0\r\n\r\n" % (len(body), extension, body))
        status, _, reply = await exchange(port, raw)
        assert status == answer, reply
    assert b"GetProtocolInfoResponse" in reply  # a short extension is fine


async def test_a_request_line_without_a_version_is_400(device):
    port = device.port
    raw = f"GET /xml/device_description.xml\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    status, _, body = await exchange(port, raw)
    assert status == 400 and b"without an HTTP version" in body


async def test_a_chunked_request_and_a_pipelined_one_after_it_are_both_answered(device):
    port = device.port
    body = ENVELOPE.format(ACTION).encode()
    first = chunked(port, b"%x;n=v\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (len(body), body))
    second = f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(first + second.encode())
        data = await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b"GetProtocolInfoResponse" in data and b"<root" in data


def test_every_cut_of_the_bytes_between_reads_gives_the_same_answers():
    # The head/body cut points are ours (B9): whatever the reads, llhttp sees every byte in order.
    from tests.aio.test_server_http import _Transport
    from upnpcm.aio.http_server import HttpLimits, HttpProtocol
    from upnpcm.core.http import HttpResponse

    body = ENVELOPE.format(ACTION).encode()
    stream = (
        post(1400, body)
        + chunked(1400, b"%x;e=1\r\n%s\r\n0\r\nT: 1\r\n\r\n" % (len(body), body))
        + b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:1400\r\n\r\n"
        + post(1400, b"")
    )

    def answers(cuts: list[int]) -> list[tuple[str, bytes]]:
        seen: list[tuple[str, bytes]] = []

        def handler(request):
            seen.append((request.method, request.body))
            return HttpResponse(status=200, body=b"ok"), None

        async def run() -> None:
            protocol = HttpProtocol(handler, HttpLimits())
            protocol.connection_made(_Transport())
            start = 0
            for cut in [*cuts, len(stream)]:
                protocol.data_received(stream[start:cut])
                start = cut

        asyncio.run(run())
        return seen

    expected = [("POST", body), ("POST", body), ("GET", b""), ("POST", b"")]
    assert answers([]) == expected
    for cut in range(1, len(stream)):
        assert answers([cut]) == expected, cut
    assert answers(list(range(1, len(stream)))) == expected  # one byte a read


# ------------------------------------------------------- item 8: exact answers (SOAP, GENA)


async def test_two_soap_bodies_are_400_and_two_actions_the_401_fault(device):
    port = device.port
    two_bodies = ENVELOPE.format(ACTION).replace("</s:Envelope>", "<s:Body/></s:Envelope>")
    status, _, reply = await exchange(port, post(port, two_bodies.encode()))
    assert (status, b"more than one Body" in reply) == (400, True)
    two_actions = ENVELOPE.format(ACTION + ACTION)
    status, _, reply = await exchange(port, post(port, two_actions.encode()))
    assert status == 500 and b"<errorCode>401</errorCode>" in reply
    await still_serves(port)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (f'SOAPACTION: "{CM}#GetCurrentConnectionIDs"\r\n', 400),
        ("Content-Type: application/json\r\n", 400),
        (f'SOAPACTION:  "{CM}#GetProtocolInfo" \r\n', 200),  # the same value twice: fine
        ("Content-Type: text/xml\r\n", 200),
    ],
)
async def test_conflicting_duplicate_soapaction_or_content_type_is_400(device, extra, status):
    port = device.port
    got, _, reply = await exchange(port, post(port, ENVELOPE.format(ACTION).encode(), extra=extra))
    assert got == status, reply
    if status == 400:
        assert b"conflicting" in reply


@pytest.mark.parametrize("callback", ["<http://127.0.0.1:0/cb>", "<http://127.0.0.1:00/cb>"])
async def test_a_callback_on_port_0_is_412(device, callback):
    port = device.port
    raw = (
        f"SUBSCRIBE {EVENT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCALLBACK: {callback}\r\n"
        "NT: upnp:event\r\nTIMEOUT: Second-1800\r\n\r\n"
    ).encode()
    status, _, _ = await exchange(port, raw)
    assert status == 412
    table = device.core.table(EVENT)
    assert table is not None and len(table) == 0


# --------------------------------------------- item 3: a refused client sees the 503


async def test_a_refused_client_reads_its_503_not_a_reset(tmp_path):
    # The device runs in its own process (real concurrency): closing a refused connection
    # with its request unread made the kernel reset it, and most clients saw only the reset.
    from tests.helpers.processes import start_serve, stop

    config = tmp_path / "upnpcm.toml"
    config.write_text("[http]\nmax_connections = 2\nmax_connections_per_peer = 1\n")
    proc, match = start_serve(
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-ssdp",
        "--state-dir",
        str(tmp_path),
        "--config",
        str(config),
    )
    port = int(match.group(1))
    held = []
    try:
        for source in ("127.0.12.1", "127.0.12.2"):  # the global cap, full
            held.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)))
        request = f"GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        answers: dict[str, int] = {}
        for i in range(200):  # over the per-peer cap (127.0.12.1), then over the global one
            source = "127.0.12.1" if i % 2 else "127.0.12.3"
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            writer.write(request.encode())
            try:
                answer = (await asyncio.wait_for(reader.read(), 3))[:12].decode() or "EOF"
            except ConnectionResetError:
                answer = "reset"
            finally:
                writer.close()
            answers[answer] = answers.get(answer, 0) + 1
        assert answers == {"HTTP/1.1 503": 200}
    finally:
        for _, writer in held:
            writer.close()
        stop(proc)


async def test_refused_connections_waiting_for_their_peer_are_bounded(tmp_path):
    from upnpcm.aio.http_server import HttpLimits
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False),
        state_dir=tmp_path,
        http_limits=HttpLimits(max_connections=1, max_connections_per_peer=1, max_refusing=5),
    )
    async with host:
        port, gate = host.port, host.server.gate
        held = [await asyncio.open_connection("127.0.0.1", port)]
        for i in range(40):  # refused, and never hang up
            held.append(
                await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.14.{i}", 0))
            )
        await asyncio.sleep(0.2)
        assert gate.refused == 40 and gate.refusing == 5
        for reader, _ in held[1:]:  # every one of them got its 503 all the same
            assert (await asyncio.wait_for(reader.read(), 3)).startswith(b"HTTP/1.1 503")
        await asyncio.sleep(1.2)  # the grace is over
        assert gate.refusing == 0
        for _, writer in held:
            writer.close()


# ---------------------------------- item 7: at the fd limit, the listener backs off quietly

LISTENER = """
import asyncio, logging, resource, sys
from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import LeanHttpClient
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
async def main():
    async with EventListener(LeanHttpClient(), bind_host="127.0.0.1") as listener:
        print(listener.port, flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""


async def test_at_the_fd_limit_the_listener_writes_one_warning_and_recovers():
    import subprocess
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LISTENER, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    held = []
    try:
        port = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        for i in range(120):  # far over 48 descriptors, under the per-peer and global caps
            try:
                held.append(
                    await asyncio.wait_for(
                        asyncio.open_connection(
                            "127.0.0.1", port, local_addr=(f"127.0.15.{i % 10}", 0)
                        ),
                        0.5,
                    )
                )
            except (OSError, TimeoutError):
                break  # the backlog is full: the listener is not accepting
        await asyncio.sleep(1.5)  # asyncio retries the accept every second
        for _, writer in held:
            writer.close()
        await asyncio.sleep(1.5)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        status = (await asyncio.wait_for(reader.readline(), 5)).split()[1]
        writer.close()
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert status == b"405"  # answered again (only NOTIFY is allowed)
    lines = err.decode().splitlines()
    assert "Traceback" not in err.decode()
    assert len(lines) == 1 and "file descriptors" in lines[0], lines


@pytest.mark.parametrize(("body", "status"), [(b"4001\r\n", b"413"), (b"0\r\n\r\n", b"501")])
async def test_a_chunked_request_after_another_in_the_same_read_is_still_checked(
    device, body, status
):
    port = device.port
    first = post(port, ENVELOPE.format(ACTION).encode())
    coding = "chunked" if status == b"413" else "gzip, chunked"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(first + chunked(port, body, coding=coding))  # one write: one read
        data = await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"HTTP/1.1 " + status in data
