"""The control point's HTTP log, the same for the asyncio and the blocking client.

* ``upnpcm.calls`` (INFO): method, URL, status, time (the CLI's ``-D``);
* ``upnpcm.raw`` (INFO): heads and bodies as sent and received (``-DDD``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from upnpcm.core.http_reply import HttpReply

__all__ = ["CALLS", "RAW", "log_reply", "log_request", "raw_text"]

CALLS: Final = logging.getLogger("upnpcm.calls")
RAW: Final = logging.getLogger("upnpcm.raw")


def raw_text(head: str | Iterable[tuple[str, str]], body: bytes) -> str:
    """A message's head and body as ``-DDD`` shows them."""
    if not isinstance(head, str):
        head = "\n".join(f"{name}: {value}" for name, value in head)
    text = body.decode("utf-8", "replace")
    return f"{head}\n\n{text}" if text else head


def log_request(method: str, url: str, head: str, body: bytes) -> float:
    """``-DDD``: the request head (SOAP, SUBSCRIBE, UNSUBSCRIBE, NOTIFY alike) and body.

    Returns the time it was sent (for :func:`log_reply`).
    """
    if RAW.isEnabledFor(logging.INFO):
        RAW.info(">>> %s %s\n%s", method, url, raw_text(head, body))
    return time.monotonic()


def log_reply(method: str, url: str, started: float, reply: HttpReply) -> None:
    """``-D``: the status and time of the reply; ``-DDD``: its head and body."""
    if CALLS.isEnabledFor(logging.INFO):
        CALLS.info(
            "%s %s -> %d (%.0f ms)", method, url, reply.status, (time.monotonic() - started) * 1000
        )
    if RAW.isEnabledFor(logging.INFO):
        RAW.info(
            "<<< %d %s %s\n%s", reply.status, reply.reason, url, raw_text(reply.headers, reply.body)
        )
