"""SoCo's threaded event listener, stopped without leaking sockets.

SoCo's own ``stop_listening`` wakes its server with an ``urlopen()`` whose
error response it never closes, and leaves the listening socket open; both
are then collected at a random later moment, inside whatever test runs, as
ResourceWarnings (errors in this suite). SoCo stops its listener by itself when
the last subscription ends, so :func:`quiet_soco_listener` replaces that
method while a test module runs: the server is woken by a bare connection
closed at once, and its socket closed.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any


def _stop_listening(listener: Any, address: tuple[str, int]) -> None:
    thread = listener._listener_thread
    thread.stop()
    with contextlib.suppress(OSError), socket.create_connection(address, timeout=2):
        pass  # handle_request() returns; the loop sees the stop flag
    thread.join(5)
    thread.server.server_close()


@contextlib.contextmanager
def quiet_soco_listener() -> Iterator[Any]:
    """``soco.events.event_listener`` that stops cleanly; stopped at the end."""
    from soco import events

    original = events.EventListener.stop_listening
    events.EventListener.stop_listening = _stop_listening  # type: ignore[method-assign]
    try:
        yield events.event_listener
    finally:
        events.event_listener.stop()
        events.EventListener.stop_listening = original  # type: ignore[method-assign]
