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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, cast
from urllib.parse import quote, urlsplit

import httptools

from upnpcm._version import __version__
from upnpcm.core.http import Headers, format_head, format_host
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
    #: The reason phrase of the status line, as the peer sent it ("" if none).
    reason: str = ""


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


#: Characters left as they are in a request target: RFC 3986 pchar, "/" and "?",
#: and "%" so that what is already percent-encoded stays so.
_TARGET_SAFE: Final = "/?%:@!$&'()*+,;=-._~"


def _request_target(path: str, query: str = "") -> str:
    """The origin-form request target for ``path`` and ``query`` (RFC 9112 §3.2.1).

    A description may hold URLs with spaces or non-ASCII characters
    (``/x/€.xml``); those are percent-encoded as UTF-8, so the request line
    is always ASCII. Existing ``%XX`` escapes are kept.
    """
    target = quote(path or "/", safe=_TARGET_SAFE)
    return f"{target}?{quote(query, safe=_TARGET_SAFE)}" if query else target


def raw_text(head: str | Iterable[tuple[str, str]], body: bytes) -> str:
    """A message's head and body as ``-DDD`` shows them."""
    if not isinstance(head, str):
        head = "\n".join(f"{name}: {value}" for name, value in head)
    text = body.decode("utf-8", "replace")
    return f"{head}\n\n{text}" if text else head


def _log_request(method: str, url: str, head: str, body: bytes) -> float:
    """``-DDD``: the request head (SOAP, SUBSCRIBE, UNSUBSCRIBE, NOTIFY alike) and body."""
    if RAW.isEnabledFor(logging.INFO):
        RAW.info(">>> %s %s\n%s", method, url, raw_text(head, body))
    return time.monotonic()


def _log_reply(method: str, url: str, started: float, reply: HttpReply) -> None:
    if CALLS.isEnabledFor(logging.INFO):
        CALLS.info(
            "%s %s -> %d (%.0f ms)", method, url, reply.status, (time.monotonic() - started) * 1000
        )
    if RAW.isEnabledFor(logging.INFO):
        RAW.info(
            "<<< %d %s %s\n%s", reply.status, reply.reason, url, raw_text(reply.headers, reply.body)
        )


