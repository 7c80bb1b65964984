"""aiohttp adapter for :class:`~upnpcm.core.device.DeviceCore`: convert, call, send.

A low-level :class:`aiohttp.web.Server` (no router, no middleware: the core
routes) answers every request. The adapter's own decisions are only those that
need the transport: the body-size check *before* reading (413 from
Content-Length, or while reading a chunked body), the peer and local
addresses, the monotonic clock, randomness for SIDs, and sending the initial
NOTIFY only after the SUBSCRIBE response has been written.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler

from upnpcm.aio.notifier import Notifier
from upnpcm.core.device import DeviceCore, DeviceResult
from upnpcm.core.http import Headers, HttpRequest, HttpResponse, format_host, normalise_ip

__all__ = ["DeviceServer"]

_LOG: Final = logging.getLogger("upnpcm.server")
_ACCESS: Final = logging.getLogger("upnpcm.access")


class _UpnpRequestHandler(RequestHandler):
    """aiohttp's connection handler with the exact statuses for framing errors.

    llhttp refuses methods it does not know and over-long lines before our
    code runs; RFC 9110/6585 name 501, 414 and 431 for those, not 400.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, BadHttpMethod):
            status = 501
        elif isinstance(exc, LineTooLong):
            status = 414 if _raised_in(exc, "cb_on_url") else 431
        elif exc is not None and "too many headers" in str(exc).lower():
            status = 431
        return super().handle_error(request, status, exc, message)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # Framing errors are the client's: not worth an ERROR with a traceback.
        kw.pop("exc_info", None)
        self.logger.debug(*args, **kw)


def _raised_in(exc: BaseException, function: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name.rsplit(".", 1)[-1] == function:
            return True
        tb = tb.tb_next
    return False


class _UpnpServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _UpnpRequestHandler(self, loop=self._loop, **self._kwargs)


class DeviceServer:
    """Serve a :class:`DeviceCore` over HTTP, with GENA delivery.

    Use ``async with DeviceServer(core, host="127.0.0.1", port=0) as server:``
    or :meth:`start` / :meth:`stop`. ``port=0`` picks a free port; read it back
    from :attr:`port`.
    """

    def __init__(
        self,
        core: DeviceCore,
        *,
        host: str | Iterable[str] | None = None,
        port: int = 1400,
        notifier: Notifier | None = None,
        keepalive_timeout: float = 15.0,
    ) -> None:
        self.core = core
        self._host = host
        self._requested_port = port
        self.notifier = notifier or Notifier(core)
        self._keepalive_timeout = keepalive_timeout
        self._runner: web.ServerRunner | None = None
        self._addresses: list[tuple[str, int]] = []
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving."""
        server = _UpnpServer(
            self._handle,
            keepalive_timeout=self._keepalive_timeout,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=100,
        )
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        hosts: list[str | None]
        if self._host is None or isinstance(self._host, str):
            hosts = [self._host]
        else:
            hosts = list(self._host)
        port = self._requested_port
        for host in hosts:
            site = web.TCPSite(self._runner, host=host, port=port, reuse_address=True)
            await site.start()
            if port == 0 and self._runner.addresses:
                port = int(self._runner.addresses[0][1])  # every host on the same port
        self._addresses = [(normalise_ip(a[0]), int(a[1])) for a in self._runner.addresses]
        self.notifier.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="upnpcm-gena-sweeper")

    async def stop(self) -> None:
        """Stop delivering events, close connections and unbind."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.notifier.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._addresses = []

    async def __aenter__(self) -> DeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        if not self._addresses:
            raise RuntimeError("server not started")
        return self._addresses[0][1]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(ip, port) of every listening socket."""
        return list(self._addresses)

    def url(self, ip: str, path: str = "") -> str:
        """``http://ip:port`` + path, for a given reachable address of this device."""
        return f"http://{format_host(ip, self.port)}{path}"

    def flush_events(self) -> None:
        """Deliver changes made through the API (e.g. new protocol lists)."""
        self.notifier.wake(self.core.flush_events())

    # ------------------------------------------------------------------ requests

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        limit = self.core.limits.max_body
        if request.content_length is not None:
            if request.content_length > limit:
                return None
            return await request.read()
        if request.method in ("GET", "HEAD") and not request.body_exists:
            return b""
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        local = normalise_ip(sockname[0]) if sockname else ""
        local_port = int(sockname[1]) if sockname else 0
        peer = normalise_ip(request.remote or "")
        body = await self._read_body(request)
        if body is None:
            result = DeviceResult(
                response=HttpResponse(
                    status=413,
                    headers=(("Content-Type", "text/plain; charset=utf-8"),),
                    body=b"413 request body too large\n",
                )
            )
        else:
            core_request = HttpRequest(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                headers=Headers(_headers(request)),
                body=body,
                peer=peer,
                local=local,
                local_port=local_port,
                query=request.query_string,
            )
            result = self.core.handle(core_request, now=loop.time(), entropy=secrets.randbits(128))
        if result.error is not None:
            _LOG.error(
                "%s raised in %s",
                type(result.error).__name__,
                result.operation,
                exc_info=result.error,
            )
        _ACCESS.info(
            '%s "%s %s" %d %s',
            peer,
            request.method,
            request.raw_path,
            result.response.status,
            result.operation or "-",
        )
        response = web.Response(
            status=result.response.status,
            body=result.response.body if request.method != "HEAD" else None,
            headers=_response_headers(result.response, head=request.method == "HEAD"),
        )
        if result.wake:
            # The initial event must follow the SUBSCRIBE 200 (UDA 1.1 §4.2): write first.
            await response.prepare(request)
            await response.write_eof()
            self.notifier.wake(result.wake)
        return response

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadlines = [t.next_deadline() for t in self.core.tables().values()]
            upcoming = [d for d in deadlines if d is not None]
            delay = min(upcoming) - loop.time() if upcoming else 60.0
            await asyncio.sleep(min(max(delay, 0.05), 60.0))
            for path, sid in self.core.expire(loop.time()):
                _LOG.info("subscription %s on %s expired", sid, path)
                self.notifier.forget(path, sid)


def _headers(request: web.BaseRequest) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.raw_headers
    ]


def _response_headers(response: HttpResponse, *, head: bool) -> dict[str, str]:
    headers = dict(response.headers)
    if head:
        headers["Content-Length"] = str(len(response.body))
    return headers
