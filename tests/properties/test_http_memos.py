"""M5, M6 at the HTTP layer: remembered heads and whole requests change no byte on the wire.

The same arbitrary byte streams (the framing fuzz target's: valid and broken
heads, chunked and Content-Length bodies, pipelining), cut into the same reads,
arrive on several connections of one server, once with a shared
:class:`HeadMemo` and a memory of whole requests and once without. What is
written back (but for the Date line) and whether the connection is closed
must be the same, and so must the requests the handler reads where it reads them.
"""

from __future__ import annotations

import asyncio
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.test_adapter_parsers import STREAMS, _Transport
from upnpcm.aio.http_server import HttpLimits, HttpProtocol
from upnpcm.core.http import Headers, HttpRequest, HttpResponse
from upnpcm.core.memo import HeadMemo, KnownHead


def answer(request: HttpRequest) -> HttpResponse:
    """A pure function of everything the request holds."""
    seen = (request.method, request.path, request.query, request.headers.items, request.body)
    return HttpResponse(status=200, headers=(("X-Kind", "echo"),), body=repr(seen).encode())


class Memory:
    """Remembers every whole request handed over; recalls it by its bytes and address."""

    def __init__(self) -> None:
        self.kept: dict[tuple[bytes, str, int], tuple[HttpResponse, bool]] = {}
        self.recalled = 0

    def recall(self, raw: bytes, local: str, local_port: int) -> tuple[HttpResponse, bool] | None:
        found = self.kept.get((raw, local, local_port))
        self.recalled += found is not None
        return found

    def remember(self, raw: bytes, request: HttpRequest, keep_alive: bool) -> bool:
        self.kept[(raw, request.local, request.local_port)] = (answer(request), keep_alive)
        return True


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    """``stream`` as reads of the given sizes, the rest in a last one."""
    reads, start = [], 0
    for size in sorted(cuts):
        reads.append(stream[start : start + size])
        start += size
    reads.append(stream[start:])
    return [read for read in reads if read]


def serve(
    reads: list[bytes], connections: int, *, memos: bool, recall: bool = True
) -> tuple[list[tuple[bytes, bool]], list[HttpRequest], HeadMemo, Memory]:
    heads, memory = HeadMemo(enabled=memos), Memory()
    seen: list[HttpRequest] = []

    def handler(request: HttpRequest) -> tuple[HttpResponse, None]:
        seen.append(request)
        return answer(request), None

    async def run() -> list[tuple[bytes, bool]]:
        out = []
        for _ in range(connections):
            protocol = HttpProtocol(
                handler,
                HttpLimits(max_body=1024),
                local=("127.0.0.1", 1400),
                memory=memory if memos and recall else None,
                heads=heads if memos else None,
            )
            transport = _Transport()
            protocol.connection_made(transport)  # type: ignore[arg-type]
            for read in reads:
                protocol.data_received(read)
            protocol.connection_lost(None)
            wire = re.sub(rb"Date: [^\r]*\r\n", b"", b"".join(transport.written))
            out.append((wire, transport.closed))
        return out

    return asyncio.run(run()), seen, heads, memory


#: Few heads, bodies of any length (matching their Content-Length or not), a read each
#: or glued: the same head meets other bodies and pipelined requests.
FEW_HEADS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
                b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
                b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET /d HTTP/1.0\r\nHost: h\r\n\r\n",
                b"\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n",
                b"\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n",
                b"\r\n\r\n",
            ]
        ),
        st.sampled_from([b"", b"hello", b"HELLO", b"hello\r\n", b"hel", b"helloGET"]),
    ).map(b"".join),
    min_size=1,
    max_size=6,
)
READS = st.one_of(
    st.tuples(STREAMS, st.lists(st.integers(1, 400), max_size=4)).map(lambda p: cut(*p)),
    FEW_HEADS,
    st.tuples(FEW_HEADS, st.integers(1, 3)).map(
        lambda p: [b"".join(p[0][i : i + p[1]]) for i in range(0, len(p[0]), p[1])]
    ),
)


