"""What the command line does without click: exit codes, output, errors, targets.

Shared by every command (through :mod:`upnpcm.cli.common`, which re-exports it)
and by the quick path of ``upnpcm call`` (:mod:`upnpcm.cli.quick`), which must
not import click: both print and fail in the same words because they run
this same code.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, NoReturn, Protocol, TypeVar

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_UPNP",
    "EXIT_USAGE",
    "HTTP_TIMEOUT",
    "NOTE_AFTER",
    "SEARCH_TIMEOUT",
    "HasFormat",
    "discard_stdout",
    "echo",
    "emit",
    "fail",
    "failure_of",
    "failures_reported",
    "json_output",
    "note",
    "print_json",
    "read_assignments",
    "report",
    "setup_logging",
    "still_waiting",
    "url_of",
]

EXIT_OK: Final = 0
EXIT_UPNP: Final = 1
EXIT_USAGE: Final = 2
EXIT_NETWORK: Final = 3
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: the reader of stdout went away

#: Seconds a network wait may take before a note on stderr says what is awaited.
NOTE_AFTER: Final = 2.0
#: Seconds an HTTP request may take, and a search for a uuid: TARGET, without --timeout.
HTTP_TIMEOUT: Final = 10.0
SEARCH_TIMEOUT: Final = 3.0

#: An ANSI control sequence: kept off what is not a terminal (as click.echo does).
_ANSI: Final = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


class HasFormat(Protocol):
    """What chooses JSON or text output (:class:`upnpcm.cli.common.Settings`)."""

    @property
    def json(self) -> bool:
        """JSON output: asked for, or stdout is not a terminal."""
        ...


def json_output(chosen: str | None) -> bool:
    """JSON output: ``--json`` (``"json"``), or neither flag and stdout is not a terminal."""
    if chosen is not None:
        return chosen == "json"
    return not sys.stdout.isatty()


def read_assignments(pairs: Iterable[str]) -> dict[str, str] | str:
    """``Name=Value`` arguments as a mapping, or what is wrong with them."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            return f"arguments are Name=Value, not {pair!r}"
        if name in values:
            return f"argument {name} given twice"
        values[name] = value
    return values


def still_waiting(what: str, limit: float | None) -> str:
    """The note on stderr when a wait passes :data:`NOTE_AFTER` seconds."""
    bound = f"; giving up after {limit:g} s" if limit else ""
    return f"still waiting for {what} ({NOTE_AFTER:g} s so far{bound})…"


def echo(text: str, *, err: bool = False) -> None:
    """One line on stdout (or stderr), flushed; ANSI sequences dropped unless it is a terminal."""
    stream = sys.stderr if err else sys.stdout
    if not stream.isatty():
        text = _ANSI.sub("", text)
    stream.write(text + "\n")
    stream.flush()


