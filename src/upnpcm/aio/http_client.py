"""HTTP for the control point: one interface, two implementations.

:class:`LeanHttpClient` (the default) opens one connection per request
(``Connection: close``), writes the request and parses the reply with llhttp;
importing it costs milliseconds, which keeps one-shot CLI commands fast.
:class:`AiohttpHttpClient` uses a caller's :class:`aiohttp.ClientSession`
(Home Assistant's "inject-websession" rule); aiohttp is imported only then.

Both enforce the same contract: no redirects are followed (a 3xx is returned
as it is), the body is capped at ``max_bytes`` (larger → :class:`TransportError`),
connect and total time are bounded (→ :class:`UpnpTimeoutError`), and an
unreachable peer raises :class:`ConnectError`. Every request and reply is
logged for the CLI's debug levels:

* ``upnpcm.calls`` (INFO): method, URL, status, time (``-D``);
* ``upnpcm.raw`` (INFO): the bodies as sent and received (``-DDD``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, cast
from urllib.parse import urlsplit

import httptools

from upnpcm._version import __version__
from upnpcm.core.http import Headers, format_host
from upnpcm.errors import ConnectError, LocalProtocolError, TransportError, UpnpTimeoutError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpHttpClient", "HttpClient", "HttpReply", "LeanHttpClient"]

CALLS: Final = logging.getLogger("upnpcm.calls")
RAW: Final = logging.getLogger("upnpcm.raw")
USER_AGENT: Final = f"upnpcm/{__version__} UPnP/1.1"
DEFAULT_MAX_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    """A complete HTTP reply."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    url: str = ""


