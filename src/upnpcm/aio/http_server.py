"""A lean HTTP/1.1 server protocol for the device side (asyncio + httptools/llhttp).

Why not aiohttp's server here: a device answers many small, identical
requests, and aiohttp's per-request machinery alone costs more than our whole
SOAP handling (bench/RESULTS.md measures both). Framing is not ours: llhttp,
the parser aiohttp uses too, validates request lines, headers,
Content-Length, chunked bodies and their combinations. What this module adds
are the limits and timeouts a device needs, with the exact statuses:

=====================================================  ======
request line longer than ``max_request_line``           414
a header field over ``max_field``, or over
``max_headers`` headers, or a head (request target and
header fields, however the reads split them) over
``max_head``                                            431
a method llhttp does not know                           501
a transfer coding other than ``chunked``                501
a request line without an HTTP version (HTTP/0.9),
chunk extensions over ``max_chunk_extension`` bytes,
a Content-Length of more than 20 digits, any other
framing error (bad Content-Length, CL+TE, bad chunk
size, bad version, garbage)                             400
a body over ``max_body`` (from Content-Length before
reading, or from each chunk size before its data);
an ``Expect: 100-continue`` request gets no 100 then    413
=====================================================  ======

llhttp frames every message; it does not report chunk sizes or extensions,
so a chunked body is read by :class:`~upnpcm.core.http.ChunkedBody` first
(rule B9): a read that may hold a chunked request is fed to llhttp one
message part at a time (head, then body), so that its body is known to start
where its head ends. Numbers are read by the one integer parser (rule B8).

Trailer fields after a chunked body count towards ``max_head`` and are then
dropped: the application sees the header section only (RFC 9110 §6.5.1).

Every error response closes the connection. A client that sends its head too
slowly (``header_timeout``), its body too slowly (``body_timeout``) or stays
idle (``keepalive_timeout``) is disconnected.

Memory per connection is bounded: pipelined requests are answered in order and
reading pauses while the peer does not read its responses; requests that
arrived in the same read are answered only while fewer than
``max_write_buffer`` bytes and ``max_pipelined`` responses wait unsent, after
which the connection is closed (the peer retries what got no answer, RFC 9112
§9.3.2). A closing connection whose peer does not take the rest within
``linger_timeout`` is aborted. A :class:`ConnectionGate` admits at most
``max_connections`` connections at once and at most ``max_connections_per_peer``
from one address; one more is answered 503 (``Retry-After: 1``) and half-closed,
and what it sends is dropped until it hangs up (at most ``REFUSE_GRACE``
seconds), so one host cannot take the whole budget and a refused client sees
the 503 rather than a reset.

The application is a plain function ``HttpRequest -> (HttpResponse, after)``:
``after`` (or None) runs once the response has been handed to the kernel. It
may instead return a future of that pair (an answer that takes time, e.g. an
``async`` action): reading from that connection pauses until the future is
done, requests the peer pipelined meanwhile wait (at most ``max_pipelined``,
then the connection is closed after the answers owed) and are answered in
order afterwards (RFC 9112 §9.3.2); other connections are not held up. The
application bounds how long its future takes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, cast

import httptools

from upnpcm.core.http import (
    REASONS,
    ChunkedBody,
    Headers,
    HttpRequest,
    HttpResponse,
    decimal,
    format_head,
    http_date,
    normalise_ip,
    plain_ip,
)
from upnpcm.core.memo import HeadMemo, KnownHead
from upnpcm.errors import RemoteProtocolError

__all__ = [
    "ConnectionGate",
    "HttpLimits",
    "HttpProtocol",
    "Reply",
    "RequestHandler",
    "RequestMemory",
    "WriteBatch",
    "listen",
    "plain_answer",
    "reap_connections",
]

_LOG: Final = logging.getLogger("upnpcm.http")
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ ")

#: A response, and what to run once it is out (or None).
Reply = tuple[HttpResponse, Callable[[], None] | None]
#: ``handle(request) -> reply``, or a future of the reply when the answer takes time.
RequestHandler = Callable[[HttpRequest], "Reply | asyncio.Future[Reply]"]


class RequestMemory(Protocol):
    """An application's memory of whole requests, by their bytes (optional).

    A read that starts between requests is first offered to :meth:`recall`
    with the address and port it arrived on: an answer (and its keep-alive
    verdict) is sent as the handler's would be, and nothing is parsed. A read
    that held exactly one whole request, answered at once and needing nothing
    else from the connection (no ``100 Continue``, no chunked body), is
    handed to :meth:`remember` afterwards with that request and verdict. The
    application decides what it keeps (e.g. answers that are a pure function
    of the bytes and of state it can check).

    A connection whose last whole read was not recalled looks at the head
    first (M6): a known head under which nothing was ever kept is not offered
    to :meth:`recall` (its answer comes from the handler, as it would anyway).
    """

    def recall(self, raw: bytes, local: str, local_port: int) -> tuple[HttpResponse, bool] | None:
        """The answer to a request whose bytes are ``raw`` and its keep-alive verdict, or None."""

    def remember(self, raw: bytes, request: HttpRequest, keep_alive: bool) -> bool:
        """``raw`` were exactly the bytes of ``request``, just answered; True if it kept them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Sizes, counts and timeouts (rules B1-B4)."""

    max_request_line: int = 8190
    max_field: int = 8190
    max_headers: int = 100
    #: Request target plus header fields, in bytes.
    max_head: int = 16 * 1024
    max_body: int = 16 * 1024
    #: Bytes of chunk extensions one chunk-size line may carry.
    max_chunk_extension: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0
    #: Connections open at once; more are answered 503 and closed.
    max_connections: int = 64
    #: Connections open at once from one peer address; more are answered 503 and closed.
    max_connections_per_peer: int = 8
    #: Refused connections given up to REFUSE_GRACE to read their 503; past that closed at once.
    max_refusing: int = 64
    #: Unsent response bytes after which pipelined requests are no longer answered.
    max_write_buffer: int = 256 * 1024
    #: Unsent responses after which pipelined requests are no longer answered.
    max_pipelined: int = 64
    #: How long a closing connection may take to hand over its last bytes.
    linger_timeout: float = 10.0

    def __post_init__(self) -> None:
        """Every size, count and timeout positive and finite; the per-peer cap within the global.

        Raises:
            ValueError: naming the field (the settings loader reports it as a ConfigError).
        """
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0 < value < float("inf"):  # also refuses NaN
                raise ValueError(f"{name} must be a positive, finite number")
        if self.max_connections_per_peer > self.max_connections:
            raise ValueError(
                f"max_connections_per_peer ({self.max_connections_per_peer}) must not exceed "
                f"max_connections ({self.max_connections})"
            )


_NO_HEADERS: Final = Headers()
_OVERLOADED: Final = HttpResponse(
    status=503,
    headers=(("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "1")),
    body=b"503 Service Unavailable: too many connections\n",
)


#: How long a refused connection may take to read its 503 and hang up; bytes it may send meanwhile.
REFUSE_GRACE: Final = 1.0
#: Connections the kernel may hold for accept() (the kernel caps it at somaxconn).
#: asyncio's default of 100 overflowed now and then at 40k new connections a second
#: from 50 clients (a control point opening one per action): an overflow drops the
#: handshake's last ACK, and that request waits for the retransmission.
LISTEN_BACKLOG: Final = 1024
_REFUSE_MAX_READ: Final = 64 * 1024


class _Refuse(asyncio.Protocol):
    """A refused connection (over a cap): the 503, a half-close, and nothing kept.

    What the peer sends is read and dropped until it hangs up (at most
    ``REFUSE_GRACE`` seconds and 64 KiB): closing with its request unread
    would make the kernel reset the connection, and the peer would most
    often get the reset instead of the 503. At most ``max_refusing`` refused
    connections wait so at once (a flood must not hold sockets this way);
    past that the 503 is written and the connection closed at once.
    """

    def __init__(self, server_header: str, gate: ConnectionGate) -> None:
        self._server_header = server_header
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503, half-close, and give the peer REFUSE_GRACE seconds to hang up."""
        tcp = self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        tcp.write(serialize_response(_OVERLOADED, close=True, server=self._server_header))
        if self._gate.refusing >= self._gate.limits.max_refusing or not tcp.can_write_eof():
            tcp.close()
            return
        self._gate.refusing += 1
        tcp.write_eof()
        self._timer = asyncio.get_running_loop().call_later(REFUSE_GRACE, tcp.abort)

    def data_received(self, data: bytes) -> None:
        """Drop what the peer sends; a peer that sends too much is cut off."""
        self._read += len(data)
        if self._read > _REFUSE_MAX_READ and self._transport is not None:
            self._transport.abort()

    def eof_received(self) -> bool | None:
        """The peer hung up: close (None lets the transport close itself)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no timer is left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._gate.refusing -= 1
        self._transport = None


class ConnectionGate:
    """Admission of a server's connections: a global and a per-peer cap (rule B4)."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        #: The open (admitted) connections.
        self.connections: set[HttpProtocol] = set()
        self._per_peer: dict[str, int] = {}
        #: Connections refused, over either cap.
        self.refused = 0
        #: Refused connections still open, waiting for their peer to hang up.
        self.refusing = 0

    def protocol(
        self, make: Callable[[], HttpProtocol], server_header: str = ""
    ) -> asyncio.Protocol:
        """A protocol for a new connection: ``make()`` or, over the global cap, a 503."""
        if len(self.connections) >= self.limits.max_connections:
            self.refused += 1
            return _Refuse(server_header, self)
        protocol = make()
        self.connections.add(protocol)
        return protocol

    def admit(self, peer: str) -> bool:
        """Count a connection from ``peer``; False when it is over the per-peer cap."""
        count = self._per_peer.get(peer, 0)
        if count >= self.limits.max_connections_per_peer:
            self.refused += 1
            return False
        self._per_peer[peer] = count + 1
        return True

    def closed(self, protocol: HttpProtocol, peer: str | None) -> None:
        """``protocol`` is gone; ``peer`` is the address it was admitted for, if any."""
        self.connections.discard(protocol)
        if peer is not None:
            count = self._per_peer.pop(peer, 0) - 1
            if count > 0:
                self._per_peer[peer] = count


