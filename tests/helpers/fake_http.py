"""A scriptable HTTP server on loopback for control-point tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeHttp:
    """Serves ``routes`` (path -> bytes or handler) on 127.0.0.1 and records requests."""

    def __init__(self, routes: dict[str, bytes | Handler], host: str = "127.0.0.1") -> None:
        self.routes = routes
        self.host = host
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path, dict(request.headers), body))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        if isinstance(route, bytes):
            return web.Response(body=route, content_type="text/xml")
        return await route(request)

    async def start(self) -> FakeHttp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeHttp:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def never_answer(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3600)
    return web.Response()
