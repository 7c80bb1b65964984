"""Rule HW1: the answers of one turn of the loop are handed to their transports together.

In-process, with transports that record what they are given: nothing is handed
over before the turn ends, then each connection's bytes in one write, in
order; a close, and an answer something must follow, are not held back; with
the batch off every answer goes at once, and the bytes are the same.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from upnpcm.aio.http_server import BATCH_FLUSH_BYTES, HttpLimits, HttpProtocol, Reply, WriteBatch
from upnpcm.core.http import HttpRequest, HttpResponse


class Recorder:
    """A transport that keeps every write, and when it was closed (after which write)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.late: list[bytes] = []  # written after close: a bug
        self.closed_after: int | None = None

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1400) if name in ("peername", "sockname") else None

    def write(self, data: bytes) -> None:
        (self.writes if self.closed_after is None else self.late).append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def close(self) -> None:
        if self.closed_after is None:
            self.closed_after = len(self.writes)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed_after is not None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def answer(request: HttpRequest) -> Reply:
    """The path back, as much of it as the path asks for (``/big`` is over the flush size)."""
    size = BATCH_FLUSH_BYTES + 1 if request.path == "/big" else 0
    return HttpResponse(status=200, body=request.path.encode() + b"." * size), None


def get(path: str, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:1400\r\n" + extra + b"\r\n"


def connect(batch: WriteBatch | None) -> tuple[HttpProtocol, Recorder]:
    protocol = HttpProtocol(answer, HttpLimits(), batch=batch)
    transport = Recorder()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def test_answers_of_one_turn_are_handed_over_together_at_its_end() -> None:
    batch = WriteBatch(asyncio.get_running_loop())
    connections = [connect(batch) for _ in range(3)]
    for index, (protocol, _) in enumerate(connections):
        protocol.data_received(get(f"/a{index}") + get(f"/b{index}"))  # two answers each
    assert all(not transport.writes for _, transport in connections)
    assert connections[0][0].write_buffer_size() > 0  # waiting in the batch counts
    await asyncio.sleep(0)  # the turn ends
    for index, (_, transport) in enumerate(connections):
        assert len(transport.writes) == 1  # one write per connection and turn
        first, second = transport.writes[0].split(b"HTTP/1.1 200")[1:]
        assert first.endswith(f"/a{index}".encode()) and second.endswith(f"/b{index}".encode())


async def test_with_the_batch_off_each_answer_goes_at_once() -> None:
    protocol, transport = connect(None)
    protocol.data_received(get("/a") + get("/b"))
    assert len(transport.writes) == 2


async def test_a_close_and_a_large_answer_are_not_held_back() -> None:
    batch = WriteBatch(asyncio.get_running_loop())
    protocol, transport = connect(batch)
    protocol.data_received(get("/a") + get("/b", close=True))
    assert transport.closed_after == 1  # /a and /b handed over, in order, before the close
    await asyncio.sleep(0)
    assert transport.late == []
    assert transport.writes[0].index(b"/a") < transport.writes[0].index(b"/b")
    protocol, transport = connect(batch)
    protocol.data_received(get("/a") + get("/big"))
    assert len(transport.writes) == 1 and protocol.write_buffer_size() == 0
    await asyncio.sleep(0)
    assert len(transport.writes) == 1


async def test_a_connection_aborted_or_lost_before_the_turn_ends_is_given_nothing() -> None:
    batch = WriteBatch(asyncio.get_running_loop())
    aborted, aborted_transport = connect(batch)
    lost, lost_transport = connect(batch)
    aborted.data_received(get("/a"))
    lost.data_received(get("/a"))
    aborted.abort()
    lost.connection_lost(None)
    await asyncio.sleep(0)
    assert aborted_transport.writes == aborted_transport.late == lost_transport.writes == []


PATHS = st.sampled_from(["/a", "/bb", "/big"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(PATHS, st.booleans()), min_size=1, max_size=6), max_size=5))
def test_the_same_bytes_in_the_same_order_with_the_batch_on_or_off(
    reads: list[list[tuple[str, bool]]],
) -> None:
    """Reads of pipelined requests (some asking to close): what each transport got, both ways."""

    async def run(enabled: bool) -> tuple[bytes, int | None]:
        protocol, transport = connect(WriteBatch(asyncio.get_running_loop()) if enabled else None)
        for read in reads:
            protocol.data_received(b"".join(get(path, close=close) for path, close in read))
            await asyncio.sleep(0)
        closed = transport.closed_after
        return b"".join(transport.writes[:closed]), None if closed is None else 1

    def answers(raw: bytes) -> list[bytes]:  # without the Date field, which may differ
        return [part.split(b"\r\n\r\n", 1)[-1] for part in raw.split(b"HTTP/1.1 ")[1:]]

    on, off = asyncio.run(run(True)), asyncio.run(run(False))
    assert answers(on[0]) == answers(off[0]) and on[1] == off[1]