@settings(max_examples=300, deadline=None)
@given(READS, st.integers(2, 4), st.booleans())
@example([b"\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n", b"\r\n\r\n"], 2, False)
@example(
    [b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"],
    2,
    False,
)
@example(
    [b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"] * 2
    + [b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET"],
    2,
    False,
)
def test_memos_change_no_byte(reads, connections, recall):
    fast, fast_seen, heads, memory = serve(reads, connections, memos=True, recall=recall)
    slow, slow_seen, _, _ = serve(reads, connections, memos=False)
    assert fast == slow
    # every request the fast server read is one the slow server read, in order
    keys = [(r.method, r.path, r.query, r.headers.items, r.body) for r in slow_seen]
    for request in fast_seen:
        key = (request.method, request.path, request.query, request.headers.items, request.body)
        assert key in keys
        keys = keys[keys.index(key) + 1 :]
    assert len(fast_seen) + memory.recalled == len(slow_seen)


REQUEST = (
    b"POST /c HTTP/1.1\r\nHost: 127.0.0.1:1400\r\nContent-Type: text/xml\r\n"
    b"Content-Length: 5\r\n\r\nhello"
)


def test_a_known_head_is_not_parsed_again():
    """M6: the second connection's request is read from the head memo, not by llhttp."""
    _, seen, heads, _ = serve([REQUEST], 1, memos=True)
    known = heads.get(REQUEST[: REQUEST.index(b"\r\n\r\n") + 4])
    assert known == KnownHead(
        method="POST",
        path="/c",
        query="",
        headers=seen[0].headers,
        keep_alive=True,
        body_length=5,
        recallable=True,  # the memory kept the whole request: it may be recalled
    )
    other_body = REQUEST.replace(b"hello", b"HELLO")
    fast, fast_seen, _, _ = serve([other_body], 3, memos=True, recall=False)
    assert fast_seen[1].headers is fast_seen[0].headers  # the same object: not parsed again
    assert [r.body for r in fast_seen] == [b"HELLO"] * 3
    assert fast == serve([other_body], 3, memos=False)[0]


def test_heads_kept_are_bounded_in_count_and_bytes():
    """M2 for M6: heads are the client's bytes; a full memo is emptied."""
    from upnpcm.core import memo

    heads = HeadMemo()
    known = KnownHead("GET", "/", "", Headers(), True, 0)
    for i in range(600):
        heads.keep(b"GET /%d HTTP/1.1\r\nX: " % i + b"y" * 4000 + b"\r\n\r\n", known)
        assert sum(map(len, heads._heads)) <= memo.MAX_HEAD_KEY_BYTES
    for i in range(600):
        heads.keep(b"GET /%d HTTP/1.1\r\n\r\n" % i, known)
        assert len(heads._heads) <= memo.MAX_ENTRIES
    assert not HeadMemo(enabled=False).get(b"GET / HTTP/1.1\r\n\r\n")
    off = HeadMemo(enabled=False)
    off.keep(b"GET / HTTP/1.1\r\n\r\n", known)
    assert off.get(b"GET / HTTP/1.1\r\n\r\n") is None


class Choosy(Memory):
    """Keeps only requests whose body is ``hello``; counts the reads it is offered."""

    def __init__(self) -> None:
        super().__init__()
        self.offered = 0

    def recall(self, raw: bytes, local: str, local_port: int) -> tuple[HttpResponse, bool] | None:
        self.offered += 1
        return super().recall(raw, local, local_port)

    def remember(self, raw: bytes, request: HttpRequest, keep_alive: bool) -> bool:
        return request.body == b"hello" and super().remember(raw, request, keep_alive)


def test_a_known_head_is_offered_to_the_memory_once_a_request_under_it_was_kept():
    """M5 with M6: a connection not being recalled offers only heads something was kept under."""
    other = REQUEST.replace(b"hello", b"HELLO")  # the same head, another body
    memory, heads, seen = Choosy(), HeadMemo(), []

    def handler(request: HttpRequest) -> tuple[HttpResponse, None]:
        seen.append(request)
        return answer(request), None

    async def run() -> bytes:
        protocol = HttpProtocol(
            handler,
            HttpLimits(max_body=1024),
            local=("127.0.0.1", 1400),
            memory=memory,
            heads=heads,
        )
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        for read in [other, other, other, REQUEST, REQUEST, REQUEST]:
            protocol.data_received(read)
        return b"".join(transport.written)

    wire = asyncio.run(run())
    # the first read is offered (nothing known yet); the other two under a head nothing
    # was kept under are not; the first hello is kept (its head now marked), so the next
    # is offered and recalled, and the connection, being recalled, offers the last first
    assert (memory.offered, memory.recalled, len(seen)) == (3, 2, 4)
    assert wire.count(b"HTTP/1.1 200 OK") == 6
