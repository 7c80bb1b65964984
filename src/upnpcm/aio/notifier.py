"""GENA NOTIFY delivery for a device (UDA 1.1 §4.3; rule B6).

One delivery task per subscription, started when the core says a message is
waiting, so one slow or dead callback never delays another. A task takes one
message at a time from the core (which coalesces changes and assigns SEQ),
tries the callback URLs in order, reports the outcome back to the core (which
drops the subscription on a 412 or after repeated failures), and then waits at
least ``min_interval`` before the next message: at most a few NOTIFY per
second per subscriber, and the last value is always the one delivered.

Each NOTIFY is one short connection (``Connection: close``) made by the
control point's lean client (:class:`~upnpcm.aio.http_client.LeanHttpClient`):
connect within ``connect_timeout``, done within ``total_timeout``, and only the
status line and headers of the reply are read (at most 4 KiB; a reply that
streams forever is cut off). That costs a fraction of a general HTTP client
(bench/RESULTS.md). At most ``max_in_flight`` deliveries run at once, so a huge
fan-out cannot exhaust file descriptors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.core.device import DeviceCore
from upnpcm.core.gena import Notification
from upnpcm.errors import TransportError

__all__ = ["DeliveryStats", "Notifier", "send_notify"]

_LOG: Final = logging.getLogger("upnpcm.gena")
#: Most reply bytes read before giving up on a subscriber's answer.
MAX_REPLY_HEAD: Final = 4096


@dataclass(slots=True)
class DeliveryStats:
    """Counters since start."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    #: Connection attempts made (one per callback URL tried).
    attempts: int = 0


async def send_notify(
    client: LeanHttpClient,
    url: str,
    message: Notification,
    *,
    total_timeout: float = 30.0,
) -> int:
    """Deliver ``message`` to one callback URL; return the reply's HTTP status.

    Only the reply's head is read, at most 4 KiB of it.

    Raises:
        TransportError: no connection, no reply within ``total_timeout``, a
            reply that is not HTTP, or a head over 4 KiB.
    """
    headers = message.headers_for(url)
    del headers["HOST"]  # written from the URL
    reply = await client.request(
        "NOTIFY",
        url,
        headers=headers,
        body=message.body,
        timeout=total_timeout,
        max_head=MAX_REPLY_HEAD,
        head_only=True,
    )
    return reply.status


class Notifier:
    """Deliver the NOTIFY messages of a :class:`DeviceCore`'s subscription tables."""

    def __init__(
        self,
        core: DeviceCore,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        min_interval: float = 0.2,
        max_in_flight: int = 256,
    ) -> None:
        self._core = core
        self._client = LeanHttpClient(connect_timeout=connect_timeout, user_agent="")
        self.total_timeout = total_timeout
        self._min_interval = min_interval
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._signals: dict[tuple[str, str], asyncio.Event] = {}
        self._closed = False
        self.stats = DeliveryStats()

    def start(self) -> None:
        """Allow deliveries (called by the server when it starts)."""
        self._closed = False

    def wake(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Tell the delivery task of each (event path, SID) that a message waits."""
        if self._closed:
            return
        for key in pairs:
            signal = self._signals.get(key)
            if signal is None:
                signal = self._signals[key] = asyncio.Event()
                self._tasks[key] = asyncio.create_task(
                    self._run(key, signal), name=f"notify {key[1]}"
                )
            signal.set()

    def forget(self, path: str, sid: str) -> None:
        """Stop delivering to a subscription that is gone (expired or unsubscribed)."""
        signal = self._signals.get((path, sid))
        if signal is not None:
            signal.set()  # the task sees the subscription is gone and ends

    @property
    def active(self) -> int:
        """Delivery tasks currently running."""
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every delivery."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._signals.clear()

    def _alive(self, path: str, sid: str) -> bool:
        table = self._core.table(path)
        return table is not None and sid in table

    async def _run(self, key: tuple[str, str], signal: asyncio.Event) -> None:
        path, sid = key
        loop = asyncio.get_running_loop()
        try:
            while True:
                await signal.wait()
                signal.clear()
                while True:
                    table = self._core.table(path)
                    if table is None or sid not in table:
                        return
                    message = table.take_message(sid)
                    if message is None:
                        break
                    started = loop.time()
                    status = await self._deliver(message)
                    if status is not None and 200 <= status < 300:
                        table.delivered(sid)
                        self.stats.sent += 1
                    else:
                        self.stats.failed += 1
                        if table.delivery_failed(sid, status=status):
                            self.stats.dropped += 1
                            _LOG.info("dropped subscription %s (last status %s)", sid, status)
                            return
                    wait = self._min_interval - (loop.time() - started)
                    if wait > 0:
                        await asyncio.sleep(wait)
                if not self._alive(path, sid):
                    return
        finally:
            self._tasks.pop(key, None)
            self._signals.pop(key, None)

    async def _deliver(self, message: Notification) -> int | None:
        """Try each callback in order; the status of the last answer, None if none answered."""
        status: int | None = None
        async with self._slots:
            for url in message.callbacks:
                self.stats.attempts += 1
                try:
                    status = await send_notify(
                        self._client, url, message, total_timeout=self.total_timeout
                    )
                except TransportError as exc:
                    _LOG.debug(
                        "NOTIFY %s SEQ %d to %s failed: %r", message.sid, message.seq, url, exc
                    )
                    continue
                if 200 <= status < 300 or status == 412:
                    return status
        return status