class HttpClient(Protocol):
    """What the control point needs from HTTP."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> HttpReply:
        """Send one request and return the whole reply (see the module contract)."""
        ...

    async def close(self) -> None:
        """Release what the client holds."""
        ...


def _log_request(method: str, url: str, body: bytes) -> float:
    if RAW.isEnabledFor(logging.INFO) and body:
        RAW.info(">>> %s %s\n%s", method, url, body.decode("utf-8", "replace"))
    return time.monotonic()


def _log_reply(method: str, url: str, started: float, reply: HttpReply) -> None:
    if CALLS.isEnabledFor(logging.INFO):
        CALLS.info(
            "%s %s -> %d (%.0f ms)", method, url, reply.status, (time.monotonic() - started) * 1000
        )
    if RAW.isEnabledFor(logging.INFO) and reply.body:
        RAW.info("<<< %d %s\n%s", reply.status, url, reply.body.decode("utf-8", "replace"))


class _ReplyReader(asyncio.Protocol):
    """Write one request; read the reply (or only its head) with llhttp."""

    def __init__(
        self,
        request: bytes,
        done: asyncio.Future[HttpReply],
        *,
        max_bytes: int,
        max_head: int,
        head_only: bool,
        url: str,
    ) -> None:
        self._request = request
        self._done = done
        self._max = max_bytes
        self._max_head = max_head
        self._head_only = head_only
        self._head_bytes = 0
        self._url = url
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()
        self._head_done = False
        self._framed = False  # Content-Length or chunked: the parser knows where the body ends
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the whole request at once."""
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        """Feed llhttp; a head still incomplete after ``max_head`` bytes is an error."""
        if not self._head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            pass  # _fail already recorded why
        except httptools.HttpParserError as exc:
            self._finish(TransportError(f"invalid HTTP reply from {self._url}: {exc}"))
            return
        if not self._head_done and self._head_bytes > self._max_head:
            self._finish(TransportError(f"reply head from {self._url} over {self._max_head} bytes"))

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header field."""
        if len(self._headers) >= 100:
            self._fail(TransportError(f"too many header fields from {self._url}"))
        text_name = name.decode("latin-1")
        if text_name.lower() in ("content-length", "transfer-encoding"):
            self._framed = True
        self._headers.append((text_name, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        """llhttp: the head is in; with ``head_only`` that is the whole answer."""
        self._head_done = True
        if self._head_only:
            self._complete()

    def on_body(self, body: bytes) -> None:
        """llhttp: (part of) the body, capped at ``max_bytes``."""
        self._body += body
        if len(self._body) > self._max:
            self._fail(TransportError(f"reply from {self._url} is larger than {self._max} bytes"))

    def on_message_complete(self) -> None:
        """llhttp: the reply is complete."""
        self._complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """End of an unframed body, or a peer that hung up early."""
        if self._head_done and not self._framed:
            self._complete()  # the body ended with the connection (HTTP/1.0 style)
        self._finish(ConnectError(f"{self._url}: connection closed before a complete reply"))

    def _complete(self) -> None:
        self._finish(
            HttpReply(
                status=self._parser.get_status_code(),
                headers=Headers(self._headers),
                body=bytes(self._body),
                url=self._url,
            )
        )

    def _fail(self, error: BaseException) -> None:
        self._finish(error)
        raise error

    def _finish(self, outcome: HttpReply | BaseException) -> None:
        if not self._done.done():
            if isinstance(outcome, HttpReply):
                self._done.set_result(outcome)
            else:
                self._done.set_exception(outcome)
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class LeanHttpClient:
    """One connection per request, llhttp for the reply; no pooling, no redirects."""

    def __init__(self, *, connect_timeout: float = 5.0, user_agent: str = USER_AGENT) -> None:
        self.connect_timeout = connect_timeout
        self.user_agent = user_agent

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_head: int = 64 * 1024,
        head_only: bool = False,
    ) -> HttpReply:
        """Send one request and return the whole reply (module contract).

        With ``head_only`` the reply is returned as soon as its head is in,
        with an empty body (a NOTIFY's answer: nothing after it is read).

        Raises:
            LocalProtocolError: not an ``http://`` URL.
            ConnectError: the peer cannot be reached or hung up.
            UpnpTimeoutError: over ``timeout`` seconds in all.
            TransportError: the reply is not HTTP or is too large.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise LocalProtocolError(f"only http:// URLs are supported, not {url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise LocalProtocolError(f"bad port in {url!r}") from None
        host = parts.hostname
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {format_host(host, port)}"]
        names = {name.lower() for name in (headers or {})}
        for name, value in (headers or {}).items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise LocalProtocolError("CR/LF in a request header")
            lines.append(f"{name}: {value}")
        if "user-agent" not in names and self.user_agent:
            lines.append(f"User-Agent: {self.user_agent}")
        if body or method in ("POST", "NOTIFY"):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        loop = asyncio.get_running_loop()
        done: asyncio.Future[HttpReply] = loop.create_future()
        started = _log_request(method, url, body)
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(timeout):
                try:
                    transport, _ = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: _ReplyReader(
                                wire,
                                done,
                                max_bytes=max_bytes,
                                max_head=max_head,
                                head_only=head_only,
                                url=url,
                            ),
                            host,
                            port,
                        ),
                        self.connect_timeout,
                    )
                except OSError as exc:
                    raise ConnectError(
                        f"cannot connect to {format_host(host, port)}: {exc.strerror or exc}"
                    ) from exc
                reply = await done
        except TimeoutError as exc:
            if isinstance(exc, UpnpTimeoutError):
                raise
            raise UpnpTimeoutError(
                f"{method} {url}: no complete reply within {timeout:g} s"
            ) from None
        finally:
            if transport is not None:
                transport.close()
        _log_reply(method, url, started, reply)
        return reply

    async def close(self) -> None:
        """Nothing to release: every request had its own connection."""


class AiohttpHttpClient:
    """The same contract over a caller's :class:`aiohttp.ClientSession` (not closed here)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> HttpReply:
        """Send one request and return the whole reply (module contract)."""
        import aiohttp

        started = _log_request(method, url, body)
        try:
            async with asyncio.timeout(timeout):
                async with self.session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    data=body or None,
                    allow_redirects=False,
                ) as response:
                    data = await response.content.read(max_bytes + 1)
                    if len(data) > max_bytes:
                        raise TransportError(f"reply from {url} is larger than {max_bytes} bytes")
                    reply = HttpReply(
                        status=response.status,
                        headers=Headers((k, v) for k, v in response.headers.items()),
                        body=data,
                        url=url,
                    )
        except TimeoutError:
            raise UpnpTimeoutError(
                f"{method} {url}: no complete reply within {timeout:g} s"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise ConnectError(f"{url}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{url}: {exc}") from exc
        _log_reply(method, url, started, reply)
        return reply

    async def close(self) -> None:
        """The session belongs to the caller: left open."""