async def listen(
    gate: ConnectionGate,
    make: Callable[[tuple[str, int] | None], HttpProtocol],
    host: str,
    port: int,
    *,
    server_header: str = "",
) -> asyncio.Server:
    """Listen on ``host``:``port``; each connection gets ``make(local)``, through ``gate``.

    ``local`` is the (address, port) the server listens on when that is one
    specific address: its connections then need not ask the kernel where they
    arrived (a ``getsockname`` per connection). None for a wildcard address
    or a name that bound several sockets.

    Raises:
        OSError: the address cannot be bound.
    """
    local: tuple[str, int] | None = None

    def factory() -> asyncio.Protocol:
        return gate.protocol(lambda: make(local), server_header)

    server = await asyncio.get_running_loop().create_server(
        factory, host=host, port=port, reuse_address=True, backlog=LISTEN_BACKLOG
    )
    if len(server.sockets) == 1:
        ip, bound = server.sockets[0].getsockname()[:2]
        address = plain_ip(str(ip))
        if address is not None and not address.is_unspecified:
            local = (str(address), int(bound))
    return server


class _Date:
    """The ``Date:`` header line, rebuilt at most once a second."""

    second = -1
    line = b""

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second, cls.line = now, f"Date: {http_date(now)}\r\n".encode("latin-1")
        return cls.line


