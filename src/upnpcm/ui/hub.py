"""Live updates for the pages: server-sent events, one bounded queue per page.

Each message is encoded once (``event: KIND`` and one ``data:`` line of
JSON) and handed to every connected page. A page that does not keep up — its
queue of :attr:`UiLimits.client_queue` messages is full — is cut off; its
browser reconnects by itself (EventSource) and starts again from a fresh
snapshot, so nothing is ever half-shown. At most :attr:`UiLimits.max_clients`
pages are connected, :attr:`UiLimits.max_clients_per_peer` from one address.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from upnpcm.ui.model import UiLimits

__all__ = ["Client", "Hub", "encode"]


def encode(kind: str, data: object) -> bytes:
    """One server-sent event: ``event:`` and a single ``data:`` line (JSON has no newline)."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False, slots=True)
class Client:
    """One connected page."""

    peer: str
    queue: asyncio.Queue[bytes | None]
    cut_off: bool = False
    sent: int = field(default=0)


class Hub:
    """Fan every message out to the connected pages (bounded, see the module docstring)."""

    def __init__(self, limits: UiLimits) -> None:
        self.limits = limits
        self._clients: set[Client] = set()
        #: Pages cut off for falling behind.
        self.cut_offs = 0
        #: Messages published in all.
        self.published = 0

    def __len__(self) -> int:
        return len(self._clients)

    def queued(self) -> int:
        """Messages waiting in all queues (for the memory-bound test)."""
        return sum(c.queue.qsize() for c in self._clients)

    def admit(self, peer: str) -> Client | None:
        """A new page from ``peer``; None when a bound is reached."""
        if len(self._clients) >= self.limits.max_clients:
            return None
        if sum(1 for c in self._clients if c.peer == peer) >= self.limits.max_clients_per_peer:
            return None
        client = Client(peer, asyncio.Queue(maxsize=self.limits.client_queue))
        self._clients.add(client)
        return client

    def leave(self, client: Client) -> None:
        """The page went away."""
        self._clients.discard(client)

    def publish(self, kind: str, data: object) -> None:
        """Hand one message to every page."""
        self.published += 1
        if not self._clients:
            return
        message = encode(kind, data)
        for client in list(self._clients):
            if client.cut_off:
                continue
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._cut_off(client)

    def _cut_off(self, client: Client) -> None:
        client.cut_off = True
        self.cut_offs += 1
        while not client.queue.empty():  # free its memory now; the stream ends
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    async def stream(
        self, client: Client, snapshot: Callable[[], dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        """What one page receives: the snapshot, then every message, until it is cut off.

        Small messages that are already waiting are sent together (one write),
        so a burst of events costs few writes.
        """
        yield encode("snapshot", snapshot())
        while True:
            message = await client.queue.get()
            if message is None:
                return
            chunk = [message]
            while not client.queue.empty() and len(chunk) < 256:
                more = client.queue.get_nowait()
                if more is None:
                    yield b"".join(chunk)
                    return
                chunk.append(more)
            client.sent += len(chunk)
            yield b"".join(chunk)
