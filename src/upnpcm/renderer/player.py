"""What "playing" a URI means here: an HTTP GET whose body goes into a sink (rules Y3, Y9).

The renderer has no audio output. It fetches what it is asked to play, as a
real renderer does, so that a resource that does not exist, is of a format
the renderer does not accept, or cannot be reached fails the way the
AVTransport standard says. The body goes into a :class:`Sink`: by default
:class:`DiscardSink`, which counts the bytes and throws them away, at most
``max_bytes`` of each stream; a user may supply any other (e.g. one that
decodes and plays).

Fetching uses aiohttp's client (a dependency already): redirects are
followed (at most 5), the head must arrive within ``open_timeout`` seconds
and each read within ``read_timeout``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import aiohttp

from upnpcm.renderer.media import SNIFF_BYTES, stream_duration

__all__ = ["DiscardSink", "Fetcher", "Sink", "Stream", "StreamFailed", "StreamRefused"]

#: Bytes of one stream a DiscardSink reads by default before it stops reading.
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
_CHUNK: Final = 64 * 1024


class Sink(Protocol):
    """Where the bytes of a playing stream go."""

    async def open(self, uri: str, content_type: str | None) -> None:
        """A stream starts."""
        ...

    async def write(self, data: bytes) -> bool:
        """Take ``data``; False to stop reading this stream (the sink has had enough)."""
        ...

    async def close(self, *, complete: bool) -> None:
        """The stream is over (``complete``: its end was reached)."""
        ...


@dataclass(slots=True)
class StreamRecord:
    """What a :class:`DiscardSink` saw of one stream."""

    uri: str
    content_type: str | None
    received: int = 0
    complete: bool = False
    closed: bool = False


class DiscardSink:
    """Counts the bytes of each stream and drops them; at most ``max_bytes`` per stream."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = 32) -> None:
        self.max_bytes = max_bytes
        #: The most recent streams, oldest first (at most ``keep``).
        self.streams: deque[StreamRecord] = deque(maxlen=keep)

    async def open(self, uri: str, content_type: str | None) -> None:
        """Start a record."""
        self.streams.append(StreamRecord(uri, content_type))

    async def write(self, data: bytes) -> bool:
        """Count; False once ``max_bytes`` are in."""
        record = self.streams[-1]
        record.received += len(data)
        return record.received < self.max_bytes

    async def close(self, *, complete: bool) -> None:
        """Close the record."""
        record = self.streams[-1]
        record.complete, record.closed = complete, True

    def received(self, uri: str) -> int:
        """Bytes received of ``uri`` over every stream of it still recorded."""
        return sum(r.received for r in self.streams if r.uri == uri)


class StreamRefused(Exception):
    """The server answered, and the answer means the resource cannot be played (716, 714)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class StreamFailed(Exception):
    """The stream could not be reached, or broke (a transport error, ERROR_OCCURRED)."""


class Stream:
    """One opened stream: its head is read, its body is pumped into the sink."""

    def __init__(
        self, response: aiohttp.ClientResponse, sink: Sink, read_timeout: float, uri: str
    ) -> None:
        self._response = response
        self._sink = sink
        self._read_timeout = read_timeout
        self.uri = uri
        self.content_type = response.headers.get("Content-Type")
        self._opened = False
        #: Called once with the duration the stream's first bytes give (see
        #: :mod:`upnpcm.renderer.media`), if they give one.
        self.on_duration: Callable[[float], None] | None = None
        self._sniffed = bytearray()

    async def pump(self) -> bool:
        """Read the body into the sink; True if its end was reached.

        Raises:
            StreamFailed: the connection broke or a read timed out.
        """
        complete = False
        await self._sink.open(self.uri, self.content_type)
        self._opened = True
        try:
            while True:
                async with asyncio.timeout(self._read_timeout):
                    data = await self._response.content.read(_CHUNK)
                if not data:
                    complete = True
                    self._sniff(b"", end=True)
                    return True
                self._sniff(data, end=False)
                if not await self._sink.write(data):
                    return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise StreamFailed(str(exc) or type(exc).__name__) from exc
        finally:
            await self._sink.close(complete=complete)

    def close(self) -> None:
        """Drop the connection (nothing more is read)."""
        self._response.close()

    def _sniff(self, data: bytes, *, end: bool) -> None:
        """Keep the stream's first bytes; once there are enough, read its duration (once)."""
        if self.on_duration is None:
            return
        self._sniffed += data[: SNIFF_BYTES - len(self._sniffed)]
        if not end and len(self._sniffed) < SNIFF_BYTES:
            return
        found = stream_duration(
            bytes(self._sniffed), self.content_type, self._response.content_length
        )
        callback, self.on_duration, self._sniffed = self.on_duration, None, bytearray()
        if found is not None:
            callback(found)


class Fetcher:
    """Opens streams (Y3): decides from the answer's status and type whether they can play."""

    def __init__(
        self,
        *,
        accept: Callable[[str | None], bool],
        sink: Sink | None = None,
        open_timeout: float = 10.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.accept = accept
        self.sink: Sink = sink if sink is not None else DiscardSink()
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Make the HTTP client."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.open_timeout),
                auto_decompress=False,
            )

    async def close(self) -> None:
        """Close the HTTP client (open streams break)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self, uri: str) -> Stream:
        """GET ``uri`` and read the head.

        Raises:
            StreamRefused: a 4xx/5xx status (716) or a Content-Type that is not accepted (714).
            StreamFailed: no answer (refused, reset, timed out) or not started.
        """
        if self._session is None:
            raise StreamFailed("the renderer is not started")
        try:
            async with asyncio.timeout(self.open_timeout):
                response = await self._session.get(
                    uri, allow_redirects=True, max_redirects=5, headers={"Accept": "*/*"}
                )
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise StreamFailed(str(exc) or type(exc).__name__) from exc
        if response.status >= 400:
            response.close()
            raise StreamRefused(716, f"the server answered {response.status} {response.reason}")
        content_type = response.headers.get("Content-Type")
        if not self.accept(content_type):
            response.close()
            raise StreamRefused(714, f"{content_type} is not in the Sink list")
        return Stream(response, self.sink, self.read_timeout, uri)
