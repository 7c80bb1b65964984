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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from upnpcm.core.http import Headers, format_host
from upnpcm.core.http_reply import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_HEAD,
    USER_AGENT,
    HttpReply,
    ReplyReader,
    connect_error,
    encode_request,
    split_url,
)
from upnpcm.errors import ConnectError, LocalProtocolError, TransportError, UpnpTimeoutError
from upnpcm.httplog import CALLS, RAW, log_reply, log_request, raw_text

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "CALLS",
    "DEFAULT_MAX_BYTES",
    "RAW",
    "AiohttpHttpClient",
    "HttpClient",
    "HttpReply",
    "LeanHttpClient",
    "raw_text",
]


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


class _ReplyReader(asyncio.Protocol):
    """Write one request; read the reply with :class:`~upnpcm.core.http_reply.ReplyReader`."""

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
        self._reader = ReplyReader(url, max_bytes=max_bytes, max_head=max_head, head_only=head_only)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the whole request at once."""
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        """Feed the reader; a complete reply, or an error, ends the exchange."""
        try:
            reply = self._reader.feed(data)
        except TransportError as exc:
            self._finish(exc)
            return
        if reply is not None:
            self._finish(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        """End of an unframed body, or a peer that hung up early."""
        try:
            self._finish(self._reader.eof())
        except ConnectError as error:
            self._finish(error)

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
        max_head: int = DEFAULT_MAX_HEAD,
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
        host, port, target = split_url(url)
        wire = encode_request(
            method, host, port, target, headers or {}, body, user_agent=self.user_agent
        )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[HttpReply] = loop.create_future()
        started = log_request(method, url, wire.partition(b"\r\n\r\n")[0].decode("latin-1"), body)
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
        log_reply(method, url, started, reply)
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
        host, port, target = split_url(url)
        return encode_request(
            method, host, port, target, headers or {}, body, user_agent=self.user_agent
        )

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
            raise connect_error(host, port, exc) from exc
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
        started = log_request(method, url, raw_text((headers or {}).items(), b""), body)
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
        log_reply(method, url, started, reply)
        return reply

    async def close(self) -> None:
        """The session belongs to the caller: left open."""
