"""The control point's side of one HTTP exchange, without I/O: the request's bytes, the reply read.

Both of upnpcm's control point HTTP clients use it: the asyncio one
(:mod:`upnpcm.aio.http_client`) and the blocking one (:mod:`upnpcm.blocking`).
They only move the bytes of :func:`encode_request` out and feed what comes back
to a :class:`ReplyReader`.

Rules (docs/rules.md):

- HC1 A request target is origin-form and ASCII: spaces and non-ASCII characters
  of a description's URL are percent-encoded as UTF-8, existing ``%XX`` escapes
  kept (RFC 9112 §3.2.1; RFC 3986 §2.1). One request per connection
  (``Connection: close``); ``Content-Length`` whenever there is a body, and on
  every POST and NOTIFY (RFC 9112 §6.2).
- HC2 Interim ``1xx`` replies are skipped: the final reply is the answer
  (RFC 9110 §15.2). ``101 Switching Protocols`` is an error: we never ask to
  switch. A body framed by neither ``Content-Length`` nor chunked coding ends
  with the connection (RFC 9112 §6.3).
- HC3 What a peer can make us hold is bounded: the head at ``max_head`` bytes and
  100 fields, the reason phrase at 256 characters, the body at ``max_bytes``;
  past a bound the reply is refused (:class:`TransportError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlsplit

import httptools

from upnpcm._version import __version__
from upnpcm.core.http import Headers, format_head, format_host
from upnpcm.errors import ConnectError, LocalProtocolError, TransportError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_HEAD",
    "USER_AGENT",
    "HttpReply",
    "ReplyReader",
    "connect_error",
    "encode_request",
    "split_url",
]

#: What upnpcm's control point says it is (both clients).
USER_AGENT: Final = f"upnpcm/{__version__} UPnP/1.1"
#: Largest reply body read unless the caller says otherwise.
DEFAULT_MAX_BYTES: Final = 1024 * 1024
#: Largest reply head (status line and fields) read.
DEFAULT_MAX_HEAD: Final = 64 * 1024
#: Most header fields one reply may have, and the longest reason phrase kept (rule HC3).
MAX_FIELDS: Final = 100
MAX_REASON: Final = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    """A complete HTTP reply."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    url: str = ""
    #: The reason phrase of the status line, as the peer sent it ("" if none).
    reason: str = ""


#: Characters left as they are in a request target: RFC 3986 pchar, "/" and "?",
#: and "%" so that what is already percent-encoded stays so.
_TARGET_SAFE: Final = "/?%:@!$&'()*+,;=-._~"


def request_target(path: str, query: str = "") -> str:
    """The origin-form request target for ``path`` and ``query`` (rule HC1).

    A description may hold URLs with spaces or non-ASCII characters
    (``/x/€.xml``); those are percent-encoded as UTF-8, so the request line
    is always ASCII. Existing ``%XX`` escapes are kept.
    """
    target = quote(path or "/", safe=_TARGET_SAFE)
    return f"{target}?{quote(query, safe=_TARGET_SAFE)}" if query else target


def split_url(url: str) -> tuple[str, int, str]:
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
    return parts.hostname, port, request_target(parts.path, parts.query)


def encode_request(
    method: str,
    host: str,
    port: int,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    user_agent: str,
) -> bytes:
    """The request as bytes: head (Host, the caller's headers, User-Agent, framing), body (HC1).

    A ``Host`` among ``headers`` (a NOTIFY's HOST) is sent as given.

    Raises:
        LocalProtocolError: CR or LF in a header name or value.
    """
    names = {name.lower() for name in headers}
    fields: list[tuple[str, str]] = []
    if "host" not in names:
        fields.append(("Host", format_host(host, port)))
    fields.extend(headers.items())
    if "user-agent" not in names and user_agent:
        fields.append(("User-Agent", user_agent))
    if body or method in ("POST", "NOTIFY"):
        fields.append(("Content-Length", str(len(body))))
    fields.append(("Connection", "close"))
    return format_head(f"{method} {target} HTTP/1.1", fields) + b"\r\n" + body


