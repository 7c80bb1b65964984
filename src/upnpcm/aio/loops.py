"""Which event loop runs a command: uvloop where it is installed, else asyncio's own.

uvloop (libuv under the asyncio API) accepts and sets up a TCP connection in a
fraction of the time asyncio's selector loop takes, which is most of what a
device spends on a control point that opens a connection per action
(bench/RESULTS.md). Everything in :mod:`upnpcm.aio` is written against the
asyncio API alone and runs on either loop; the test suite runs on both.

The choice, first that applies: the ``loop`` argument (the CLI's ``--loop``),
the ``UPNPCM_LOOP`` environment variable, else ``auto``. ``auto`` is uvloop
when it can be imported and asyncio's loop otherwise, unless the caller says
``auto`` means asyncio's (``auto="asyncio"``: the CLI's one-shot commands, for
which importing uvloop costs more than it saves); ``uvloop`` when it is
missing is an error (:class:`~upnpcm.errors.ConfigError`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from upnpcm.errors import ConfigError

__all__ = ["LOOPS", "LOOP_ENV", "loop_factory", "resolve_loop", "run"]

#: The environment variable that chooses the loop (``auto``, ``uvloop`` or ``asyncio``).
LOOP_ENV: Final = "UPNPCM_LOOP"
#: The names a choice may take.
LOOPS: Final = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def resolve_loop(requested: str | None = None, *, auto: str = "uvloop") -> str:
    """``uvloop`` or ``asyncio``: what ``requested`` (else ``$UPNPCM_LOOP``, else auto) means.

    ``auto`` is the loop ``auto`` stands for (uvloop only where it is installed).

    Raises:
        ConfigError: an unknown name, or ``uvloop`` asked for where it is not installed.
    """
    name = (requested or os.environ.get(LOOP_ENV) or "auto").strip().lower()
    if name not in LOOPS:
        raise ConfigError(f"unknown event loop {name!r} (choose one of {', '.join(LOOPS)})")
    if name == "auto" and auto == "asyncio":
        return auto
    if name == "asyncio":
        return name
    if _uvloop_factory() is None:
        if name == "uvloop":
            raise ConfigError("the uvloop event loop was asked for but uvloop is not installed")
        return "asyncio"
    return "uvloop"


def _asyncio_loop() -> asyncio.AbstractEventLoop:
    """The loop asyncio itself makes, whatever event loop policy a program has installed."""
    if sys.platform == "win32":
        return asyncio.ProactorEventLoop()
    return asyncio.SelectorEventLoop()


def loop_factory(
    requested: str | None = None, *, auto: str = "uvloop"
) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function that makes a new loop of the chosen kind (see :func:`resolve_loop`)."""
    if resolve_loop(requested, auto=auto) == "uvloop":
        factory = _uvloop_factory()
        assert factory is not None  # resolve_loop checked it
        return factory
    return _asyncio_loop


def run(coro: Coroutine[Any, Any, T], *, loop: str | None = None, auto: str = "uvloop") -> T:
    """``asyncio.run(coro)`` on the chosen loop (see :func:`resolve_loop`).

    Raises:
        ConfigError: the loop asked for cannot be had (``coro`` is closed unrun).
    """
    try:
        factory = loop_factory(loop, auto=auto)
    except ConfigError:
        coro.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
