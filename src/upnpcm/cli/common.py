"""What every command shares.

- the ``upnpcm`` group and the options every command accepts wherever they are
  written (``-D``, ``--json``, ``--text``; ``--interface`` where SSDP is used),
  kept in :class:`Settings`;
- ``--timeout`` for the commands that wait on the network, and a note on
  stderr when one wait passes :data:`NOTE_AFTER` seconds;
- target resolution (:meth:`Settings.locate`) and the control point every
  command uses (:meth:`Settings.control_point`);
- :func:`run`: a command's coroutine, its errors turned into exit codes, a
  message and hints on stderr and, when the output is JSON, a JSON error
  object on stdout;
- :func:`emit`: one result, as JSON or as the text lines of its shape in
  :mod:`upnpcm.cli.render`.

Nothing here imports more than click at start-up: a command imports what it
needs when it runs (bench/RESULTS.md measures the one-shot start-up).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from upnpcm.cli.plain import (
    EXIT_BROKEN_PIPE,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_UPNP,
    EXIT_USAGE,
    HTTP_TIMEOUT,
    NOTE_AFTER,
    SEARCH_TIMEOUT,
    discard_stdout,
    emit,
    fail,
    failures_reported,
    json_output,
    note,
    print_json,
    read_assignments,
    report,
    setup_logging,
    still_waiting,
    url_of,
)

if TYPE_CHECKING:
    from upnpcm.aio.control_point import ControlPoint
    from upnpcm.aio.http_client import HttpClient, HttpReply

__all__ = [
    "EPILOG",
    "EXIT_BROKEN_PIPE",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_UPNP",
    "EXIT_USAGE",
    "NOTE_AFTER",
    "Settings",
    "StatusLine",
    "cli",
    "command",
    "discard_stdout",
    "emit",
    "fail",
    "foreign_urls_option",
    "interface_option",
    "location",
    "parse_assignments",
    "print_json",
    "reply_location",
    "report",
    "run",
    "setup_logging",
    "target_epilog",
    "timeout_option",
    "waiting",
]

_EXIT_CODES: Final = """\b
Exit codes: 0 ok; 1 UPnP error (the device answered with a fault);
2 usage error; 3 network error, timeout or an unusable reply."""


def target_epilog(*names: str) -> str:
    """The epilog of a command whose arguments ``names`` are TARGETs: what one may be."""
    which = "TARGET is" if names == ("TARGET",) else f"{' and '.join(names)} are each"
    return f"""\b
{which} an IP address or host name (port 1400 and
/xml/device_description.xml are assumed, as on a Sonos zone player),
HOST:PORT, a description URL, or a UDN (uuid:..., found by SSDP first).