class _ReplyReader(asyncio.Protocol):
    """Write one request; read the reply (or only its head) with llhttp.

    Interim ``1xx`` replies (``100 Continue``, ``102``, ``103``) are skipped:
    the final reply is the answer (RFC 9110 §15.2). A ``101 Switching
    Protocols`` (or any reply llhttp treats as an upgrade) is an error: we
    never ask to switch protocols.
    """

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
        self._reason = b""
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
        except httptools.HttpParserUpgrade:  # not an HttpParserError subclass
            self._finish(TransportError(f"{self._url} answered with a protocol upgrade"))
            return
        except httptools.HttpParserError as exc:
            self._finish(TransportError(f"invalid HTTP reply from {self._url}: {exc}"))
            return
        if not self._head_done and self._head_bytes > self._max_head:
            self._finish(TransportError(f"reply head from {self._url} over {self._max_head} bytes"))

    def on_status(self, reason: bytes) -> None:
        """llhttp: (part of) the reason phrase of the status line."""
        if len(self._reason) < 256:
            self._reason += reason[: 256 - len(self._reason)]

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header field."""
        if len(self._headers) >= 100:
            self._fail(TransportError(f"too many header fields from {self._url}"))
        text_name = name.decode("latin-1")
        if text_name.lower() in ("content-length", "transfer-encoding"):
            self._framed = True
        self._headers.append((text_name, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        """llhttp: the head is in; with ``head_only`` that is the whole answer.

        The head of an interim ``1xx`` reply is dropped (its message has no
        body; llhttp goes on with the next one); a ``101`` is refused.
        """
        status = self._parser.get_status_code()
        if status == 101:
            self._fail(TransportError(f"{self._url} answered 101 Switching Protocols"))
        if 100 <= status < 200:
            self._headers.clear()
            self._reason = b""
            self._framed = False
            return
        self._head_done = True
        if self._head_only:
            self._complete()

    def on_body(self, body: bytes) -> None:
        """llhttp: (part of) the body, capped at ``max_bytes``."""
        self._body += body
        if len(self._body) > self._max:
            self._fail(TransportError(f"reply from {self._url} is larger than {self._max} bytes"))

    def on_message_complete(self) -> None:
        """llhttp: the reply is complete (an interim ``1xx`` is not the reply)."""
        if self._head_done:
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
                reason=self._reason.decode("latin-1"),
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


def _forget(done: asyncio.Future[HttpReply]) -> None:
    """Leave nothing behind in ``done`` after the request ended, however it ended.

    Cancelled (or timed out) before the reply: the protocol may still settle
    ``done`` when the connection closes; nobody would retrieve it.
    """
    if not done.done():
        done.cancel()
    elif not done.cancelled():
        done.exception()  # mark an unawaited error as retrieved


def _split_url(url: str) -> tuple[str, int, str]:
    """Host, port and request target of an ``http://`` URL.

    Raises:
        LocalProtocolError: not a usable ``http://`` URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[::1/x.xml"
        raise LocalProtocolError(f"not a usable URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise LocalProtocolError(f"only http:// URLs are supported, not {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise LocalProtocolError(f"bad port in {url!r}") from None
    return parts.hostname, port, _request_target(parts.path, parts.query)


class LeanHttpClient:
    """One connection per request, llhttp for the reply; no pooling, no redirects.

    ``source_address`` is the local IP address requests are sent from (default:
    the one the kernel picks): a device that checks a CALLBACK against the
    subscriber's address sees the address the NOTIFY listener is bound to.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        user_agent: str = USER_AGENT,
        source_address: str | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.user_agent = user_agent
        self.source_address = source_address

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
        Interim ``1xx`` replies are skipped. Spaces and non-ASCII characters
        in the URL's path and query are sent percent-encoded (UTF-8). A
        ``Host`` among ``headers`` is sent instead of the one made from the URL.

        Raises:
            LocalProtocolError: not a usable ``http://`` URL.
            ConnectError: the peer cannot be reached or hung up.
            UpnpTimeoutError: no connection within ``connect_timeout``, or
                over ``timeout`` seconds in all.
            TransportError: the reply is not HTTP, switches protocols (101)
                or is too large.
        """
        host, port, target = _split_url(url)
        wire = self._wire(method, host, port, target, headers or {}, body)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[HttpReply] = loop.create_future()
        started = _log_request(method, url, wire.partition(b"\r\n\r\n")[0].decode("latin-1"), body)
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(timeout):
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
                # cancellation that arrives as the connection completes.
                transport = await self._connect(
                    host,
                    port,
                    lambda: _ReplyReader(
                        wire,
                        done,
                        max_bytes=max_bytes,
                        max_head=max_head,
                        head_only=head_only,
                        url=url,
                    ),
                )
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
            _forget(done)
        _log_reply(method, url, started, reply)
        return reply

    def encode_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> bytes:
        """The bytes :meth:`request` sends for these arguments (to show a person the exact request).

        Raises:
            LocalProtocolError: not a usable ``http://`` URL, or CR/LF in a header.
        """
        host, port, target = _split_url(url)
        return self._wire(method, host, port, target, headers or {}, body)

    def _wire(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> bytes:
        """The request as bytes: head (Host, the caller's headers, User-Agent, framing), body.

        Raises:
            LocalProtocolError: CR or LF in a header name or value.
        """
        names = {name.lower() for name in headers}
        fields: list[tuple[str, str]] = []
        if "host" not in names:  # a caller's own Host (a NOTIFY's HOST) is sent as given
            fields.append(("Host", format_host(host, port)))
        fields.extend(headers.items())
        if "user-agent" not in names and self.user_agent:
            fields.append(("User-Agent", self.user_agent))
        if body or method in ("POST", "NOTIFY"):
            fields.append(("Content-Length", str(len(body))))
        fields.append(("Connection", "close"))
        return format_head(f"{method} {target} HTTP/1.1", fields) + b"\r\n" + body

    async def _connect(
        self, host: str, port: int, reader: Callable[[], _ReplyReader]
    ) -> asyncio.BaseTransport:
        """A connection to ``host``:``port`` within ``connect_timeout``, read by ``reader()``.

        Raises:
            UpnpTimeoutError: no connection in time.
            ConnectError: refused, unreachable, or any other socket error.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                source = None if self.source_address is None else (self.source_address, 0)
                transport, _ = await loop.create_connection(reader, host, port, local_addr=source)
        except TimeoutError as exc:  # an OSError too: this clause must come first
            reason = exc.strerror or f"no answer within {self.connect_timeout:g} s"
            raise UpnpTimeoutError(
                f"cannot connect to {format_host(host, port)}: {reason}"
            ) from None
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {format_host(host, port)}: {exc.strerror or exc}"
            ) from exc
        return transport

    async def close(self) -> None:
        """Nothing to release: every request had its own connection."""


async def _read_capped(stream: aiohttp.StreamReader, max_bytes: int) -> bytes:
    """Read ``stream`` to its end, but never more than ``max_bytes + 1`` bytes.

    ``StreamReader.read(n)`` returns what is buffered (at most ``n``), not
    ``n`` bytes, so it is called until EOF or the cap. Getting ``max_bytes + 1``
    bytes tells the caller the body is too large without reading it all.
    Every non-empty read adds at least one byte, so the loop is bounded.
    """
    data = bytearray()
    while len(data) <= max_bytes:
        chunk = await stream.read(max_bytes + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


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
        """Send one request and return the whole reply (module contract).

        Raises:
            LocalProtocolError: ``url`` is not a usable URL.
        """
        import aiohttp

        try:
            urlsplit(url).port  # noqa: B018 - parse now: yarl's ValueError is not ours
        except ValueError as exc:
            raise LocalProtocolError(f"not a usable URL {url!r}: {exc}") from None
        started = _log_request(method, url, raw_text((headers or {}).items(), b""), body)
        try:
            async with asyncio.timeout(timeout):
                async with self.session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    data=body or None,
                    allow_redirects=False,
                ) as response:
                    data = await _read_capped(response.content, max_bytes)
                    if len(data) > max_bytes:
                        raise TransportError(f"reply from {url} is larger than {max_bytes} bytes")
                    reply = HttpReply(
                        status=response.status,
                        headers=Headers((k, v) for k, v in response.headers.items()),
                        body=data,
                        url=url,
                        reason=response.reason or "",
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