def setup_logging(debug: int, verbose: int = 0) -> None:
    """Log to stderr: ``-D`` calls and events, ``-DD`` payloads, ``-DDD`` raw HTTP; ``-v`` INFO.

    Calling it again replaces what an earlier call set up.
    """
    import logging

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "upnpcm", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.upnpcm = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    levels = [("upnpcm.calls", 1), ("upnpcm.events", 1), ("upnpcm.payloads", 2), ("upnpcm.raw", 3)]
    for name, level in levels:
        logging.getLogger(name).setLevel(logging.INFO if debug >= level else logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def print_json(obj: object, *, pretty: bool = False) -> None:
    """One JSON document on stdout (one line unless ``pretty``)."""
    import json

    text = json.dumps(obj, indent=2 if pretty else None, ensure_ascii=False, default=str)
    echo(text)


T = TypeVar("T")


def emit(settings: HasFormat, data: T, text: Callable[[T], Iterable[str]]) -> None:
    """``data`` as one JSON document, or as the lines ``text`` makes of it on a terminal."""
    if settings.json:
        print_json(data)
        return
    for line in text(data):
        echo(line)


def note(message: str) -> None:
    """One line for the person waiting, on stderr."""
    echo(f"upnpcm: {message}", err=True)


@contextlib.contextmanager
def failures_reported(settings: HasFormat) -> Iterator[None]:
    """Turn what a command raises into its exit code, its message and hints (:func:`failure_of`).

    Anything else (a bug) is let through, to show.
    """
    try:
        yield
    except KeyboardInterrupt:  # pragma: no cover - interactive
        fail(130, "interrupted")
    except BrokenPipeError:  # the reader of stdout left (| head): leave quietly, as SIGPIPE would
        discard_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        report(settings, *failure)


def failure_of(exc: BaseException) -> tuple[int, str, dict[str, Any]] | None:
    """The exit code, message and JSON details of an error a command may end with.

    None for anything else (a bug: let it show).
    """
    from upnpcm.cli.render import negotiation_error_json
    from upnpcm.errors import (
        ActionArgumentError,
        CommandError,
        ConnectError,
        HttpStatusError,
        LocalProtocolError,
        NegotiationError,
        RemoteProtocolError,
        TransportError,
        UPnPError,
        UpnpTimeoutError,
    )

    if isinstance(exc, CommandError):
        return exc.exit_code, str(exc), dict(exc.details)
    if isinstance(exc, NegotiationError):
        return EXIT_UPNP, str(exc), negotiation_error_json(exc)
    if isinstance(exc, UPnPError):
        description = exc.description or exc.meaning
        message = f"UPnP error {exc.code}" + (f": {exc.description}" if exc.description else "")
        return EXIT_UPNP, message, {"code": exc.code, "description": description}
    if isinstance(exc, ActionArgumentError):
        return EXIT_USAGE, f"{exc} (a device would answer {exc.code})", {"code": exc.code}
    if isinstance(exc, LookupError | LocalProtocolError | ValueError):
        return EXIT_USAGE, _message(exc), {}
    if isinstance(exc, HttpStatusError):
        details = {
            "httpStatus": exc.http_status,
            "reason": exc.reason,
            "detail": exc.detail,
            "method": exc.method,
            "url": exc.url,
        }
        return EXIT_NETWORK, str(exc), details
    if isinstance(exc, TransportError | RemoteProtocolError | OSError):
        kind = (
            {"kind": "timeout"}
            if isinstance(exc, UpnpTimeoutError)
            else {"kind": "connect"}
            if isinstance(exc, ConnectError) and str(exc).startswith("cannot connect")
            else {}
        )
        return EXIT_NETWORK, str(exc) or type(exc).__name__, kind
    return None


def report(settings: HasFormat, code: int, message: str, details: Mapping[str, Any]) -> NoReturn:
    """Say why on stderr (with hints), as a JSON object on stdout too when output is JSON; exit."""
    from upnpcm.cli.render import error_json, hints

    advice = hints(code, message, details)
    if settings.json:
        with contextlib.suppress(BrokenPipeError):
            print_json(error_json(code, message, details, advice))
    echo(f"upnpcm: {message}", err=True)
    for hint in advice:
        echo(f"upnpcm: hint: {hint}", err=True)
    sys.exit(code)


def discard_stdout() -> None:
    """Point stdout at /dev/null: nothing more can be written, and the exit flush stays quiet."""
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _message(exc: BaseException) -> str:
    """An exception's message as written: ``str(KeyError("x"))`` is ``"'x'"``."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def fail(code: int, message: str) -> NoReturn:
    """Say why on stderr and leave with ``code``."""
    echo(f"upnpcm: {message}", err=True)
    sys.exit(code)


def url_of(target: str) -> str | None:
    """TARGET as a description URL, or None for a UDN (found by an SSDP search first)."""
    target = target.strip()
    if target.lower().startswith(("http://", "https://")):
        return target
    if target.lower().startswith("uuid:"):
        return None
    if "/" in target:  # host[:port]/path
        return f"http://{target}"
    if target.startswith("["):  # [v6]:port
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":") or "1400"
        return f"http://[{host}]:{port}/xml/device_description.xml"
    if target.count(":") == 1:
        host, port = target.split(":")
        return f"http://{host}:{port}/xml/device_description.xml"
    if ":" in target:
        return f"http://[{target}]:1400/xml/device_description.xml"
    return f"http://{target}:1400/xml/device_description.xml"
