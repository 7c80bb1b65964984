"""Rule M5 on real sockets: a repeated request is answered by its bytes, as the slow path would.

The device's core counts how often it is asked to handle a request: a request
answered from the answer cache is remembered by its bytes, and the same bytes
are answered again without the core reading them, until the state changes.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from tests.aio.test_server_http import CM, post
from upnpcm.core.soap import build_action_request

_, GET_PROTOCOL_INFO = build_action_request(CM, "GetProtocolInfo", [])


@pytest.fixture
def handled(device, monkeypatch):
    """The requests the device's core parsed and handled, in order (paths)."""
    core = device.server.core
    seen: list[str] = []
    handle = core.handle

    def counting(request, **kwargs):
        seen.append(request.path)
        return handle(request, **kwargs)

    monkeypatch.setattr(core, "handle", counting)
    return seen


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    if head.startswith(b"HTTP/1.1 100 "):  # an interim response, then the answer
        head += await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    return head + await asyncio.wait_for(reader.readexactly(length), 5)


def undated(response: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", response)


async def once(port: int, *pieces: bytes) -> bytes:
    """One connection: write ``pieces`` (one read each, paced), read one response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for number, piece in enumerate(pieces):
            if number:
                await asyncio.sleep(0.05)  # its own read on the device's side
            writer.write(piece)
            await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def test_a_repeated_request_is_answered_by_its_bytes(device, handled):
    raw = post(device.port, GET_PROTOCOL_INFO)  # with Connection: close
    answers = [await once(device.port, raw) for _ in range(4)]
    # parsed and computed; parsed and answered from the answer cache (bytes remembered);
    # then recalled by its bytes, twice
    assert len(handled) == 2
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in answers[3]  # the verdict kept with the bytes
    assert {undated(answer) for answer in answers} == {undated(answers[0])}


async def test_kept_alive_requests_are_recalled_and_the_connection_stays_open(device, handled):
    raw = post(device.port, GET_PROTOCOL_INFO).replace(b"Connection: close\r\n", b"")
    reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
    try:
        answers = []
        for _ in range(5):
            writer.write(raw)
            await writer.drain()
            answers.append(await read_response(reader))
        assert len(handled) == 2
        assert b"Connection: close" not in answers[-1]
        assert {undated(answer) for answer in answers} == {undated(answers[0])}
    finally:
        writer.close()


async def test_a_change_of_state_ends_the_recall(device, handled):
    raw = post(device.port, GET_PROTOCOL_INFO)
    for _ in range(3):
        await once(device.port, raw)
    assert len(handled) == 2
    device.set_protocol_info("renderer", sink="http-get:*:audio/x-new:*")
    changed = await once(device.port, raw)
    assert b"audio/x-new" in changed
    assert len(handled) == 3  # parsed again: the remembered answer was no longer valid
    assert undated(await once(device.port, raw)) == undated(changed)
    assert len(handled) == 3  # and recalled anew


async def test_only_a_read_holding_one_whole_request_is_remembered(device, handled):
    raw = post(device.port, GET_PROTOCOL_INFO)
    cut = raw.index(b"\r\n\r\n") + 4
    for _ in range(3):
        await once(device.port, raw[:cut], raw[cut:])  # head and body in two reads
    assert len(handled) == 3
    kept_alive = raw.replace(b"Connection: close\r\n", b"")
    for _ in range(2):  # two requests in one read: neither is remembered
        reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
        writer.write(kept_alive + raw)
        await writer.drain()
        first, second = await read_response(reader), await read_response(reader)
        writer.close()
        assert undated(first).replace(b"Connection: close\r\n", b"") == undated(second).replace(
            b"Connection: close\r\n", b""
        )
    assert len(handled) == 7


async def test_a_request_that_got_100_continue_is_not_remembered(device, handled):
    raw = post(device.port, GET_PROTOCOL_INFO, extra=b"Expect: 100-continue\r\n")
    for _ in range(3):
        answer = await once(device.port, raw)
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert len(handled) == 3


async def test_access_logging_sends_every_request_the_slow_way(device, handled, caplog):
    caplog.set_level(logging.INFO, logger="upnpcm.access")
    raw = post(device.port, GET_PROTOCOL_INFO)
    for _ in range(3):
        await once(device.port, raw)
    assert len(handled) == 3
    assert len([r for r in caplog.records if r.name == "upnpcm.access"]) == 3


async def test_a_known_head_with_another_body_is_not_parsed_again(device, monkeypatch):
    """Rule M6: the device's connections share what llhttp made of a head."""
    core = device.server.core
    seen = []
    handle = core.handle

    def recording(request, **kwargs):
        seen.append(request)
        return handle(request, **kwargs)

    monkeypatch.setattr(core, "handle", recording)
    answers = []
    for connection_id in ("7", "8", "9"):  # bodies differ, heads are the same bytes
        _, body = build_action_request(
            CM, "GetCurrentConnectionInfo", [("ConnectionID", connection_id)]
        )
        raw = post(device.port, body, soapaction=f'"{CM}#GetCurrentConnectionInfo"')
        answers.append(await once(device.port, raw))
    assert all(b"<errorCode>706</errorCode>" in answer for answer in answers)
    assert [r.body.count(b">%s<" % c) for r, c in zip(seen, (b"7", b"8", b"9"), strict=True)] == [
        1,
        1,
        1,
    ]
    assert seen[2].headers is seen[1].headers  # taken from the memo, not built again
