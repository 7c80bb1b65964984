"""Connection count, pipelining, head size, 100-continue and stop() on real loopback sockets."""

import asyncio
import contextlib
import socket
import time

import pytest

from upnpcm.aio.http_server import HttpLimits
from upnpcm.aio.server import DeviceServer

DESCRIPTION = "/xml/device_description.xml"
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
CONTROL = "/MediaRenderer/ConnectionManager/Control"


def soap_head(port: int, content_length: int, extra: str = "") -> bytes:
    """The head of a GetProtocolInfo POST announcing ``content_length``; ``extra`` header lines."""
    return (
        f"POST {CONTROL} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\n{extra}Content-Length: {content_length}\r\n\r\n'
    ).encode()


def get_request(port: int, *, close: bool = False, extra: str = "") -> bytes:
    return (
        f"GET {DESCRIPTION} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    ).encode()


async def status_of(port: int, raw: bytes, *, timeout: float = 5.0) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return int(line.split()[1])
    finally:
        writer.close()


def test_limits_pin_security_md():
    limits = HttpLimits()
    assert limits.max_connections == 64
    assert limits.max_connections_per_peer == 8
    assert limits.max_head == 16 * 1024
    assert limits.max_write_buffer == 256 * 1024


# ---------------------------------------------------------------- connection cap


async def test_connections_over_the_cap_are_refused_and_the_server_recovers(device):
    port = device.port
    cap = device.server.limits.max_connections
    hogs: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for i in range(cap + 10):  # from many addresses: the per-peer cap is not the point here
            source = f"127.0.9.{1 + i // 4}"
            hogs.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)))
        deadline = time.monotonic() + 5
        while device.server.refused_connections < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(device.server.connections) == cap

        async def answer(reader: asyncio.StreamReader) -> bytes:
            with contextlib.suppress(TimeoutError, ConnectionError):
                return await asyncio.wait_for(reader.read(), 2.0)
            return b"(still open)"

        started = time.monotonic()
        answers = await asyncio.gather(*(answer(r) for r, _ in hogs))
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(refused) == 10  # the extra ones: a 503, then closed
        assert sum(1 for a in answers if a == b"(still open)") == cap
        assert time.monotonic() - started < 3  # promptly, not after a timeout
        assert device.server.refused_connections == 10
    finally:
        for _, writer in hogs:
            writer.close()
    deadline = time.monotonic() + 5
    while device.server.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert await status_of(port, get_request(port, close=True)) == 200


async def test_connection_cap_is_configurable(tmp_path):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False),
        state_dir=tmp_path,
        http_limits=HttpLimits(max_connections=2, max_connections_per_peer=2),
    )
    async with host:
        server = host.server
        port = server.port
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        try:
            assert await status_of(port, get_request(port, close=True), timeout=2) == 503
        finally:
            for _, writer in held:
                writer.close()
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert await status_of(port, get_request(port, close=True)) == 200


async def _slow_connections(port: int, source: str, count: int):
    """``count`` connections from ``source`` that send a byte of a head now and then."""
    held = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(b"G")
        held.append((reader, writer))
    return held


async def test_one_host_cannot_take_the_whole_connection_budget(device):
    # Issue-12 regression: 64 slow connections from one address used to make
    # every other client's request a 503.
    port = device.port
    per_peer = device.server.limits.max_connections_per_peer
    assert per_peer < device.server.limits.max_connections
    held = await _slow_connections(port, "127.0.10.1", per_peer + 5)
    try:
        answers = []
        for reader, _ in held[per_peer:]:
            answers.append(await asyncio.wait_for(reader.read(), 2.0))
        assert all(a.startswith(b"HTTP/1.1 503") for a in answers), answers
        assert b"Retry-After: 1" in answers[0]
        for _, writer in held[:per_peer]:
            writer.write(b"E")  # still trickling
        statuses = [
            await status_of(port, get_request(port, close=True)) for _ in range(30)
        ]  # another host (127.0.0.1): every request answered
        assert statuses == [200] * 30
        assert device.server.refused_connections == 5
    finally:
        for _, writer in held:
            writer.close()


async def test_the_per_peer_cap_is_released_when_connections_close(device):
    port = device.port
    per_peer = device.server.limits.max_connections_per_peer
    held = await _slow_connections(port, "127.0.10.2", per_peer)
    for _, writer in held:
        writer.close()
    deadline = time.monotonic() + 5
    while device.server.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    again = await _slow_connections(port, "127.0.10.2", per_peer)
    try:
        await asyncio.sleep(0.2)
        assert device.server.refused_connections == 0
        assert len(device.server.connections) == per_peer
    finally:
        for _, writer in again:
            writer.close()


async def test_per_peer_cap_is_configurable(tmp_path):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False),
        state_dir=tmp_path,
        http_limits=HttpLimits(max_connections_per_peer=1),
    )
    async with host:
        port = host.server.port
        held = await _slow_connections(port, "127.0.0.1", 1)
        try:
            assert await status_of(port, get_request(port, close=True), timeout=2) == 503
        finally:
            for _, writer in held:
                writer.close()


