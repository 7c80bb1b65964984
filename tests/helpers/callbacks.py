"""Recording GENA callback servers and subscribing clients for tests (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from upnpcm.core.gena import parse_propertyset


@dataclass
class Notify:
    sid: str
    seq: int
    changes: dict[str, str]
    at: float
    headers: dict[str, str] = field(default_factory=dict)


class CallbackServer:
    """An HTTP server on ``ip`` that records every NOTIFY and answers ``status``.

    ``mode``: "ok" (200), "refuse" (412), "silent" (accepts, never answers).
    """

    def __init__(self, ip: str, *, mode: str = "ok") -> None:
        self.ip = ip
        self.mode = mode
        self.received: list[Notify] = []
        self.connections = 0
        self._event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/cb"

    async def start(self) -> CallbackServer:
        if self.mode == "silent":

            async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                self.connections += 1
                await reader.read(-1)  # read until the client gives up; never answer
                writer.close()

            self._server = await asyncio.start_server(swallow, self.ip, 0)
            self.port = self._server.sockets[0].getsockname()[1]
            return self

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            self.received.append(
                Notify(
                    sid=request.headers.get("SID", ""),
                    seq=int(request.headers.get("SEQ", "-1")),
                    changes=parse_propertyset(body),
                    at=time.monotonic(),
                    headers=dict(request.headers),
                )
            )
            self._event.set()
            return web.Response(status=412 if self.mode == "refuse" else 200)

        app = web.Application()
        app.router.add_route("NOTIFY", "/cb", handle)

        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.ip, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            self._server.close()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received {len(self.received)} NOTIFY")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)


async def gena(
    method: str,
    url: str,
    *,
    source_ip: str,
    headers: dict[str, str],
) -> tuple[int, dict[str, str]]:
    """Send one SUBSCRIBE/UNSUBSCRIBE from ``source_ip``; return (status, headers)."""
    connector = aiohttp.TCPConnector(local_addr=(source_ip, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, url, headers=headers) as response,
    ):
        return response.status, dict(response.headers)


class Listener:
    """A bare TCP listener that counts connection attempts (for "zero attempts" checks)."""

    def __init__(self, ip: str, port: int = 0) -> None:
        self.ip, self.port, self.accepted = ip, port, 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> Listener:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            writer.close()

        self._server = await asyncio.start_server(accept, self.ip, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