_head_cache: dict[tuple[int, tuple[tuple[str, str], ...], str], tuple[bytes, bool]] = {}


def _head_block(response: HttpResponse, server: str) -> tuple[bytes, bool]:
    """The status line and headers (without Connection), and whether they asked to close.

    Responses repeat the same status and headers: each distinct head is built once.
    A ``Connection`` header is the application's choice (e.g. Sonos answers GENA
    with ``Connection: close``); it is left out here and becomes the flag.
    """
    key = (response.status, response.headers, server)
    cached = _head_cache.get(key)
    if cached is None:
        fields: list[tuple[str, str]] = []
        have_server = close = False
        for name, value in response.headers:
            lname = name.lower()
            if lname == "connection":
                close = close or value.strip().lower() == "close"
                continue
            fields.append((name, value))
            have_server = have_server or lname == "server"
        if server and not have_server:
            fields.append(("Server", server))
        status = f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"
        cached = (format_head(status, fields), close)
        if len(_head_cache) >= 128:
            _head_cache.clear()
        _head_cache[key] = cached
    return cached


def _wire(block: bytes, body: bytes, *, head: bool, close: bool) -> bytes:
    return b"".join(
        (
            block,
            b"Content-Length: %d\r\n" % len(body),
            _Date.get(),
            b"Connection: close\r\n\r\n" if close else b"\r\n",
            b"" if head else body,
        )
    )


def serialize_response(
    response: HttpResponse, *, head: bool = False, close: bool = False, server: str = ""
) -> bytes:
    """The wire form of ``response`` (Content-Length and Date added).

    A ``Connection: close`` among the response's headers closes it as ``close`` does.
    """
    block, asked_close = _head_block(response, server)
    return _wire(block, response.body, head=head, close=close or asked_close)


def _append(buffer: bytes | bytearray, more: bytes) -> bytes | bytearray:
    """``buffer`` + ``more``: a first piece is kept as it came, later ones join a bytearray."""
    if not buffer:
        return more
    if type(buffer) is bytes:
        buffer = bytearray(buffer)
    buffer += more
    return buffer


#: What one connection may have waiting in the batch (HW1): more is handed over at once,
#: so a peer pipelining without reading meets the transport's own limits as before.
BATCH_FLUSH_BYTES: Final = 16 * 1024


class WriteBatch:
    """Answers written during one turn of the event loop, handed to their transports at its end.

    Rule HW1: on a loaded device one turn answers many connections; handed over
    together, a peer waiting for several of them is woken once rather than once
    per answer, which on a virtual machine costs more than the answer itself
    (bench/RESULTS.md). Each connection's bytes keep their order, and an answer
    that something must follow (a close, an initial NOTIFY) is handed over at
    once. One batch per server and loop; a connection given none writes every
    answer at once (the same bytes, in the same order, on every connection).
    """

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[HttpProtocol] = []

    def add(self, protocol: HttpProtocol) -> None:
        """``protocol`` wrote its first bytes of this turn: flush it at the turn's end."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(protocol)

    def flush(self) -> None:
        """Hand every waiting connection's bytes to its transport."""
        pending, self._pending = self._pending, []
        for protocol in pending:
            protocol.flush()