{_EXIT_CODES}
"""


#: The epilog of every command that takes one TARGET.
EPILOG: Final = target_epilog("TARGET")


class Settings:
    """Options shared by every command (the click context object).

    Each global option may be written before or after the command name; the
    last ``--json``/``--text`` wins.
    """

    def __init__(self) -> None:
        self.debug = 0
        self.format: str | None = None
        self.interfaces: tuple[str, ...] = ()
        #: ``--timeout``: seconds for each network wait (None: the defaults).
        self.timeout: float | None = None
        #: ``--allow-foreign-urls``: use a description's URLs on other hosts (rule D5).
        self.allow_foreign_urls = False
        #: ``--loop``: the event loop (None: ``$UPNPCM_LOOP``, else uvloop where installed).
        self.loop: str | None = None

    @property
    def json(self) -> bool:
        """JSON output: asked for, or stdout is not a terminal."""
        return json_output(self.format)

    def control_point(self, *, source_address: str | None = None) -> ControlPoint:
        """A control point with this command's timeout that notes long waits on stderr.

        ``source_address``: the local address its requests come from.
        """
        from upnpcm.aio.control_point import ControlPoint
        from upnpcm.aio.http_client import LeanHttpClient

        timeout = self.timeout or HTTP_TIMEOUT
        lean = LeanHttpClient(connect_timeout=min(5.0, timeout), source_address=source_address)
        return ControlPoint(
            http=_NotedHttp(lean), timeout=timeout, allow_foreign_urls=self.allow_foreign_urls
        )

    async def locate(self, target: str) -> str:
        """TARGET as a description URL (see :data:`EPILOG`)."""
        return await location(
            target, timeout=self.timeout or SEARCH_TIMEOUT, interfaces=self.interfaces
        )


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def _count_debug(ctx: click.Context, _: click.Parameter, value: int) -> None:
    if value:
        _settings(ctx).debug += value


def _choose_format(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).format = param.name


def _add_interfaces(ctx: click.Context, _: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        _settings(ctx).interfaces += value


def _allow_foreign_urls(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        _settings(ctx).allow_foreign_urls = True


def _choose_loop(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        _settings(ctx).loop = value


def _set_timeout(ctx: click.Context, _: click.Parameter, value: float | None) -> None:
    if value is not None:
        _settings(ctx).timeout = value


F = TypeVar("F", bound=Callable[..., Any])


def _global_options(fn: F) -> F:
    """``-D``, ``--json``, ``--text``, ``--loop``: accepted by the group and by every command."""
    for option in (
        click.option(
            "--loop",
            type=click.Choice(["auto", "uvloop", "asyncio"]),
            default=None,
            expose_value=False,
            callback=_choose_loop,
            help="Event loop: uvloop or asyncio's own (default: $UPNPCM_LOOP, else auto: "
            "uvloop where it is installed).",
        ),
        click.option(
            "--text",
            is_flag=True,
            expose_value=False,
            callback=_choose_format,
            help="Readable text output (the default on a terminal).",
        ),
        click.option(
            "--json",
            is_flag=True,
            expose_value=False,
            callback=_choose_format,
            help="JSON output (the default when stdout is not a terminal).",
        ),
        click.option(
            "-D",
            "debug",
            count=True,
            expose_value=False,
            callback=_count_debug,
            help="Log calls (-D), parsed payloads (-DD), raw HTTP and XML (-DDD) on stderr.",
        ),
    ):
        fn = option(fn)
    return fn


def interface_option(fn: F) -> F:
    """``--interface IF`` (repeatable): where SSDP searches, listens or advertises."""
    return click.option(
        "--interface",
        "interfaces",
        multiple=True,
        metavar="IF",
        expose_value=False,
        callback=_add_interfaces,
        help="Interface name or address for SSDP (repeatable). Default: every one.",
    )(fn)


def timeout_option(fn: F) -> F:
    """``--timeout SECONDS``: the bound of each network wait of a command."""
    return click.option(
        "--timeout",
        type=click.FloatRange(0.1, 3600),
        default=None,
        expose_value=False,
        callback=_set_timeout,
        metavar="SECONDS",
        help=f"Give up a network wait after this long (default: {HTTP_TIMEOUT:g} s for HTTP, "
        f"{SEARCH_TIMEOUT:g} s to find a uuid: TARGET).",
    )(fn)


def foreign_urls_option(fn: F) -> F:
    """``--allow-foreign-urls``: load a device whose description points at other hosts."""
    return click.option(
        "--allow-foreign-urls",
        is_flag=True,
        expose_value=False,
        callback=_allow_foreign_urls,
        help="Use a description's URLs even when they point at another host, or at a port "
        "under 1024 other than its own (refused by default: docs/security.md).",
    )(fn)


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """A command function: receives :class:`Settings` first and accepts the global options."""
    return _global_options(click.make_pass_decorator(Settings, ensure=True)(fn))


# ---------------------------------------------------------------------- output


@contextlib.contextmanager
def waiting(what: str, limit: float | None) -> Iterator[None]:
    """Say on stderr what is awaited if the wait passes :data:`NOTE_AFTER` seconds (once)."""
    import asyncio

    handle = asyncio.get_running_loop().call_later(NOTE_AFTER, note, still_waiting(what, limit))
    try:
        yield
    finally:
        handle.cancel()


class StatusLine:
    """A line on stderr, on a terminal only, rewritten in place and cleared before output."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.text = ""

    def show(self, text: str) -> None:
        """Replace the line with ``text``."""
        if self.enabled:
            self.text = text
            sys.stderr.write(f"\r\x1b[K{text}")
            sys.stderr.flush()

    def clear(self) -> None:
        """Remove the line (before other output goes to the terminal)."""
        if self.enabled and self.text:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.text = ""


