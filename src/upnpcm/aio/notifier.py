"""GENA NOTIFY delivery for a device: send what the core hands out (UDA 1.1 §4.3; B6).

The core decides which message goes out when (:mod:`upnpcm.core.delivery`,
rule T2: one in flight per subscription, pacing, a device-wide cap); this
adapter only moves bytes. For each :class:`~upnpcm.core.effects.SendNotify`
it starts one task that tries the callback URLs in order and reports the
outcome with :meth:`DeviceCore.notify_done`; the effects that returns (the
next message, a dropped subscription) go back to the server's effect loop.
One slow or dead callback never delays another.

Each NOTIFY is one short connection (``Connection: close``) made by the
control point's lean client (:class:`~upnpcm.aio.http_client.LeanHttpClient`):
connect within ``connect_timeout``, done within ``total_timeout``, and only the
status line and headers of the reply are read (at most 4 KiB; a reply that
streams forever is cut off). That costs a fraction of a general HTTP client
(bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.core.device import DeviceCore
from upnpcm.core.effects import Effect, SendNotify, SubscriptionEnded
from upnpcm.core.gena import Notification
from upnpcm.errors import TransportError

__all__ = ["DeliveryStats", "Notifier", "NotifyFaults", "send_notify"]

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
    reply = await client.request(
        "NOTIFY",
        url,
        headers=message.headers_for(url),
        body=message.body,
        timeout=total_timeout,
        max_head=MAX_REPLY_HEAD,
        head_only=True,
    )
    return reply.status


@dataclass(slots=True)
class NotifyFaults:
    """Delivery faults injected for tests: slow or failing NOTIFYs.

    Every NOTIFY waits ``delay`` seconds before it is sent; with ``fail`` it
    is not sent at all and counts as unanswered (a refused connection: the
    core's failure rules then apply, E4).
    """

    delay: float = 0.0
    fail: bool = False


class Notifier:
    """Carry out the :class:`SendNotify` effects of a :class:`DeviceCore`."""

    def __init__(
        self,
        core: DeviceCore,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
    ) -> None:
        self._core = core
        self._client = LeanHttpClient(connect_timeout=connect_timeout, user_agent="")
        self.total_timeout = total_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: Where the effects of each outcome go (the server's effect loop).
        self.on_effects: Callable[[list[Effect]], None] = lambda effects: None
        self.stats = DeliveryStats()
        #: Faults injected for tests (none by default).
        self.faults = NotifyFaults()

    def start(self) -> None:
        """Allow deliveries (called by the server when it starts)."""
        self._closed = False

    def send(self, effect: SendNotify) -> None:
        """Deliver one message the core handed out; its outcome is reported back."""
        if self._closed:
            return
        task = asyncio.create_task(self._run(effect), name=f"notify {effect.message.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def active(self) -> int:
        """Deliveries in flight."""
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every delivery."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, effect: SendNotify) -> None:
        message = effect.message
        faults = self.faults
        if faults.delay > 0:
            await asyncio.sleep(faults.delay)
        status = None if faults.fail else await self._deliver(message)
        if status is not None and 200 <= status < 300:
            self.stats.sent += 1
        else:
            self.stats.failed += 1
        loop = asyncio.get_running_loop()
        effects = self._core.notify_done(effect.path, message.sid, status, loop.time())
        for ended in effects:
            if isinstance(ended, SubscriptionEnded) and ended.reason == "dropped":
                self.stats.dropped += 1
                _LOG.info("dropped subscription %s (last status %s)", message.sid, status)
        if not self._closed:
            self.on_effects(effects)

    async def _deliver(self, message: Notification) -> int | None:
        """Try each callback in order; the status of the last answer, None if none answered."""
        status: int | None = None
        for url in message.callbacks:
            self.stats.attempts += 1
            try:
                status = await send_notify(
                    self._client, url, message, total_timeout=self.total_timeout
                )
            except TransportError as exc:
                _LOG.debug("NOTIFY %s SEQ %d to %s failed: %r", message.sid, message.seq, url, exc)
                continue
            if 200 <= status < 300 or status == 412:
                return status
        return status