class HttpProtocol(asyncio.Protocol):
    """One client connection (see the module docstring for the rules).

    Slotted: a device may hold thousands of idle kept-alive connections, and
    each costs what its protocol object, its parser and its transport weigh.
    ``loop`` and ``local`` (the listening address and port) may be given by
    the server, which knows them, so a new connection asks neither the loop
    nor the kernel (:func:`listen`).
    """

    __slots__ = (
        "_admitted",
        "_after_write",
        "_backlog",
        "_batch",
        "_body",
        "_body_left",
        "_body_timed",
        "_chunks",
        "_closed_waiter",
        "_closing",
        "_coded",
        "_gate",
        "_handler",
        "_head_bytes",
        "_headers",
        "_heads",
        "_idle",
        "_in_body",
        "_in_head",
        "_limits",
        "_local",
        "_local_port",
        "_loop",
        "_memory",
        "_messages",
        "_method",
        "_on_close",
        "_out",
        "_out_size",
        "_parser",
        "_paused",
        "_peer",
        "_plain",
        "_raw_head",
        "_recalling",
        "_reject",
        "_request_headers",
        "_server_header",
        "_stopped",
        "_tail",
        "_transport",
        "_unsent",
        "_url",
        "_waiting",
        "_waiting_for",
        "_whole",
        "deadline",
    )

    def __init__(
        self,
        handler: RequestHandler,
        limits: HttpLimits,
        *,
        server_header: str = "",
        on_close: Callable[[HttpProtocol], None] | None = None,
        gate: ConnectionGate | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        local: tuple[str, int] | None = None,
        memory: RequestMemory | None = None,
        heads: HeadMemo | None = None,
        batch: WriteBatch | None = None,
    ) -> None:
        self._handler = handler
        #: Answers of one turn of the loop sent together (rule HW1); None: each at once.
        self._batch = batch
        #: What this connection wrote during the current turn, for the batch.
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._memory = memory
        #: Heads read before (rule M6), shared by the server's connections.
        self._heads = heads
        #: Requests completed in the current read, and the one answered at once (with
        #: its keep-alive verdict) when it needed nothing else: for ``memory``.
        self._messages = 0
        self._whole: tuple[HttpRequest, bool] | None = None
        #: The last whole read was recalled (or none came yet): offer the next to
        #: ``memory`` before looking at its head.
        self._recalling = True
        self._on_close = on_close
        self._gate = gate
        self._admitted: str | None = None  # the peer address the gate counted
        self._closed_waiter: asyncio.Future[None] | None = None  # made by wait_closed()
        self._limits = limits
        self._server_header = server_header
        self._loop = loop or asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        #: llhttp, made when a read needs it and dropped by the reaper's sweep while
        #: the connection waits for its next request: an idle connection holds none
        #: (one weighs about 0.9 KB), and a request answered by its bytes or its
        #: known head (M5, M6) never needs one.
        self._parser: httptools.HttpRequestParser | None = None
        self._peer = ""
        #: The address and port the connection arrived on ("", 0: ask the transport).
        self._local, self._local_port = local or ("", 0)
        #: loop.time() after which the connection is closed (checked by a reaper).
        self.deadline = float("inf")
        self._closing = False
        self._paused = False
        self._idle = False  # between requests on a kept-alive connection
        self._unsent = 0  # responses written while the write buffer was not empty
        self._stopped = False  # no longer answering this peer's pipelined requests
        #: Run once the write buffer is empty (see _after_flush); a list only while some wait.
        self._after_write: list[Callable[[], None]] | None = None
        #: The answer being waited for (a future), with its (HEAD?, keep-alive?).
        self._waiting: asyncio.Future[Reply] | None = None
        self._waiting_for = (False, False)
        #: Requests pipelined behind a pending answer, answered in order after it.
        self._backlog: list[tuple[HttpRequest, bool]] | None = None
        self._tail = b""  # the last bytes read: a CRLFCRLF may be split between reads
        self._coded = False  # the head being read came in a read that held "Transfer-Encoding"
        self._reset()

    def _reset(self) -> None:
        self._url: bytes | bytearray = b""
        self._headers: list[tuple[str, str]] = []
        self._request_headers = _NO_HEADERS  # the header section, once complete
        self._body: bytes | bytearray = b""
        self._head_bytes = 0  # target + header fields, counted in the callbacks
        self._raw_head = 0  # bytes received while no body was expected (backstop)
        self._in_body = False
        self._chunks: ChunkedBody | None = None  # a chunked body's announcements (B9)
        self._body_left = 0  # Content-Length bytes of the body not yet seen
        self._in_head = False  # between on_message_begin and on_headers_complete
        self._body_timed = False
        self._method = ""
        self._reject: RemoteProtocolError | None = None
        self._plain = True  # no 100 Continue written, no chunked body (see RequestMemory)

    # ------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Record the addresses; the first head must arrive within header_timeout."""
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self._peer = normalise_ip(str(peer[0])) if peer else ""
        if not self._local_port:  # not handed in by listen(): ask the kernel
            local = transport.get_extra_info("sockname")
            if local:
                self._local, self._local_port = normalise_ip(str(local[0])), int(local[1])
        self._arm(self._limits.header_timeout)
        if self._gate is not None:
            if not self._gate.admit(self._peer):
                _LOG.debug("%s: over the per-peer connection cap", self._peer)
                self._gate.closed(self, None)  # never admitted: the refusal takes over
                refusal = _Refuse(self._server_header, self._gate)
                self._transport.set_protocol(refusal)
                self._transport, self._closing = None, True
                self.deadline = float("inf")
                refusal.connection_made(transport)
                return
            self._admitted = self._peer

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport; tell the owner."""
        self._cancel_timer()
        self._transport = None
        self._out, self._out_size = None, 0
        self._closing = True
        self._run_after_write()  # the peer is gone: nothing can overtake the response now
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        if self._on_close is not None:
            self._on_close(self)
        if self._gate is not None:
            self._gate.closed(self, self._admitted)
            self._admitted = None

    def close(self) -> None:
        """Close the connection once buffered bytes are out (the server is stopping)."""
        self._close_after_write()

    async def wait_closed(self) -> None:
        """Return once the connection is gone (connection_lost seen)."""
        if self._transport is None:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await self._closed_waiter

    def abort(self) -> None:
        """Close the connection now, dropping whatever the peer has not taken."""
        self._closing = True
        self._out, self._out_size = None, 0
        self._cancel_timer()
        if self._transport is not None:
            self._transport.abort()

    @property
    def is_open(self) -> bool:
        """Whether the transport is still there (connection_lost not yet seen)."""
        return self._transport is not None

    def write_buffer_size(self) -> int:
        """Response bytes waiting in our buffers (the batch's, the transport's) for the peer."""
        if self._transport is None:
            return 0
        return self._out_size + self._transport.get_write_buffer_size()

    def _write(self, data: bytes) -> None:
        """Hand ``data`` to the transport, or to the batch that does so at the end of the turn (HW1)."""
        transport = self._transport
        if transport is None:
            return
        batch = self._batch
        if batch is None:
            transport.write(data)
            return
        if self._out is None:
            self._out = [data]
            self._out_size = len(data)
            batch.add(self)
        else:
            self._out.append(data)
            self._out_size += len(data)
        if self._out_size > BATCH_FLUSH_BYTES:  # pipelined answers: the transport's limits rule
            self.flush()

    def flush(self) -> None:
        """Hand what this connection wrote during the turn to its transport, in order (HW1)."""
        out, self._out, self._out_size = self._out, None, 0
        if out and self._transport is not None:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def pause_writing(self) -> None:
        """The peer does not read: stop reading its requests."""
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """The peer reads again: resume (and run what waited for an empty buffer)."""
        transport = self._transport
        if self._after_write and transport is not None and transport.get_write_buffer_size() == 0:
            self._run_after_write()
        if self._transport is not None and self._paused:
            self._paused = False
            if self._waiting is None:  # still paused while an answer is pending
                self._transport.resume_reading()

    def _arm(self, seconds: float) -> None:
        self.deadline = self._loop.time() + seconds

    def _cancel_timer(self) -> None:
        self.deadline = float("inf")

    def expire(self, now: float) -> bool:
        """Close the connection if its deadline has passed; True if it did.

        A connection waiting for its next request (kept alive) gives up its
        llhttp parser here: between requests llhttp holds nothing of ours.
        """
        if now < self.deadline:
            if self._idle:
                self._parser = None
            return False
        self.deadline = float("inf")
        self._out, self._out_size = None, 0
        if self._transport is not None:
            self._transport.abort()
        self._closing = True
        return True

    # ------------------------------------------------------------------ input

    def data_received(self, data: bytes) -> None:
        """Feed llhttp; answer framing errors with their exact status and close."""
        if self._closing:
            return
        memory, heads = self._memory, self._heads
        whole = not (self._in_head or self._in_body) and self._waiting is None
        if whole:
            asked = False
            if memory is not None and self._recalling:
                asked = True
                known = memory.recall(data, self._local, self._local_port)
                if known is not None:
                    self._deliver(known[0], None, head=False, keep_alive=known[1])
                    return
                self._recalling = False
            seen, cut, head = None, 0, b""
            if heads is not None:
                cut = data.find(b"\r\n\r\n") + 4
                if cut > 3:
                    head = data[:cut]
                    seen = heads.get(head)
            if memory is not None and not asked and (seen is None or seen.recallable):
                known = memory.recall(data, self._local, self._local_port)
                if known is not None:
                    self._recalling = True
                    self._deliver(known[0], None, head=False, keep_alive=known[1])
                    return
            if seen is not None and len(data) - cut == seen.body_length:
                self._take(data, seen, head, data[cut:])
                return
            self._messages, self._whole = 0, None
        if not self._in_body:
            # Backstop for what llhttp/httptools hold between reads (a header
            # field is only reported once complete): never more than one head.
            self._raw_head += len(data)
        try:
            self._feed(data)
        except RemoteProtocolError as exc:  # what a chunked body announced (B9)
            self._error(exc.http_status, str(exc))
        except httptools.HttpParserUpgrade:
            self._close_after_write()
        except httptools.HttpParserInvalidMethodError:
            self._error(501 if _TOKEN.match(bytes(data[:32])) else 400, "unknown method")
        except httptools.HttpParserCallbackError:
            if self._stopped:
                return  # we stopped answering (pipelining over the limits)
            reject = self._reject or RemoteProtocolError("bad request")
            self._error(reject.http_status, str(reject))
        except httptools.HttpParserError as exc:
            self._error(400, str(exc))
        else:
            if whole and self._messages == 1 and self._whole is not None:
                if not (self._in_head or self._in_body):  # the read held that request alone
                    self._learn(data, *self._whole)
                self._whole = None
            if not self._in_body:
                if self._raw_head > self._limits.max_head:
                    self._error(414 if not self._headers else 431, "request head too large")
            elif not self._body_timed:
                # A head arrived but not all of its body: the rest must come in time.
                # (Armed here, once per request, not in on_headers_complete: most
                # bodies arrive in the same read and never need it.)
                self._body_timed = True
                self._arm(self._limits.body_timeout)

    def _learn(self, data: bytes, request: HttpRequest, keep_alive: bool) -> None:
        """``data`` held ``request`` alone, answered at once: remember it (rules M5, M6)."""
        kept = self._memory is not None and self._memory.remember(data, request, keep_alive)
        heads = self._heads
        # llhttp takes CRLF line ends only: the head ends at the first blank line, unless
        # the read starts with the empty lines llhttp skips between requests.
        if heads is not None and data[:1] not in b"\r\n":
            heads.keep(
                data[: data.find(b"\r\n\r\n") + 4],
                KnownHead(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    headers=request.headers,
                    keep_alive=keep_alive,
                    body_length=len(request.body),
                    recallable=kept,
                ),
            )

    def _take(self, data: bytes, seen: KnownHead, head: bytes, body: bytes) -> None:
        """A read that is a head read before and its whole body (M6): answer it, unparsed."""
        self._idle = False
        request = HttpRequest(
            method=seen.method,
            path=seen.path,
            query=seen.query,
            headers=seen.headers,
            body=body,
            peer=self._peer,
            local=self._local,
            local_port=self._local_port,
        )
        answered = self._answer(request, seen.keep_alive) and self._waiting is None
        if (
            answered
            and self._memory is not None
            and self._memory.remember(data, request, seen.keep_alive)
            and self._heads is not None
        ):
            self._heads.mark_recallable(head)

    def _llhttp(self) -> httptools.HttpRequestParser:
        parser = self._parser
        if parser is None:
            parser = self._parser = httptools.HttpRequestParser(self)
        return parser

    def _feed(self, data: bytes) -> None:
        """Hand ``data`` to llhttp; a chunked body is read by its ChunkedBody first (B9).

        A read that holds no ``Transfer-Encoding`` (in any case) and does not
        continue a head goes to llhttp whole: no chunked body can start in it.
        """
        if not self._in_head and self._chunks is None and b"transfer-encoding" not in data.lower():
            self._llhttp().feed_data(data)
        else:
            self._feed_in_parts(data)
        if self._in_head:  # the head goes on in the next read: keep the end of this one
            self._tail = data[-3:] if len(data) >= 3 else (self._tail + data)[-3:]

    def _feed_in_parts(self, data: bytes) -> None:
        """Cut ``data`` where each head ends; read each chunked body before llhttp does.

        A Content-Length body is handed over as one piece. Only the cut points
        are ours: llhttp still parses every byte, in order.
        """
        position, end = 0, len(data)
        while position < end and not self._closing:
            if not self._in_body:
                self._coded = (
                    True  # this head may hold a Transfer-Encoding: on_headers_complete looks
                )
                cut = self._head_end(data, position)
                upto = end if cut < 0 else cut
            elif self._chunks is not None:
                stop = self._chunks.feed(data, position)
                upto = end if stop is None else stop
            else:  # on_body counts the Content-Length body down
                upto = min(end, position + self._body_left) if self._body_left > 0 else end
            self._llhttp().feed_data(data[position:upto])
            position = upto

    def _head_end(self, data: bytes, position: int) -> int:
        """Just past the end of the head going on at ``data[position]``, or -1.

        llhttp accepts a head only with CRLF line ends and no line folding, so
        it ends at the first CRLFCRLF, which may be split between two reads
        (the last bytes of the previous one are kept in ``_tail``).
        """
        if position == 0 and self._tail:
            at = (self._tail + data[:3]).find(b"\r\n\r\n")
            if at >= 0:
                return at + 4 - len(self._tail)
        at = data.find(b"\r\n\r\n", position)
        return -1 if at < 0 else at + 4

    # llhttp callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        """llhttp: a request starts."""
        self._in_head = True
        if self._idle:  # the keep-alive wait is over: now the head must arrive in time
            self._idle = False
            self._arm(self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        """llhttp: (part of) the request target."""
        self._url = _append(self._url, url)
        self._head_bytes += len(url)
        if len(self._url) > self._limits.max_request_line:
            self._fail(414, "request line too long")
        if self._head_bytes > self._limits.max_head:
            self._fail(431, "request head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one complete header field."""
        size = len(name) + len(value)
        if size > self._limits.max_field:
            self._fail(431, "header field too large")
        if len(self._headers) >= self._limits.max_headers:
            self._fail(431, "too many header fields")
        self._head_bytes += size + 4  # ": " and CRLF
        if self._head_bytes > self._limits.max_head:
            self._fail(431, "request head too large")
        if self._in_body:
            # A trailer field of a chunked body: counted above, then dropped; it
            # is never merged into the header section (RFC 9110 §6.5.1).
            return
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        """llhttp: the head is complete; check the announced body size, then 100-continue."""
        self._method = self._llhttp().get_method().decode("ascii", "replace")
        self._in_head = False
        self._in_body = True
        # Complete now: trailer fields (on_header after this) are never added.
        headers = self._request_headers = Headers(self._headers)
        coded, self._coded = self._coded, False
        if coded and "transfer-encoding" in headers:  # llhttp refused chunked not last
            codings = [
                coding.strip().lower()
                for value in headers.get_all("transfer-encoding")
                for coding in value.split(",")
            ]
            if any(coding != "chunked" for coding in codings):
                self._fail(501, "transfer coding not implemented")
            self._chunks = ChunkedBody(
                max_body=self._limits.max_body, max_extension=self._limits.max_chunk_extension
            )
            self._plain = False
        for value in headers.get_all("content-length"):
            # llhttp has validated the digits; more than 20 of them (leading zeros
            # included) are not a length we read (rule B8).
            length = decimal(value.strip())
            if length is None:
                self._fail(400, "bad Content-Length")
            elif length > self._limits.max_body:
                self._fail(413, "request body too large")
            else:
                self._body_left = length
        expect = headers.get_all("expect")
        if (
            expect
            and any(value.strip().lower() == "100-continue" for value in expect)
            and self._transport is not None
        ):
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._plain = False

    def on_body(self, body: bytes) -> None:
        """llhttp: (part of) the body."""
        self._body = _append(self._body, body)
        self._body_left -= len(body)
        if len(self._body) > self._limits.max_body:
            self._fail(413, "request body too large")

    def on_message_complete(self) -> None:
        """llhttp: the request is complete; answer it (or queue it behind a pending answer).

        Every way out re-arms the deadline: keep-alive, linger (closing), none
        (connection lost) or none while an answer is pending (the application
        bounds that); the handler runs synchronously, so no reaper runs before.
        """
        path, _, query = self._url.decode("latin-1").partition("?")
        request = HttpRequest(
            method=self._method,
            path=path,
            query=query,
            headers=self._request_headers,
            body=bytes(self._body),
            peer=self._peer,
            local=self._local,
            local_port=self._local_port,
        )
        parser = self._llhttp()
        keep_alive = parser.should_keep_alive()
        if not keep_alive and parser.get_http_version() == "0.9":  # never kept alive
            self._fail(400, "request line without an HTTP version")  # B10
        plain = self._plain and self._chunks is None
        self._reset()
        self._messages += 1
        if self._waiting is not None:
            backlog = self._backlog
            if backlog is None:
                backlog = self._backlog = []
            if len(backlog) >= self._limits.max_pipelined:
                # Answer what is owed, then close; raising ends this read's parse.
                self._stopped = True
                raise RemoteProtocolError(
                    "too many requests behind a pending answer", http_status=503
                )
            backlog.append((request, keep_alive))
            return
        if not self._answer(request, keep_alive):
            # A peer pipelining without reading: stop answering, so what we hold
            # for it stays bounded; raising ends this read's parse.
            raise RemoteProtocolError("pipelined responses not read", http_status=503)
        if plain and self._waiting is None:
            self._whole = (request, keep_alive)

    def _answer(self, request: HttpRequest, keep_alive: bool) -> bool:
        """Run the handler for ``request``; False if the peer stopped reading (we close)."""
        try:
            outcome = self._handler(request)
        except Exception:
            _LOG.exception("request handler failed")
            outcome, keep_alive = (
                (HttpResponse(status=500, body=b"500 Internal Server Error\n"), None),
                False,
            )
        if isinstance(outcome, asyncio.Future):
            self._waiting = outcome
            self._waiting_for = (request.method == "HEAD", keep_alive)
            self._cancel_timer()
            if self._transport is not None:
                self._transport.pause_reading()
            outcome.add_done_callback(self._answered)
            return True
        response, after = outcome
        return self._deliver(response, after, head=request.method == "HEAD", keep_alive=keep_alive)

    def _deliver(
        self,
        response: HttpResponse,
        after: Callable[[], None] | None,
        *,
        head: bool,
        keep_alive: bool,
    ) -> bool:
        """Write one answer; False if the peer stopped reading (the connection then closes)."""
        self._send(response, head=head, close=not keep_alive)
        if after is not None:
            self._after_flush(after)
        if self._closing:
            return True
        if self._saturated():
            _LOG.debug("%s: pipelined responses not read; closing", self._peer)
            self._stopped = True
            self._backlog = None
            self._close_after_write()
            return False
        if keep_alive:
            if self._in_head or self._in_body:
                # A request began behind a pending answer (its start is in llhttp):
                # not idle, so the reaper keeps the parser, and that request has its time.
                self._arm(
                    self._limits.body_timeout if self._in_body else self._limits.header_timeout
                )
            else:
                self._idle = True
                self._arm(self._limits.keepalive_timeout)
        return True

    def _answered(self, future: asyncio.Future[Reply]) -> None:
        """A pending answer is ready: write it, then answer what waited behind it."""
        self._waiting = None
        head, keep_alive = self._waiting_for
        if self._transport is None or self._closing:
            self._backlog = None
            return  # the peer is gone, or we are closing: nobody to answer
        reply: Reply
        if future.cancelled() or future.exception() is not None:
            if not future.cancelled():
                _LOG.error("deferred answer failed", exc_info=future.exception())
            reply, keep_alive = (plain_answer(500), None), False
        else:
            reply = future.result()
        close = self._stopped and not self._backlog
        if not self._deliver(*reply, head=head, keep_alive=keep_alive and not close):
            return
        while self._backlog and self._free():
            request, keep_alive = self._backlog.pop(0)
            if self._stopped and not self._backlog:
                keep_alive = False  # the last request answered before we close
            if not self._answer(request, keep_alive):
                return
        if self._free() and not self._paused and self._transport is not None:
            self._transport.resume_reading()

    def _free(self) -> bool:
        """No answer pending and not closing: the next request may be answered."""
        return self._waiting is None and not self._closing

    def _saturated(self) -> bool:
        transport = self._transport
        if transport is None:
            return False
        buffered = transport.get_write_buffer_size()
        if buffered == 0:
            self._unsent = 0
            return False
        self._unsent += 1
        return buffered > self._limits.max_write_buffer or self._unsent > self._limits.max_pipelined

    def _fail(self, status: int, reason: str) -> None:
        self._reject = RemoteProtocolError(reason, http_status=status)
        raise self._reject

    # ----------------------------------------------------------------- output

    def _send(self, response: HttpResponse, *, head: bool = False, close: bool = False) -> None:
        if self._transport is None or self._closing:
            return
        block, asked_close = _head_block(response, self._server_header)
        close = close or asked_close  # the application chose (e.g. Sonos GENA answers)
        self._write(_wire(block, response.body, head=head, close=close))
        if close:
            self._close_after_write()

    def _error(self, status: int, reason: str) -> None:
        _LOG.debug("%s: %d %s", self._peer, status, reason)
        self._send(plain_answer(status, reason), close=True)

    def _close_after_write(self) -> None:
        self.flush()  # HW1: what the turn wrote goes before the close
        self._closing = True
        # The reaper aborts the connection if the peer does not take the rest in time.
        self._arm(self._limits.linger_timeout)
        if self._transport is not None:
            self._transport.close()  # flushes what is buffered, then closes

    def _after_flush(self, after: Callable[[], None]) -> None:
        # "after" (e.g. the initial NOTIFY, rule E1) must follow the response: run it
        # once the response bytes have left our buffer (handed to the kernel), or the
        # peer is gone. Usually that is now; otherwise a high-water mark of 0 makes
        # the transport call resume_writing exactly when its buffer is empty.
        self.flush()  # HW1: "after" follows bytes handed to the kernel, not to the batch
        transport = self._transport
        if transport is None or transport.get_write_buffer_size() == 0:
            after()
            return
        if self._after_write is None:
            self._after_write = [after]
            transport.set_write_buffer_limits(high=0, low=0)
        else:
            self._after_write.append(after)

    def _run_after_write(self) -> None:
        waiting, self._after_write = self._after_write, None
        if waiting is None:
            return
        if self._transport is not None:
            self._transport.set_write_buffer_limits()  # the defaults again
        for after in waiting:
            after()


