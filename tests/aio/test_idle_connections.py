"""An idle kept-alive connection holds as little as it can (bench/scale.py measures 10,000)."""

from __future__ import annotations

import asyncio

from tests.aio.test_whole_requests import read_response, undated

DESCRIPTION = "GET /xml/device_description.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"


async def test_an_idle_connection_gives_up_its_parser_and_still_reads_the_next_request(device):
    reader, writer = await asyncio.open_connection("127.0.0.1", device.port)
    request = DESCRIPTION.format(port=device.port).encode()

    async def in_two_reads() -> bytes:  # a head in two reads: llhttp reads it
        writer.write(request[:20])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(request[20:])
        return await read_response(reader)

    try:
        first = await in_two_reads()
        (connection,) = device.server.connections
        assert connection._parser is not None
        await asyncio.sleep(1.2)  # the reaper sweeps every 0.5 s
        assert connection._parser is None
        second = await in_two_reads()
        assert second.startswith(b"HTTP/1.1 200 OK\r\n")
        assert undated(second) == undated(first)
    finally:
        writer.close()
