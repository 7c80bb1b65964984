"""HttpProtocol with answers that take time (a future): order, other connections, limits.

A bare HttpProtocol server on 127.0.0.1 port 0 whose handler answers
``/slow`` with a future the test completes, anything else at once.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from upnpcm.aio.http_server import HttpLimits, HttpProtocol, Reply
from upnpcm.core.http import HttpRequest, HttpResponse


class App:
    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[Reply]] = []
        self.seen: list[str] = []
        self.after: list[str] = []

    def __call__(self, request: HttpRequest) -> Reply | asyncio.Future[Reply]:
        self.seen.append(request.path)
        if request.path.startswith("/slow"):
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self.waiting.append(future)
            return future
        return HttpResponse(status=200, body=request.path.encode()), lambda: self.after.append(
            request.path
        )

    def finish(self, body: bytes, *, path: str = "slow") -> None:
        future = self.waiting.pop(0)
        future.set_result((HttpResponse(status=200, body=body), lambda: self.after.append(path)))


@contextlib.asynccontextmanager
async def serve(app: App, limits: HttpLimits | None = None):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpProtocol(app, limits or HttpLimits()), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def get(path: str, *, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    bodies = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        bodies.append(await reader.readexactly(length))
    return bodies


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_pipelined_requests_wait_behind_a_pending_answer_and_keep_their_order():
    app = App()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/a") + get("/slow") + get("/b") + get("/c"))
        assert await read_responses(reader, 1) == [b"/a"]
        await wait_until(lambda: app.waiting)
        await asyncio.sleep(0.1)
        assert app.seen == ["/a", "/slow"]  # /b and /c wait behind /slow, unanswered
        app.finish(b"slow done")
        assert await read_responses(reader, 3) == [b"slow done", b"/b", b"/c"]
        assert app.seen == ["/a", "/slow", "/b", "/c"]
        await wait_until(lambda: len(app.after) == 4)
        assert app.after == ["/a", "slow", "/b", "/c"]  # each after its own response
        writer.write(get("/d"))  # reading resumed
        assert await read_responses(reader, 1) == [b"/d"]
        writer.close()


async def test_other_connections_are_answered_while_one_waits():
    app = App()
    async with serve(app) as port:
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
        slow_writer.write(get("/slow"))
        await wait_until(lambda: app.waiting)
        for i in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(get(f"/quick{i}", close=True))
            assert await read_responses(reader, 1) == [f"/quick{i}".encode()]
            writer.close()
        app.finish(b"late")
        assert await read_responses(slow_reader, 1) == [b"late"]
        slow_writer.close()


async def test_a_second_deferred_answer_behind_the_first():
    app = App()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/slow1") + get("/slow2") + get("/x"))
        await wait_until(lambda: len(app.waiting) == 1)
        app.finish(b"one")
        await wait_until(lambda: len(app.waiting) == 1 and app.seen[-1] == "/slow2")
        assert app.seen == ["/slow1", "/slow2"]
        app.finish(b"two")
        assert await read_responses(reader, 3) == [b"one", b"two", b"/x"]
        writer.close()


async def test_too_many_requests_behind_a_pending_answer_close_after_what_is_owed():
    app = App()
    async with serve(app, HttpLimits(max_pipelined=2)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/slow") + b"".join(get(f"/p{i}") for i in range(5)))
        await wait_until(lambda: app.waiting)
        await asyncio.sleep(0.1)
        app.finish(b"owed")
        bodies = await read_responses(reader, 3)
        assert bodies == [b"owed", b"/p0", b"/p1"]  # the two kept; the rest never answered
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed
        writer.close()


async def test_a_failed_future_is_a_500_and_the_connection_closes():
    app = App()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/slow"))
        await wait_until(lambda: app.waiting)
        app.waiting.pop().cancel()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 500")
        assert b"Connection: close" in head
        writer.close()


async def test_a_peer_gone_before_the_answer_costs_nothing():
    app = App()
    async with serve(app) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/slow") + get("/after"))
        await wait_until(lambda: app.waiting)
        writer.close()
        await asyncio.sleep(0.1)
        app.finish(b"nobody")  # nobody reads it: no error, nothing kept
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/next", close=True))
        assert await read_responses(reader, 1) == [b"/next"]
        writer.close()


@pytest.mark.parametrize("method", ["HEAD"])
async def test_a_deferred_head_answer_has_no_body(method):
    app = App()
    async with serve(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() + get("/z"))
        await wait_until(lambda: app.waiting)
        app.finish(b"twelve bytes")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"Content-Length: 12" in head
        assert await read_responses(reader, 1) == [b"/z"]  # no body bytes in between
        writer.close()


async def test_a_request_begun_behind_a_pending_answer_keeps_its_bytes_when_the_reaper_sweeps():
    # The read that held /slow also held the start of the next request; llhttp holds
    # those bytes. Once /slow is answered the connection is not idle: a reaper sweep
    # must not drop the parser (and with it the start of that request).
    app = App()
    protocols: list[HttpProtocol] = []

    def make() -> HttpProtocol:
        protocol = HttpProtocol(app, HttpLimits())
        protocols.append(protocol)
        return protocol

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        nxt = get("/next")
        writer.write(get("/slow") + nxt[:10])
        await wait_until(lambda: bool(app.waiting))
        app.finish(b"late")
        assert await read_responses(reader, 1) == [b"late"]
        (protocol,) = protocols
        protocol.expire(loop.time())  # what reap_connections does every 0.5 s
        writer.write(nxt[10:])
        assert await read_responses(reader, 1) == [b"/next"]
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
