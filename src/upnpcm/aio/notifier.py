"""GENA NOTIFY delivery for a device (UDA 1.1 §4.3; security.md §3).

One delivery task per subscription, started when the core says a message is
waiting, so one slow or dead callback never delays another. A task takes one
message at a time from the core (which coalesces changes and assigns SEQ),
tries the callback URLs in order, reports the outcome back to the core (which
drops the subscription on a 412 or after repeated failures), and then waits at
least ``min_interval`` before the next message: at most a few NOTIFY per
second per subscriber, and the last value is always the one delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import aiohttp

from upnpcm.core.device import DeviceCore
from upnpcm.core.gena import Notification

__all__ = ["DeliveryStats", "Notifier"]

_LOG: Final = logging.getLogger("upnpcm.gena")


@dataclass(slots=True)
class DeliveryStats:
    """Counters since start."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0


class Notifier:
    """Deliver the NOTIFY messages of a :class:`DeviceCore`'s subscription tables."""

    def __init__(
        self,
        core: DeviceCore,
        *,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        min_interval: float = 0.2,
    ) -> None:
        self._core = core
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout)
        self._min_interval = min_interval
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._signals: dict[tuple[str, str], asyncio.Event] = {}
        self._closed = False
        self.stats = DeliveryStats()

    def start(self) -> None:
        """Allow deliveries (called by the server when it starts)."""
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One connection per NOTIFY (Connection: close): no idle sockets left on subscribers.
            connector = aiohttp.TCPConnector(limit=0, force_close=True, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
            )
            self._own_session = True
        return self._session

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
        task = self._tasks.get((path, sid))
        signal = self._signals.get((path, sid))
        if task is not None and signal is not None:
            signal.set()  # the task sees the subscription is gone and ends

    @property
    def active(self) -> int:
        """Delivery tasks currently running."""
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every delivery and close the HTTP session if we own it."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._signals.clear()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

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

    def _alive(self, path: str, sid: str) -> bool:
        table = self._core.table(path)
        return table is not None and sid in table

    async def _deliver(self, message: Notification) -> int | None:
        """Try each callback in order; the status of the last answer, None if none answered."""
        session = self._get_session()
        status: int | None = None
        for url in message.callbacks:
            headers = message.headers_for(url)
            del headers["HOST"]  # aiohttp writes Host from the URL
            try:
                async with session.request(
                    "NOTIFY", url, headers=headers, data=message.body, allow_redirects=False
                ) as response:
                    status = response.status
                    # Never read the reply body: a peer may stream it forever.
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                _LOG.debug("NOTIFY %s SEQ %d to %s failed: %s", message.sid, message.seq, url, exc)
                continue
            if 200 <= status < 300 or status == 412:
                return status
        return status
