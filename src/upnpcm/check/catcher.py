"""A NOTIFY catcher for the checker: records every event message and answers as scripted.

Unlike :class:`~upnpcm.aio.events.EventListener` (which checks and routes
NOTIFYs for self-healing subscriptions), the catcher judges nothing: it keeps
each request as it came (headers, body, the local address it was sent to)
for the eventing checks, and answers by the path's mode: ``ok`` → 200,
``fail`` → 500, ``hang`` → no answer until the catcher stops. Framing is
llhttp (httptools). Bounded: at most 128 connections, 1 MiB a body, 10 000
requests kept.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Final, Literal, cast

import httptools

from upnpcm.core.gena import MAX_NOTIFY_BYTES
from upnpcm.core.http import Headers, format_host

__all__ = ["Caught", "Mode", "NotifyCatcher"]

Mode = Literal["ok", "fail", "hang"]
MAX_CONNECTIONS: Final = 128
MAX_KEPT: Final = 10_000
_ANSWERS: Final = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "fail": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Caught:
    """One request as it arrived."""

    method: str
    path: str
    headers: Headers
    body: bytes
    peer: str
    local: str
    at: float


class _Connection(asyncio.Protocol):
    def __init__(self, catcher: NotifyCatcher) -> None:
        self._catcher = catcher
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()
        self._peer = ""
        self._local = ""
        #: The path whose request this connection holds unanswered (mode "hang").
        self.hung_path = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if len(self._catcher.connections) >= MAX_CONNECTIONS:
            self._transport.abort()
            return
        self._catcher.connections.add(self)
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self._peer, self._local = str(peer[0]), str(local[0])

    def connection_lost(self, exc: Exception | None) -> None:
        self._catcher.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > MAX_NOTIFY_BYTES:
            self.close()

    def on_message_complete(self) -> None:
        path = self._url.decode("latin-1")
        method = self._parser.get_method().decode("latin-1")
        mode = self._catcher.record(
            Caught(
                method=method,
                path=path,
                headers=Headers(self._headers),
                body=bytes(self._body),
                peer=self._peer,
                local=self._local,
                at=asyncio.get_running_loop().time(),
            )
        )
        self._headers, self._body, self._url = [], bytearray(), b""
        if mode == "hang":
            self.hung_path = path
            return
        if self._transport is None:
            return
        self._transport.write(_ANSWERS[mode])
        self._transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class NotifyCatcher:
    """An HTTP server that records NOTIFYs per path (see the module docstring)."""

    def __init__(self) -> None:
        self.connections: set[_Connection] = set()
        self._modes: dict[str, Mode] = {}
        self._caught: list[Caught] = []
        self._servers: list[asyncio.Server] = []
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self.port = 0

    async def start(self, bind_hosts: list[str]) -> None:
        """Listen on ``bind_hosts`` (one port for all).

        Raises:
            OSError: no address could be bound.
        """
        loop = asyncio.get_running_loop()
        for host in bind_hosts:
            server = await loop.create_server(
                lambda: _Connection(self), host, self.port, reuse_address=True
            )
            self._servers.append(server)
            self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection (hanging ones too)."""
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def path(self, mode: Mode = "ok") -> str:
        """A fresh path whose requests are answered per ``mode``."""
        path = f"/upnpcm-check/{next(self._ids)}"
        self._modes[path] = mode
        return path

    def url(self, host: str, path: str) -> str:
        """The callback URL of ``path`` at the local address ``host``."""
        return f"http://{format_host(host, self.port)}{path}"

    def record(self, caught: Caught) -> Mode:
        """Keep one request; return how to answer it."""
        if len(self._caught) < MAX_KEPT:
            self._caught.append(caught)
        self._changed.set()
        self._changed = asyncio.Event()
        return self._modes.get(caught.path, "ok")

    def caught(self, path: str) -> list[Caught]:
        """Every request to ``path`` so far, oldest first."""
        return [c for c in self._caught if c.path == path]

    async def wait(self, path: str, count: int, timeout: float) -> list[Caught]:
        """The requests to ``path`` once there are ``count`` (or when ``timeout`` passes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.caught(path)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                break
        return self.caught(path)

    def release(self, path: str) -> None:
        """Close the hanging connections of ``path`` (the device sees its NOTIFY fail)."""
        self._modes[path] = "ok"
        for connection in list(self.connections):
            if connection.hung_path == path:
                connection.close()