async def test_connection_caps_come_from_the_settings_file(tmp_path):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import load_settings

    config = tmp_path / "upnpcm.toml"
    config.write_text(
        '[network]\nhost = "127.0.0.1"\nport = 0\nssdp = false\n'
        "[http]\nmax_connections = 3\nmax_connections_per_peer = 2\nheader_timeout = 7\n",
        encoding="utf-8",
    )
    host = DeviceHost(load_settings(config), state_dir=tmp_path)
    limits = host.server.limits
    assert (limits.max_connections, limits.max_connections_per_peer) == (3, 2)
    assert limits.header_timeout == 7 and limits.max_body == host.core.limits.max_body
    async with host:
        port = host.server.port
        held = await _slow_connections(port, "127.0.0.1", 2)
        try:  # a third from the same address: over the per-peer cap of the file
            assert await status_of(port, get_request(port, close=True), timeout=2) == 503
            held += await _slow_connections(port, "127.0.11.1", 1)
            # the global cap of 3 is full: another address is refused too
            other = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.11.2", 0))
            assert (await asyncio.wait_for(other[0].read(), 2)).startswith(b"HTTP/1.1 503")
            other[1].close()
        finally:
            for _, writer in held:
                writer.close()


# ------------------------------------------------------------------- pipelining


def non_reading_socket(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def push(sock: socket.socket, payload: bytes, *, rounds: int = 200) -> int:
    """Send as much of ``payload`` as the server takes; bounded in rounds and time."""
    sent = 0
    for _ in range(rounds):
        with contextlib.suppress(BlockingIOError, ConnectionError):
            sent += sock.send(payload[sent:])
        if sent >= len(payload):
            break
        await asyncio.sleep(0.005)
    return sent


async def test_pipelining_without_reading_keeps_server_buffers_bounded(device):
    port = device.port
    limits = device.server.limits
    request = get_request(port)
    payload = request * ((1 << 20) // len(request))  # about 1 MiB of pipelined GETs
    socks = [non_reading_socket(port) for _ in range(4)]
    try:
        for sock in socks:
            await push(sock, payload)
        await asyncio.sleep(0.3)
        buffered = [p.write_buffer_size() for p in device.server.connections]
        assert buffered, "the connections should still hold their unread responses"
        # One response may cross the limit; nothing near the 1 MiB x 2.2 KiB/67 B amplification.
        assert max(buffered) <= limits.max_write_buffer + 64 * 1024
    finally:
        for sock in socks:
            sock.close()


async def test_a_reading_pipeliner_gets_every_answer(device):
    port = device.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(get_request(port) * 20 + get_request(port, close=True))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert data.count(b"HTTP/1.1 200 OK") == 21


async def test_a_closing_connection_that_is_never_read_is_aborted(device):
    server = DeviceServer(
        device.core,
        host="127.0.0.1",
        port=0,
        limits=HttpLimits(linger_timeout=0.5, max_write_buffer=16 * 1024),
    )
    async with server:
        port = server.port
        request = get_request(port)
        sock = non_reading_socket(port)
        try:
            await push(sock, request * 4000)
            await asyncio.sleep(0.2)
            held = list(server.connections)
            deadline = time.monotonic() + 5
            while any(p.is_open for p in held) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not any(p.is_open for p in held)
        finally:
            sock.close()


# ---------------------------------------------------------------------- stop()


async def test_stop_closes_connections_whose_peer_never_reads(tmp_path):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False), state_dir=tmp_path)
    await host.start()
    port = host.port
    sock = non_reading_socket(port)
    try:
        await push(sock, get_request(port) * 2000, rounds=50)
        await asyncio.sleep(0.3)
        held = list(host.server.connections)
        assert held and any(p.write_buffer_size() > 0 for p in held)
        started = time.monotonic()
        await asyncio.wait_for(host.stop(), 10)
        assert time.monotonic() - started < 3
        await asyncio.sleep(0.05)
        assert not any(p.is_open for p in held)
        assert not host.server.connections
    finally:
        sock.close()


# ------------------------------------------------------------------- head size


@pytest.mark.parametrize("pads", [3, 10])
async def test_head_over_16_kib_in_one_write_is_431(device, pads):
    port = device.port
    extra = "".join(f"X-Pad-{i}: {'a' * 8000}\r\n" for i in range(pads))  # 23 KiB, 78 KiB
    raw = get_request(port, close=True, extra=extra)
    assert len(raw) > 16 * 1024
    assert await status_of(port, raw) == 431
    assert await status_of(port, get_request(port, close=True)) == 200


async def test_head_over_16_kib_in_small_writes_is_431(device):
    port = device.port
    extra = "".join(f"X-Pad-{i}: {'a' * 4000}\r\n" for i in range(5))
    raw = get_request(port, close=True, extra=extra)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for offset in range(0, len(raw), 1000):
            writer.write(raw[offset : offset + 1000])
            await writer.drain()
            await asyncio.sleep(0.001)
        line = await asyncio.wait_for(reader.readline(), 5)
    except ConnectionError:
        line = b"HTTP/1.1 431 (reset while sending)"
    finally:
        writer.close()
    assert line.split()[1] == b"431"


