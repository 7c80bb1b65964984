"""``upnpcm ui``'s web server (aiohttp): the page, its assets, a JSON API and the event stream.

The page and its script and style ship in the package (``upnpcm/ui/static``)
and load nothing from anywhere else (Content-Security-Policy ``'self'``).
The server binds 127.0.0.1 unless told otherwise. Since anyone who reaches it
can make this machine call actions on the network's devices, it answers only
requests whose Host is an IP address or ``localhost`` with its own port (a
page of another site cannot reach it through a DNS name, the DNS-rebinding
defence the device side has too, rule H2), and a request that changes
something must be JSON and, when it carries an Origin, come from this
server's own (a form of another site can do neither).

API (JSON): ``GET /api/state``, ``GET /api/events`` (server-sent events: a
``snapshot``, then ``device``/``gone``/``seen``, ``event``/``subscription``,
``call``, ``matrix``, ``check``/``checkrow``…), ``GET /api/devices/{udn}``,
``POST /api/devices`` {location}, ``POST /api/search``, ``POST /api/call``
{udn, service, action, arguments}, ``POST /api/subscriptions`` {udn, service},
``DELETE /api/subscriptions/{id}``, ``GET /api/matrix``,
``POST /api/matrix/refresh``, ``POST /api/negotiate`` {server, renderer},
``POST /api/complete`` {id}, ``POST /api/check`` {udn, only, changes},
``DELETE /api/check``, ``GET /api/stats``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final

from aiohttp import web

from upnpcm.core.http import parse_host_header
from upnpcm.errors import RemoteProtocolError
from upnpcm.ui.app import UiApp, UiError

__all__ = ["UiServer", "make_app"]

_LOG: Final = logging.getLogger("upnpcm.ui")

#: The files the page is made of, and their media types.
ASSETS: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
APP_KEY: Final = web.AppKey("ui", UiApp)
PORT_KEY: Final = web.AppKey("port", list)
#: Largest request body the API reads.
MAX_BODY: Final = 64 * 1024


def _asset(name: str) -> bytes:
    return resources.files("upnpcm.ui").joinpath("static", name).read_bytes()


def _host_allowed(host: str | None, port: int) -> bool:
    """An IP literal or ``localhost``, with this server's port (DNS-rebinding defence, H2)."""
    if not host:
        return False
    name, _, given = host.rpartition(":")
    if name == "localhost" or name.lower() == "localhost":
        return given == str(port)
    try:
        ip, host_port = parse_host_header(host)
        ipaddress.ip_address(ip)
    except (RemoteProtocolError, ValueError):
        return False
    return host_port == port


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    ports = request.app[PORT_KEY]
    host = request.headers.get("Host")
    if not _host_allowed(host, ports[0] if ports else 0):
        return web.Response(
            status=400, text="Host must be this server's address and port (DNS-rebinding defence)\n"
        )
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return web.Response(status=403, text="cross-origin requests are refused\n")
        if request.content_type != "application/json" and request.method != "DELETE":
            return web.Response(status=415, text="send JSON (Content-Type: application/json)\n")
    try:
        response = await handler(request)
    except UiError as exc:
        response = web.json_response({"error": str(exc)}, status=exc.status)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        response = web.json_response({"error": f"bad request: {exc}"}, status=400)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise UiError("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise UiError(f"{key} must be a string")
    return value


def make_app(ui: UiApp) -> web.Application:
    """The aiohttp application serving ``ui`` (its port is filled in once bound)."""
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)
    app[APP_KEY] = ui
    app[PORT_KEY] = []

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(
            body=_asset(name), content_type=ASSETS[name].split(";")[0], charset="utf-8"
        )

    async def state(_: web.Request) -> web.Response:
        return web.json_response(ui.snapshot())

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(ui.stats())

    async def events(request: web.Request) -> web.StreamResponse:
        client = ui.hub.admit(request.remote or "")
        if client is None:
            return web.json_response({"error": "too many pages are open"}, status=429)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        try:
            await response.prepare(request)
            await response.write(b"retry: 1000\n\n")
            async for chunk in ui.hub.stream(client, ui.snapshot):
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            ui.hub.leave(client)
        return response

    async def device(request: web.Request) -> web.Response:
        return web.json_response(ui.detail(request.match_info["udn"]))

    async def add_device(request: web.Request) -> web.Response:
        data = await _body(request)
        return web.json_response(await ui.add(_text(data, "location")))

    async def search(_: web.Request) -> web.Response:
        if not ui.discovery:
            raise UiError("discovery is off", 409)
        ui.start_search()
        return web.json_response({"searching": True})

    async def call(request: web.Request) -> web.Response:
        data = await _body(request)
        arguments = data.get("arguments") or {}
        if not isinstance(arguments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in arguments.items()
        ):
            raise UiError("arguments must be an object of strings")
        result = await ui.call(
            _text(data, "udn"), _text(data, "service"), _text(data, "action"), arguments
        )
        return web.json_response(result)

    async def subscribe(request: web.Request) -> web.Response:
        data = await _body(request)
        return web.json_response(await ui.subscribe(_text(data, "udn"), _text(data, "service")))

    async def unsubscribe(request: web.Request) -> web.Response:
        await ui.unsubscribe(int(request.match_info["id"]))
        return web.json_response({"ok": True})

    async def matrix(_: web.Request) -> web.Response:
        return web.json_response(ui.matrix())

    async def refresh(_: web.Request) -> web.Response:
        await ui.refresh_lists()
        return web.json_response(ui.matrix())

    async def negotiate(request: web.Request) -> web.Response:
        data = await _body(request)
        return web.json_response(await ui.negotiate(_text(data, "server"), _text(data, "renderer")))

    async def complete(request: web.Request) -> web.Response:
        data = await _body(request)
        return web.json_response(await ui.complete(int(data["id"])))

    async def check(request: web.Request) -> web.Response:
        data = await _body(request)
        only = data.get("only") or []
        if not isinstance(only, list) or not all(isinstance(x, str) for x in only):
            raise UiError("only must be a list of suite names")
        return web.json_response(
            ui.start_check(
                _text(data, "udn"), only=tuple(only), changes=bool(data.get("changes", True))
            )
        )

    async def stop_check(_: web.Request) -> web.Response:
        await ui.stop_check()
        return web.json_response({"ok": True})

    app.router.add_get("/", asset)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/devices/{udn}", device)
    app.router.add_post("/api/devices", add_device)
    app.router.add_post("/api/search", search)
    app.router.add_post("/api/call", call)
    app.router.add_post("/api/subscriptions", subscribe)
    app.router.add_delete("/api/subscriptions/{id}", unsubscribe)
    app.router.add_get("/api/matrix", matrix)
    app.router.add_post("/api/matrix/refresh", refresh)
    app.router.add_post("/api/negotiate", negotiate)
    app.router.add_post("/api/complete", complete)
    app.router.add_post("/api/check", check)
    app.router.add_delete("/api/check", stop_check)
    return app


class UiServer:
    """:class:`UiApp` served over HTTP on ``host``:``port`` (0: a free port, read back from :attr:`port`)."""

    def __init__(self, ui: UiApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ui = ui
        self.host = host
        self.requested_port = port
        self.app = make_app(ui)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where a browser opens the page."""
        shown = self.host
        if shown in ("0.0.0.0", "::"):  # noqa: S104 - only how it is written back
            shown = "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}/"

    async def start(self) -> None:
        """Start the UI's work, then serve.

        Raises:
            OSError: the port cannot be bound (or a socket of the UI opened).
            ValueError: an interface selector matches nothing.
        """
        await self.ui.start()
        try:
            self._runner = web.AppRunner(
                self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.requested_port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        self.app[PORT_KEY].append(self.port)

    async def stop(self) -> None:
        """Stop serving, then the UI's work (subscriptions are cancelled)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.ui.stop()

    async def __aenter__(self) -> UiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
