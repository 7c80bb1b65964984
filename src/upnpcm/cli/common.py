"""What every command shares.

The ``upnpcm`` group and its options (:class:`Settings`), target resolution
(:func:`location`), running a command's coroutine (:func:`run`) and the exit
codes our errors map to.

Nothing here imports more than click at start-up: a command imports what it
needs when it runs (bench/RESULTS.md measures the one-shot start-up).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

if TYPE_CHECKING:
    from upnpcm.aio.control_point import ControlPoint

__all__ = [
    "EPILOG",
    "EXIT_BROKEN_PIPE",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_UPNP",
    "EXIT_USAGE",
    "Settings",
    "cli",
    "command",
    "fail",
    "location",
    "parse_assignments",
    "print_json",
    "reply_location",
    "run",
    "setup_logging",
]

EXIT_OK: Final = 0
EXIT_UPNP: Final = 1
EXIT_USAGE: Final = 2
EXIT_NETWORK: Final = 3
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: the reader of stdout went away

EPILOG: Final = """\b
TARGET is an IP address or host name (port 1400 and /xml/device_description.xml
are assumed, as on a Sonos zone player), HOST:PORT, a description URL, or a UDN
(uuid:..., found by SSDP first).

\b
Exit codes: 0 ok; 1 UPnP error (the device answered with a fault);
2 usage error; 3 network error, timeout or an unusable reply.
"""


class Settings:
    """Options shared by every command (the click context object)."""

    def __init__(
        self,
        debug: int,
        fmt: str | None,
        interfaces: tuple[str, ...] = (),
        *,
        allow_foreign_urls: bool = False,
    ) -> None:
        self.debug = debug
        self.json = fmt == "json" or (fmt is None and not sys.stdout.isatty())
        self.interfaces = interfaces
        self.allow_foreign_urls = allow_foreign_urls

    def control_point(self) -> ControlPoint:
        """A control point with the group's options (``--allow-foreign-urls``)."""
        from upnpcm.aio.control_point import ControlPoint

        return ControlPoint(allow_foreign_urls=self.allow_foreign_urls)


def setup_logging(debug: int, verbose: int = 0) -> None:
    """Log to stderr: ``-D`` calls and events, ``-DD`` payloads, ``-DDD`` raw XML; ``-v`` INFO."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
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
    click.echo(text)


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run a command's coroutine; map our errors to exit codes."""
    import asyncio

    from upnpcm.errors import (
        ActionArgumentError,
        CommandError,
        LocalProtocolError,
        RemoteProtocolError,
        TransportError,
        UPnPError,
    )

    try:
        asyncio.run(coro)
    except CommandError as exc:
        fail(exc.exit_code, str(exc))
    except UPnPError as exc:
        fail(
            EXIT_UPNP,
            f"UPnP error {exc.code}" + (f": {exc.description}" if exc.description else ""),
        )
    except ActionArgumentError as exc:
        fail(EXIT_USAGE, f"{exc} (a device would answer {exc.code})")
    except (LookupError, LocalProtocolError, ValueError) as exc:
        fail(EXIT_USAGE, _message(exc))
    except (TransportError, RemoteProtocolError, OSError) as exc:
        fail(EXIT_NETWORK, str(exc) or type(exc).__name__)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        fail(130, "interrupted")


def _message(exc: BaseException) -> str:
    """An exception's message as written: ``str(KeyError("x"))`` is ``"'x'"``."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def fail(code: int, message: str) -> NoReturn:
    """Say why on stderr and leave with ``code``."""
    click.echo(f"upnpcm: {message}", err=True)
    sys.exit(code)


async def location(target: str, *, timeout: float = 3.0, interfaces: tuple[str, ...] = ()) -> str:
    """Turn a TARGET into a description URL (see the epilog)."""
    target = target.strip()
    if target.lower().startswith(("http://", "https://")):
        return target
    if target.lower().startswith("uuid:"):
        from upnpcm.aio.discovery import discover

        skipped = 0
        async for found in discover(target, timeout=timeout, interfaces=interfaces):
            found_at = reply_location(target, found.udn, found.location, found.source[0])
            if found_at is not None:
                return found_at
            if found.udn == target and found.location:
                skipped += 1  # for that device, but its LOCATION points elsewhere
        why = f" ({skipped} replies skipped: LOCATION host is not the sender)" if skipped else ""
        from upnpcm.errors import CommandError

        raise CommandError(
            EXIT_NETWORK, f"no device {target} answered a search within {timeout:g} s{why}"
        )
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


def reply_location(udn: str, reply_udn: str, location: str | None, source_ip: str) -> str | None:
    """The LOCATION of a search reply for ``udn`` that may be fetched, else None.

    A reply counts only when it is for ``udn``, has a LOCATION, and that
    LOCATION's host is the address the reply came from (rule D1:
    anyone can answer a search with a URL pointing elsewhere).
    """
    from upnpcm.core.ssdp import location_matches_source

    if reply_udn != udn or not location:
        return None
    return location if location_matches_source(location, source_ip) else None


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    """``Name=Value`` arguments as a mapping (a usage error for a bad or repeated one)."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.UsageError(f"arguments are Name=Value, not {pair!r}")
        if name in values:
            raise click.UsageError(f"argument {name} given twice")
        values[name] = value
    return values


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """A command function receives :class:`Settings` as its first argument."""
    return click.pass_obj(fn)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="upnpcm", prog_name="upnpcm")
@click.option(
    "-D",
    "debug",
    count=True,
    help="Log calls (-D), parsed payloads (-DD), raw XML (-DDD) on stderr.",
)
@click.option(
    "--json",
    "fmt",
    flag_value="json",
    help="JSON output (the default when stdout is not a terminal).",
)
@click.option(
    "--text", "fmt", flag_value="text", help="Readable text output (the default on a terminal)."
)
@click.option(
    "--interface",
    "interfaces",
    multiple=True,
    metavar="IF",
    help="Interface name or address for SSDP (finding a uuid: TARGET; discover). Repeatable.",
)
@click.option(
    "--allow-foreign-urls",
    is_flag=True,
    help="Use a description's URLs even when they point at another host, or at a port under "
    "1024 other than its own (refused by default: docs/security.md).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    debug: int,
    fmt: str | None,
    interfaces: tuple[str, ...],
    allow_foreign_urls: bool,
) -> None:
    """UPnP AV ConnectionManager: host one, or talk to any UPnP device."""
    ctx.obj = Settings(debug, fmt, interfaces, allow_foreign_urls=allow_foreign_urls)
    if ctx.invoked_subcommand != "serve":
        setup_logging(debug)