class _NotedHttp:
    """An HTTP client that notes on stderr any request still unanswered after 2 s."""

    def __init__(self, inner: HttpClient) -> None:
        self.inner = inner

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = HTTP_TIMEOUT,
        max_bytes: int = 1024 * 1024,
    ) -> HttpReply:
        """The inner client's request, watched."""
        with waiting(f"{method} {url}", timeout):
            return await self.inner.request(
                method, url, headers=headers, body=body, timeout=timeout, max_bytes=max_bytes
            )

    async def close(self) -> None:
        """Close the inner client."""
        await self.inner.close()


# ---------------------------------------------------------------------- running


def run(coro: Coroutine[Any, Any, None], *, listens: bool = False) -> None:
    """Run a command's coroutine; map our errors to exit codes (see :func:`failure_of`).

    It runs on the loop ``--loop`` (or ``$UPNPCM_LOOP``) chooses
    (:mod:`upnpcm.aio.loops`); by default uvloop for a command that ``listens``
    (NOTIFYs, many connections: ``eventlog``, ``check``, ``play``), asyncio's
    own for a one-shot command (``call``: importing uvloop would cost it more
    than it saves, bench/RESULTS.md).
    """
    from upnpcm.aio.loops import run as run_on_loop

    settings = click.get_current_context().ensure_object(Settings)
    setup_logging(settings.debug)
    with failures_reported(settings):
        run_on_loop(coro, loop=settings.loop, auto="uvloop" if listens else "asyncio")


# ---------------------------------------------------------------------- targets


async def location(
    target: str, *, timeout: float = SEARCH_TIMEOUT, interfaces: tuple[str, ...] = ()
) -> str:
    """Turn a TARGET into a description URL (see the epilog)."""
    url = url_of(target)
    if url is not None:
        return url
    return await _search(target.strip(), timeout, interfaces)


async def _search(udn: str, timeout: float, interfaces: tuple[str, ...]) -> str:
    """The LOCATION of ``udn``, found by an SSDP search."""
    from upnpcm.aio.discovery import discover
    from upnpcm.errors import CommandError

    skipped = 0
    with waiting(f"a search for {udn}", timeout):
        async for found in discover(udn, timeout=timeout, interfaces=interfaces):
            found_at = reply_location(udn, found.udn, found.location, found.source[0])
            if found_at is not None:
                return found_at
            if found.udn == udn and found.location:
                skipped += 1  # for that device, but its LOCATION points elsewhere
    why = f" ({skipped} replies skipped: LOCATION host is not the sender)" if skipped else ""
    raise CommandError(EXIT_NETWORK, f"no device {udn} answered a search within {timeout:g} s{why}")


def reply_location(udn: str, reply_udn: str, location: str | None, source_ip: str) -> str | None:
    """The LOCATION of a search reply for ``udn`` that may be fetched, else None.

    A reply counts only when it is for ``udn``, has a LOCATION, and that
    LOCATION's host is the address the reply came from: anyone can answer a
    search with a URL pointing elsewhere.
    """
    from upnpcm.core.ssdp import location_matches_source

    if reply_udn != udn or not location:
        return None
    return location if location_matches_source(location, source_ip) else None


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    """``Name=Value`` arguments as a mapping (a usage error for a bad or repeated one)."""
    values = read_assignments(pairs)
    if isinstance(values, str):
        raise click.UsageError(values)
    return values


# ---------------------------------------------------------------------- the group


class _Group(click.Group):
    """The ``upnpcm`` group: commands in the order registered; aliases resolved, not listed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Another name → the command it stands for (listed in that command's help).
        self.aliases: dict[str, str] = {}
        #: A command's name → the module of ``upnpcm.cli`` that defines it, imported
        #: when the command is first asked for (its ``COMMANDS[name]``).
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if self.aliases:
            with formatter.indentation():
                formatter.write_paragraph()
                formatter.write_text(
                    "Other names: "
                    + ", ".join(f"{alias} (= {name})" for alias, name in self.aliases.items())
                    + "."
                )

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        module = self.lazy.get(name)
        if module is not None and name not in self.commands:
            import importlib

            command: click.Command = importlib.import_module(f"upnpcm.cli.{module}").COMMANDS[name]
            self.add_command(command, name=name)
        return self.commands.get(name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest


@click.group(
    cls=_Group,
    epilog=_EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="upnpcm", prog_name="upnpcm")
@_global_options
@interface_option
@foreign_urls_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """UPnP AV ConnectionManager: host one, or talk to any UPnP device.

    Options before the command apply to it as if written after it.
    """
    ctx.ensure_object(Settings)