def plain_answer(status: int, reason: str = "") -> HttpResponse:
    """A short text/plain answer: its status line's words, and ``reason`` when there is one."""
    text = f"{status} {REASONS.get(status, 'Error')}" + (f": {reason}" if reason else "")
    return HttpResponse(
        status=status,
        headers=(("Content-Type", "text/plain; charset=utf-8"),),
        body=f"{text}\n".encode("utf-8", "replace"),
    )


class _AcceptErrorFilter(logging.Filter):
    """Turn asyncio's per-accept EMFILE tracebacks into one warning a minute."""

    PREFIX: Final = "socket.accept() out of system resource"

    def __init__(self) -> None:
        super().__init__()
        self._last = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep other records; reword the first accept error, drop repeats for 60 s."""
        if not str(record.msg).startswith(self.PREFIX):
            return True
        now = time.monotonic()
        if now - self._last < 60.0:
            return False
        self._last = now
        record.msg = (
            "out of file descriptors: new connections wait (asyncio retries the accept; "
            "further such messages are suppressed for 60 s)"
        )
        record.args = ()
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_ACCEPT_ERRORS: Final = _AcceptErrorFilter()


def quiet_accept_errors() -> None:
    """Install the accept-error filter on the ``asyncio`` logger (once)."""
    logger = logging.getLogger("asyncio")
    if _ACCEPT_ERRORS not in logger.filters:
        logger.addFilter(_ACCEPT_ERRORS)


async def close_connections(
    servers: list[asyncio.Server], connections: set[HttpProtocol], *, grace: float = 1.0
) -> None:
    """Stop ``servers`` and their ``connections``; no transport is left open.

    Connections get ``grace`` seconds to hand over what is buffered (they
    leave ``connections`` through their ``on_close``); a peer that does not
    read would keep its connection, and our buffer, forever, so the rest are
    aborted. ``servers`` is emptied.
    """
    for server in servers:
        server.close()
    for protocol in list(connections):
        protocol.close()
    if connections:
        waiters = [asyncio.ensure_future(protocol.wait_closed()) for protocol in connections]
        _, pending = await asyncio.wait(waiters, timeout=grace)
        for waiter in pending:
            waiter.cancel()
    for protocol in list(connections):
        protocol.abort()
    for server in servers:
        await server.wait_closed()
    servers.clear()


async def reap_connections(connections: set[HttpProtocol], *, interval: float = 0.5) -> None:
    """Close connections past their deadline, forever (run as a task; cancel to stop).

    One coarse sweep instead of a timer per request: a deadline is a float
    assignment on the hot path, and a timeout fires at most ``interval`` late.
    """
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for protocol in list(connections):
            protocol.expire(now)
