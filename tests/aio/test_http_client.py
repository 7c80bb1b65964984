"""The HTTP clients against raw loopback servers: slow bodies, interim replies, upgrades, cancel.

The asyncio clients (lean, aiohttp) and the blocking one (in a worker thread, so that the
servers here keep running) must give the same replies and the same errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from upnpcm.aio.http_client import AiohttpHttpClient, HttpClient, HttpReply, LeanHttpClient
from upnpcm.blocking import BlockingHttpClient
from upnpcm.errors import ConnectError, LocalProtocolError, TransportError, UpnpTimeoutError

BODY = b"<x>" + b"a" * 200_000 + b"</x>"

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    """A bare TCP server on 127.0.0.1; yields its base URL."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client hung up first: fine for these tests
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """200 KB in 10 KB pieces with small pauses (more than one socket read's worth)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(BODY)
    )
    for start in range(0, len(BODY), 10_000):
        writer.write(BODY[start : start + 10_000])
        await writer.drain()
        await asyncio.sleep(0.005)


class ThreadedHttp:
    """:class:`BlockingHttpClient`, awaited: each request in a worker thread."""

    def __init__(self, **settings: Any) -> None:
        self.inner = BlockingHttpClient(**settings)

    async def request(self, method: str, url: str, **options: Any) -> HttpReply:
        return await asyncio.to_thread(self.inner.request, method, url, **options)

    async def close(self) -> None:
        self.inner.close()


def lean_or_blocking(kind: str, **settings: Any) -> LeanHttpClient | ThreadedHttp:
    return LeanHttpClient(**settings) if kind == "lean" else ThreadedHttp(**settings)


BOTH_LEAN = pytest.mark.parametrize("kind", ["lean", "blocking"])


@asynccontextmanager
async def each_client(kind: str) -> AsyncIterator[HttpClient]:
    if kind != "aiohttp":
        yield lean_or_blocking(kind)
        return
    async with aiohttp.ClientSession() as session:
        yield AiohttpHttpClient(session)


@pytest.mark.parametrize("kind", ["lean", "aiohttp", "blocking"])
async def test_a_body_sent_in_pieces_is_read_whole(kind: str) -> None:
    async with raw_server(trickle) as base, each_client(kind) as client:
        reply = await client.request("GET", f"{base}/desc.xml")
    assert (reply.status, len(reply.body)) == (200, len(BODY))
    assert reply.body == BODY


@pytest.mark.parametrize("kind", ["lean", "aiohttp", "blocking"])
async def test_a_body_over_the_cap_is_the_same_error_for_both_clients(kind: str) -> None:
    async with raw_server(trickle) as base, each_client(kind) as client:
        with pytest.raises(TransportError, match=r"is larger than 100000 bytes"):
            await client.request("GET", f"{base}/desc.xml", max_bytes=100_000)
        exact = await client.request("GET", f"{base}/desc.xml", max_bytes=len(BODY))
    assert exact.body == BODY  # exactly at the cap is fine


@BOTH_LEAN
async def test_interim_1xx_replies_are_skipped(kind: str) -> None:
    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello"
        )
        await writer.drain()

    async with raw_server(interim) as base:
        client = lean_or_blocking(kind)
        reply = await client.request("POST", f"{base}/ctl", body=b"x", timeout=5)
        assert (reply.status, reply.body) == (200, b"hello")
        assert reply.headers.get("X-Final") == "yes"
        assert reply.headers.get("Link") is None  # the interim head is not the reply's
        head = await client.request("NOTIFY", f"{base}/cb", head_only=True, timeout=5)
        assert head.status == 200


@BOTH_LEAN
async def test_interim_reply_alone_is_not_an_answer(kind: str) -> None:
    async def only_interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()

    async with raw_server(only_interim) as base:
        with pytest.raises(TransportError, match="connection closed before a complete reply"):
            await lean_or_blocking(kind).request("GET", f"{base}/x", timeout=5)


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nxyz",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
)
@BOTH_LEAN
async def test_a_protocol_upgrade_is_a_clean_transport_error(
    kind: str, reply: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(0.5)

    async with raw_server(upgrade) as base:
        with pytest.raises(TransportError, match=r"101|upgrade"):
            await lean_or_blocking(kind).request("GET", f"{base}/d.xml", timeout=3)
    assert "Fatal error" not in caplog.text


async def test_cancelling_a_request_leaves_no_unretrieved_future() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)

    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with raw_server(silent) as base:
            for spins in range(10):  # cancel at every stage: connecting, connected, reading
                task = asyncio.create_task(LeanHttpClient().request("GET", f"{base}/x"))
                for _ in range(spins):
                    await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await asyncio.sleep(0.02)  # let the transport close and connection_lost run
                gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("message") for c in reported] == []


@BOTH_LEAN
async def test_a_connect_that_hangs_is_a_timeout_error(kind: str) -> None:
    """A listener whose accept queue is full drops SYNs: the connect hangs (Linux, loopback)."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(
            UpnpTimeoutError, match=r"cannot connect to 127\.0\.0\.1:\d+: no answer"
        ):
            await lean_or_blocking(kind, connect_timeout=0.3).request(
                "GET", f"http://127.0.0.1:{port}/", timeout=5
            )
        assert time.monotonic() - started < 2
    finally:
        for sock in (*fillers, listener):
            sock.close()


@BOTH_LEAN
async def test_non_ascii_and_spaces_in_the_target_are_percent_encoded(kind: str) -> None:
    lines: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append(await reader.readline())
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with raw_server(record) as base:
        client = lean_or_blocking(kind)
        await client.request("GET", f"{base}/x/\u20ac dir/a%20b.xml?q=\u00e9 1&r=%41")
        with pytest.raises(LocalProtocolError, match="not a usable URL"):
            await client.request("GET", "http://[::1/x.xml")
    assert lines == [b"GET /x/%E2%82%AC%20dir/a%20b.xml?q=%C3%A9%201&r=%41 HTTP/1.1\r\n"]


@BOTH_LEAN
async def test_a_refused_connection_says_so_in_the_same_words(kind: str) -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    with pytest.raises(ConnectError) as info:
        await lean_or_blocking(kind).request("GET", f"http://127.0.0.1:{port}/", timeout=5)
    assert str(info.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


@BOTH_LEAN
async def test_a_reply_that_never_completes_is_a_timeout_naming_the_request(kind: str) -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(2)

    async with raw_server(half) as base:
        started = time.monotonic()
        with pytest.raises(UpnpTimeoutError) as info:
            await lean_or_blocking(kind).request("GET", f"{base}/x", timeout=0.3)
    assert str(info.value) == f"GET {base}/x: no complete reply within 0.3 s"
    assert time.monotonic() - started < 1.5


@BOTH_LEAN
async def test_a_body_that_ends_with_the_connection_is_read_whole(kind: str) -> None:
    async def unframed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil ")
        await writer.drain()
        writer.write(b"close")
        await writer.drain()

    async with raw_server(unframed) as base:
        reply = await lean_or_blocking(kind).request("GET", f"{base}/x", timeout=5)
    assert (reply.status, reply.body) == (200, b"until close")