async def test_normal_2_kib_head_is_fine(device):
    port = device.port
    extra = "".join(f"X-Pad-{i}: {'a' * 190}\r\n" for i in range(10))
    raw = get_request(port, close=True, extra=extra)
    assert 2000 < len(raw) < 16 * 1024
    assert await status_of(port, raw) == 200


# ------------------------------------------------------------------ 100-continue


async def test_expect_continue_with_oversize_body_gets_413_and_no_100(device):
    port = device.port
    raw = soap_head(port, 1024 * 1024, "Expect: 100-continue\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in data


async def test_expect_continue_with_acceptable_body_gets_100_then_200(device):
    from upnpcm.core.soap import build_action_request

    port = device.port
    _, body = build_action_request(CM, "GetProtocolInfo", [])
    head = soap_head(port, len(body), "Expect: 100-continue\r\nConnection: close\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        await writer.drain()
        final = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert final.startswith(b"HTTP/1.1 200 ")


# -------------------------------------------------------------------- timeouts

# Distinct, so a test can tell which deadline cut a connection (swept every 0.5 s).
TIMEOUTS = HttpLimits(header_timeout=0.6, body_timeout=1.2, keepalive_timeout=1.8)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """Read until the server closes; (what arrived, seconds it took)."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), seconds)
    return data, time.monotonic() - started


@contextlib.asynccontextmanager
async def timed_connection(core):
    """A server with TIMEOUTS and one client connection to it: (request, reader, writer)."""
    async with DeviceServer(core, host="127.0.0.1", port=0, limits=TIMEOUTS) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            yield soap_post(server.port, GPI_BODY), reader, writer
        finally:
            writer.close()


def soap_post(port: int, body: bytes) -> bytes:
    return soap_head(port, len(body)) + body


GPI_BODY = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<s:Body><u:GetProtocolInfo xmlns:u="urn:schemas-upnp-org:service:ConnectionManager:1"/>'
    b"</s:Body></s:Envelope>"
)


@pytest.mark.parametrize(
    "stall",
    [
        "head",  # part of a head, then nothing (header_timeout)
        "body",  # a whole head, part of its body, then nothing (body_timeout)
        "idle",  # one answered request on a kept-alive connection, then nothing
        "next head",  # one answered request, then part of the next head (header_timeout)
    ],
)
async def test_a_stalled_peer_is_disconnected_after_its_timeout(device, stall):
    timeout = {
        "head": TIMEOUTS.header_timeout,
        "body": TIMEOUTS.body_timeout,
        "idle": TIMEOUTS.keepalive_timeout,
        "next head": TIMEOUTS.header_timeout,
    }[stall]
    async with timed_connection(device.core) as (request, reader, writer):
        if stall == "next head":
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
            await asyncio.sleep(0.2)  # idle for a while, under the keep-alive timeout
        writer.write(
            {"head": request[:30], "body": request[:-20], "idle": request}.get(stall, request[:30])
        )
        await writer.drain()
        data, took = await closed_within(reader, 5)
        if stall == "idle":
            assert data.startswith(b"HTTP/1.1 200 OK")
        else:
            assert data == b""  # nothing (more) answered: just disconnected
        assert timeout - 0.05 < took < timeout + 0.8  # swept every 0.5 s


async def test_a_body_in_several_writes_within_the_timeout_is_answered(device):
    async with timed_connection(device.core) as (request, reader, writer):
        cut = len(request) - len(GPI_BODY) // 2
        writer.write(request[:cut])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(request[cut:])
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.startswith(b"HTTP/1.1 200")
        # Answered: now the keep-alive wait applies, then the close.
        _, took = await closed_within(reader, 5)
        assert TIMEOUTS.keepalive_timeout - 0.05 < took < TIMEOUTS.keepalive_timeout + 0.8


async def test_a_busy_kept_alive_connection_is_not_cut_by_old_deadlines(device):
    # Requests one after another for longer than every timeout: each answered
    # request re-arms the deadline, so none of them is cut off.
    async with timed_connection(device.core) as (request, reader, writer):
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 2.5:  # bounded: about 2.5 s
            writer.write(request[:-10])
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(request[-10:])
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            answered += 1
        assert answered >= 12


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_connections": 0}, "max_connections must be a positive"),
        ({"keepalive_timeout": float("nan")}, "keepalive_timeout must be a positive"),
        ({"body_timeout": float("inf")}, "finite"),
        ({"max_connections": 2}, r"max_connections_per_peer \(8\) must not exceed"),
    ],
)
def test_http_limits_check_themselves(values, message):
    # The one check of these values: the TOML loader reports the same text as a ConfigError.
    with pytest.raises(ValueError, match=message):
        HttpLimits(**values)


def test_the_listen_backlog_holds_a_burst_of_new_connections(device):
    """LISTEN_BACKLOG, not asyncio's 100: the kernel's Send-Q of a listening socket is its backlog."""
    import subprocess
    from pathlib import Path

    from upnpcm.aio.http_server import LISTEN_BACKLOG

    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{device.port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.split()
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert int(listing[2]) == min(LISTEN_BACKLOG, somaxconn) > 100
