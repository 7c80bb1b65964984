"""``upnpcm call`` in its plain form, run without click and without an event loop.

``upnpcm call TARGET SERVICE ACTION [NAME=VALUE]...``, with ``--json`` or
``--text`` (not both) anywhere besides, is the command scripts run most; here it takes a
little over half the time (no click, no asyncio to import, no teardown:
bench/RESULTS.md) and calls
through the blocking control point (:mod:`upnpcm.blocking`), which runs the
same steps as the asyncio one. Everything else goes to click and asyncio as
before: another command, any other option (``-D``, ``--timeout``, ``-h`` …),
a ``uuid:`` TARGET (found by SSDP), an argument that is not ``NAME=VALUE`` or
is given twice (click says why). Both ways print and fail in the same words
and exit codes, because they share :mod:`upnpcm.cli.plain` and
:mod:`upnpcm.cli.render`; the tests run each case both ways.
``UPNPCM_QUICK=0`` sends every command to click.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn

from upnpcm.cli.plain import HTTP_TIMEOUT, json_output, read_assignments, url_of

if TYPE_CHECKING:
    from upnpcm.blocking import BlockingHttpClient

__all__ = ["QUICK_ENV", "PlainCall", "leave", "plain_call", "run_plain_call"]

#: Set to 0 to send ``upnpcm call`` to click as well.
QUICK_ENV: Final = "UPNPCM_QUICK"


@dataclass(frozen=True, slots=True)
class PlainCall:
    """``upnpcm call`` in its plain form, its arguments read."""

    url: str
    service: str
    action: str
    arguments: Mapping[str, str]
    #: ``"json"`` or ``"text"`` when asked for; None: JSON unless stdout is a terminal.
    format: str | None

    @property
    def json(self) -> bool:
        """JSON output: asked for, or stdout is not a terminal (as the click commands decide)."""
        return json_output(self.format)


def plain_call(args: list[str]) -> PlainCall | None:
    """``args`` (after the program name) read as a plain ``call``; None for anything else."""
    if os.environ.get(QUICK_ENV, "") == "0":
        return None
    chosen: str | None = None
    words: list[str] = []
    for arg in args:
        if arg in ("--json", "--text"):
            if chosen not in (None, arg[2:]):
                return None  # both: which wins is click's to say
            chosen = arg[2:]
        elif arg.startswith("-"):
            return None
        else:
            words.append(arg)
    if len(words) < 4 or words[0] != "call":
        return None
    target, service, action, *pairs = words[1:]
    url = url_of(target)
    if url is None:
        return None
    arguments = read_assignments(pairs)
    if isinstance(arguments, str):
        return None  # click says what is wrong
    return PlainCall(url, service, action, arguments, chosen)


def _noted_http() -> BlockingHttpClient:
    """A blocking HTTP client that notes on stderr a request unanswered after 2 s, as click's does."""
    import threading

    from upnpcm.blocking import BlockingHttpClient
    from upnpcm.cli.plain import NOTE_AFTER, note, still_waiting
    from upnpcm.core.http_reply import DEFAULT_MAX_BYTES, DEFAULT_MAX_HEAD, HttpReply

    class NotedHttp(BlockingHttpClient):
        def request(
            self,
            method: str,
            url: str,
            *,
            headers: Mapping[str, str] | None = None,
            body: bytes = b"",
            timeout: float = HTTP_TIMEOUT,
            max_bytes: int = DEFAULT_MAX_BYTES,
            max_head: int = DEFAULT_MAX_HEAD,
            head_only: bool = False,
        ) -> HttpReply:
            """The request, watched."""
            waited = still_waiting(f"{method} {url}", timeout)
            timer = threading.Timer(NOTE_AFTER, note, (waited,))
            timer.daemon = True
            timer.start()
            try:
                return super().request(
                    method,
                    url,
                    headers=headers,
                    body=body,
                    timeout=timeout,
                    max_bytes=max_bytes,
                    max_head=max_head,
                    head_only=head_only,
                )
            finally:
                timer.cancel()

    return NotedHttp(connect_timeout=min(5.0, HTTP_TIMEOUT))


def run_plain_call(plan: PlainCall) -> int:
    """Call the action and print what it returns, as ``upnpcm call`` does; the exit code.

    On failure the message (and hints, and the JSON error object) is printed first.
    """
    from upnpcm.blocking import ControlPoint
    from upnpcm.cli.plain import emit, failures_reported, setup_logging
    from upnpcm.cli.render import action_result_text, jsonable

    setup_logging(0)
    try:
        with failures_reported(plan):
            with ControlPoint(http=_noted_http(), timeout=HTTP_TIMEOUT) as cp:
                device = cp.load(plan.url)
                result = cp.call(device.service(plan.service), plan.action, plan.arguments)
            values = {name: jsonable(value) for name, value in result.items()}
            emit(plan, values, action_result_text)
    except SystemExit as exc:  # failures_reported exits with the command's code
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


def leave(code: int) -> NoReturn:
    """End the process with ``code`` now, skipping the interpreter's teardown.

    A one-shot command has nothing left to clean up once its output is flushed
    (its sockets are closed, no file is open for writing), and tearing down
    the modules it imported costs about 9 ms, an eighth of ``upnpcm call``
    (bench/RESULTS.md).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
