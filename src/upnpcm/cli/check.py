"""``check``: the conformance checker (:mod:`upnpcm.check`) on the command line."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from upnpcm.cli.common import (
    EXIT_USAGE,
    Settings,
    StatusLine,
    command,
    interface_option,
    print_json,
    run,
)
from upnpcm.errors import CommandError

if TYPE_CHECKING:
    from upnpcm.check import Result, Summary

__all__ = ["COMMANDS", "check"]

#: Exit status after an interrupt (128 + SIGINT), once the cleanup is done.
EXIT_INTERRUPTED = 130


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


_EPILOG = """\b
TARGET is an IP address or host name (port 1400 and
/xml/device_description.xml are assumed, as on a Sonos zone player),
HOST:PORT, a description URL, or a UDN (uuid:..., found by SSDP first).
--interface here also chooses where the discovery suite searches; without
it that suite is skipped.

\b
Exit codes: 0 nothing failed (WARN and SKIP included); 1 a check failed;
2 usage error; 3 TARGET could not be found or reached; 130 interrupted
(after undoing what the run set up).
"""


@click.command(epilog=_EPILOG)
@click.argument("target", required=False)
@click.option(
    "--list",
    "list_checks",
    is_flag=True,
    help="Print every check (ID, suite, severity, what it checks) and exit.",
)
@click.option(
    "--only", metavar="SUITE,…", help="Run only these suites or check IDs (comma-separated)."
)
@click.option(
    "--skip", metavar="SUITE,…", help="Leave out these suites or check IDs (comma-separated)."
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write JUnit XML to this file.",
)
@click.option(
    "--no-changes",
    is_flag=True,
    help="Skip every step that changes the device's state (PrepareForConnection, ConnectionComplete).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Bound of every step: each request, each wait for an event or reply.",
)
@click.option(
    "--listen",
    type=click.FloatRange(0, 600),
    default=0.0,
    metavar="SECONDS",
    help="After the searches, listen this long for ssdp:alive/byebye (restart the device meanwhile).",
)
@interface_option
@command
def check(
    settings: Settings,
    target: str | None,
    list_checks: bool,
    only: str | None,
    skip: str | None,
    junit: str | None,
    no_changes: bool,
    timeout: float,
    listen: float,
) -> None:
    """Check a device against the UPnP standards (conformance).

    One row per check and subject: PASS, WARN, FAIL or SKIP, with what was
    sent, what came back, what the standard requires and its section. Text on
    a terminal (and a progress line on stderr), NDJSON when piped; --junit
    also writes JUnit XML. Suites: description, control, cm, eventing,
    discovery. The discovery suite searches by multicast only on the
    interfaces given with --interface (skipped without one). Every connection
    and subscription the run makes is undone before it ends, also on Ctrl-C.
    `upnpcm check --list` prints every check; docs/checks.md has them all.
    """
    from upnpcm.check import select_checks

    try:
        select_checks(_names(only), _names(skip))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if list_checks:
        _list(settings, _names(only), _names(skip))
        return
    if not target:
        raise click.UsageError("missing TARGET (or --list)")
    runner = _CheckRun(
        settings, target, _names(only), _names(skip), junit, not no_changes, timeout, listen
    )
    run(runner.run(), listens=True)
    sys.exit(runner.exit_code)


def _list(settings: Settings, only: tuple[str, ...], skip: tuple[str, ...]) -> None:
    from upnpcm.check import select_checks
    from upnpcm.check.output import check_json, checks_text

    chosen = select_checks(only, skip)
    if settings.json:
        for item in chosen:
            print_json(check_json(item))
    else:
        click.echo(checks_text(chosen))


class _CheckRun:
    """One ``check`` run: rows as they come, the progress line, the summary, the exit status."""

    def __init__(
        self,
        settings: Settings,
        target: str,
        only: tuple[str, ...],
        skip: tuple[str, ...],
        junit: str | None,
        changes: bool,
        timeout: float,
        listen: float,
    ) -> None:
        self.settings = settings
        self.target = target
        self.only, self.skip = only, skip
        self.junit = junit
        self.changes = changes
        self.timeout = timeout
        self.listen = listen
        self.status = StatusLine()
        self.rows: list[Result] = []
        self.suite = ""
        self.exit_code = 0
        # On a terminal rows fit its width; into a file or pipe they are written whole.
        self.width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 100_000

    async def run(self) -> None:
        """Resolve TARGET, run the checks (cancelled by SIGINT/SIGTERM), report."""
        import asyncio

        from upnpcm.check import CheckOptions, Summary, run_checks

        if self.settings.interfaces:
            from upnpcm.aio.ssdp import resolve_interfaces

            try:
                resolve_interfaces(self.settings.interfaces)
            except ValueError as exc:
                raise CommandError(EXIT_USAGE, f"--interface: {exc}") from None
        self.settings.timeout = min(self.timeout, 10.0)  # finding a uuid: TARGET
        location = await self.settings.locate(self.target)
        options = CheckOptions(
            timeout=self.timeout,
            changes=self.changes,
            interfaces=self.settings.interfaces,
            listen=self.listen,
            only=self.only,
            skip=self.skip,
        )
        task = asyncio.create_task(
            run_checks(location, options, on_result=self._row, on_progress=self._progress)
        )
        summary: Summary
        with self._signals(task):
            try:
                summary = await task
            except asyncio.CancelledError:
                summary = Summary(interrupted=True)
                for row in self.rows:
                    summary.add(row)
        self.status.clear()
        self._finish(summary, location)

    def _row(self, result: Result) -> None:
        from upnpcm.check.output import result_json, result_text, suite_heading

        self.rows.append(result)
        self.status.clear()
        if self.settings.json:
            click.echo(result_json(result))
            return
        if result.suite != self.suite:
            self.suite = result.suite
            click.echo(suite_heading(result.suite))
        click.echo(result_text(result, width=self.width))

    def _progress(self, suite: str, check_id: str, text: str) -> None:
        where = f"[{suite}] {check_id}: " if check_id else f"[{suite}] "
        columns = shutil.get_terminal_size((120, 24)).columns
        self.status.show((where + text)[: columns - 1])

    def _finish(self, summary: Summary, location: str) -> None:
        from upnpcm.check.output import junit_xml

        if self.junit:
            with open(self.junit, "wb") as out:
                out.write(junit_xml(self.rows, summary, target=location))
        if self.settings.json:
            print_json(summary.as_json())
        else:
            click.echo(summary.text())
        if summary.interrupted:
            click.echo(
                "upnpcm: interrupted; what the run had set up on the device was undone", err=True
            )
            self.exit_code = EXIT_INTERRUPTED
        else:
            self.exit_code = summary.exit_code

    @contextlib.contextmanager
    def _signals(self, task: object) -> Iterator[None]:
        """The first SIGINT/SIGTERM cancels the run (it cleans up); a second ends the process."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def interrupt() -> None:
            for sig in signals:
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_DFL)
            self.status.show("interrupted: undoing what the run set up on the device…")
            task.cancel()  # type: ignore[attr-defined]

        for sig in signals:
            loop.add_signal_handler(sig, interrupt)
        try:
            yield
        finally:
            for sig in signals:
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(sig)


COMMANDS = {"check": check}