def connect_error(host: str, port: int, exc: OSError) -> ConnectError:
    """What a failed connect says: the system's text for its errno ("Connection refused").

    The same from every client, whatever wording the event loop gave the error.
    """
    code = exc.errno
    # getaddrinfo's codes are negative: its own text says more
    reason = os.strerror(code) if code is not None and code > 0 else (exc.strerror or str(exc))
    return ConnectError(f"cannot connect to {format_host(host, port)}: {reason}")


class ReplyReader:
    """One HTTP reply, read with llhttp from the bytes fed to it (rules HC2, HC3).

    :meth:`feed` returns the reply once it is complete (None until then);
    :meth:`eof` says the connection ended. With ``head_only`` the reply is
    complete as soon as its head is (a NOTIFY's answer: nothing after it is
    read). Bytes fed after the reply are ignored.
    """

    __slots__ = (
        "_body",
        "_error",
        "_framed",
        "_head_bytes",
        "_head_done",
        "_head_only",
        "_headers",
        "_max",
        "_max_head",
        "_parser",
        "_reason",
        "_reply",
        "_url",
    )

    def __init__(
        self,
        url: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_head: int = DEFAULT_MAX_HEAD,
        head_only: bool = False,
    ) -> None:
        self._url = url
        self._max = max_bytes
        self._max_head = max_head
        self._head_only = head_only
        self._head_bytes = 0
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._reason = b""
        self._body = bytearray()
        self._head_done = False
        self._framed = False  # Content-Length or chunked: the parser knows where the body ends
        self._reply: HttpReply | None = None
        self._error: TransportError | None = None

    def feed(self, data: bytes) -> HttpReply | None:
        """Read ``data``: the reply once complete, else None.

        Raises:
            TransportError: not HTTP, a protocol upgrade (101), or over a bound (HC3).
        """
        if self._reply is not None:
            return self._reply
        if not self._head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._error is not None:
                raise self._error from None
            raise  # pragma: no cover - only our callbacks raise
        except httptools.HttpParserUpgrade:  # not an HttpParserError subclass
            if self._reply is None:
                raise TransportError(f"{self._url} answered with a protocol upgrade") from None
        except httptools.HttpParserError as exc:
            if self._reply is None:
                raise TransportError(f"invalid HTTP reply from {self._url}: {exc}") from None
        if not self._head_done and self._head_bytes > self._max_head:
            raise TransportError(f"reply head from {self._url} over {self._max_head} bytes")
        return self._reply

    def eof(self) -> HttpReply:
        """The connection ended: the reply, if it is complete now (an unframed body ends here).

        Raises:
            ConnectError: the peer hung up before a complete reply.
        """
        if self._reply is None and self._head_done and not self._framed:
            self._complete()  # the body ended with the connection (HTTP/1.0 style)
        if self._reply is None:
            raise ConnectError(f"{self._url}: connection closed before a complete reply")
        return self._reply

    # llhttp's callbacks

    def on_status(self, reason: bytes) -> None:
        """llhttp: (part of) the reason phrase of the status line."""
        if len(self._reason) < MAX_REASON:
            self._reason += reason[: MAX_REASON - len(self._reason)]

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header field."""
        if len(self._headers) >= MAX_FIELDS:
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
        if self._reply is not None:
            return
        self._body += body
        if len(self._body) > self._max:
            self._fail(TransportError(f"reply from {self._url} is larger than {self._max} bytes"))

    def on_message_complete(self) -> None:
        """llhttp: the reply is complete (an interim ``1xx`` is not the reply)."""
        if self._head_done and self._reply is None:
            self._complete()

    def _complete(self) -> None:
        self._reply = HttpReply(
            status=self._parser.get_status_code(),
            headers=Headers(self._headers),
            body=bytes(self._body),
            url=self._url,
            reason=self._reason.decode("latin-1"),
        )

    def _fail(self, error: TransportError) -> None:
        self._error = error
        raise error
