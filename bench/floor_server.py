"""The floor of a Python server on this machine: uvloop, writing fixed bytes, nothing else.

bench/soap_load.py runs it beside the devices as a reference row: what any Python
server pays for the loop, the kernel and wrk, with no HTTP parsing, no routing and
no SOAP. It answers each read that holds the end of a request head with the bytes
in the file it is given (upnpcm's own GetProtocolInfo answer, captured by the
bench), and closes the connection after answering when the request asked for that.

    python bench/floor_server.py HOST PORT ANSWER_FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import cast

import uvloop


class Floor(asyncio.Protocol):
    answer = b""
    closing = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            if b"Connection: close" in data:
                self.transport.write(self.closing)
                self.transport.close()
            else:
                self.transport.write(self.answer)


async def serve(host: str, port: int, seconds: float) -> None:
    server = await asyncio.get_running_loop().create_server(Floor, host, port, backlog=1024)
    async with server:
        await asyncio.sleep(seconds)  # the bench terminates it long before


def main() -> None:
    host, port, answer = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]).read_bytes()
    Floor.answer = answer
    Floor.closing = answer.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    uvloop.run(serve(host, port, 3600.0))


if __name__ == "__main__":
    main()
