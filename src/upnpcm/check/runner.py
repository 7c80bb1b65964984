"""Run checks against one device: in suite order, each step bounded, and always clean up.

::

    summary = await run_checks(location, CheckOptions(), on_result=print)

Every row is handed to ``on_result`` as soon as it is known; an exception
from ``on_result`` (a reader that went away) ends the run, while one from a
check becomes a FAIL row of that check. Whatever ends the run — the last
check, an error, a cancellation (Ctrl-C) — every
connection it prepared is completed and every subscription it holds is
unsubscribed before :func:`run_checks` returns or raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from upnpcm.check import cm, control, description, discovery, eventing
from upnpcm.check.context import CheckContext, CheckOptions
from upnpcm.check.registry import (
    SUITE_TITLES,
    SUITES,
    Check,
    Finding,
    Result,
    Status,
    failed,
    skipped,
)

__all__ = ["CHECKS", "Summary", "run_checks", "select_checks"]

_LOG: Final = logging.getLogger("upnpcm.check")

#: Every check, in the order a run takes them.
CHECKS: Final[tuple[Check, ...]] = (
    *description.CHECKS,
    *control.CHECKS,
    *cm.CHECKS,
    *eventing.CHECKS,
    *discovery.CHECKS,
)


@dataclass(slots=True)
class Summary:
    """Counts of a run."""

    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    seconds: float = 0.0
    interrupted: bool = False

    def add(self, result: Result) -> None:
        """Count one row."""
        self.counts[result.status] += 1

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, else 1."""
        return 1 if self.counts[Status.FAIL] else 0

    def text(self) -> str:
        """``12 passed, 1 warning, 2 failed, 3 skipped in 4.2 s``."""
        counts = self.counts
        warnings = counts[Status.WARN]
        text = (
            f"{counts[Status.PASS]} passed, {warnings} warning{'' if warnings == 1 else 's'}, "
            f"{counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped in {self.seconds:.1f} s"
        )
        return text + (" (interrupted)" if self.interrupted else "")

    def as_json(self) -> dict[str, object]:
        """The summary as the last NDJSON record."""
        return {
            "summary": {
                "passed": self.counts[Status.PASS],
                "warnings": self.counts[Status.WARN],
                "failed": self.counts[Status.FAIL],
                "skipped": self.counts[Status.SKIP],
                "seconds": round(self.seconds, 3),
                "interrupted": self.interrupted,
            }
        }


def select_checks(only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """The checks named by ``only`` (all when empty) minus ``skip``: suite names or check IDs.

    Raises:
        ValueError: a name that is neither a suite nor a check ID.
    """
    ids = {check.id for check in CHECKS}
    for name in (*only, *skip):
        if name not in SUITES and name not in ids:
            raise ValueError(
                f"no suite or check {name!r} (suites: {', '.join(SUITES)}; "
                "upnpcm check --list shows every check ID)"
            )

    def named(check: Check, names: Sequence[str]) -> bool:
        return check.suite in names or check.id in names

    return [c for c in CHECKS if (not only or named(c, only)) and not named(c, skip)]


def _checker_error(exc: Exception) -> Finding:
    return failed(
        "checker",
        received=f"{type(exc).__name__}: {exc}",
        detail="the check itself failed (a bug in upnpcm: please report it)",
    )


ResultHandler = Callable[[Result], None]
ProgressHandler = Callable[[str, str, str], None]


async def run_checks(
    location: str,
    options: CheckOptions | None = None,
    *,
    on_result: ResultHandler | None = None,
    on_progress: ProgressHandler | None = None,
    checks: Sequence[Check] | None = None,
) -> Summary:
    """Run the selected checks against the device described at ``location``.

    ``on_progress(suite title, check ID, text)`` hears what the run is doing.
    Cancelling the task still cleans up (bounded by the timeout per request)
    and then raises CancelledError.

    Raises:
        ValueError: ``options.only`` or ``options.skip`` names no suite or check.
    """
    options = options or CheckOptions()
    chosen = list(checks) if checks is not None else select_checks(options.only, options.skip)
    loop = asyncio.get_running_loop()
    started = loop.time()
    summary = Summary()
    current = {"suite": "", "check": ""}

    def progress(text: str) -> None:
        if on_progress is not None:
            on_progress(current["suite"], current["check"], text)

    def emit(result: Result) -> None:
        summary.add(result)
        if on_result is not None:
            on_result(result)

    ctx = CheckContext(location, options, progress=progress)
    try:
        if any(check.suite == "discovery" for check in chosen):
            await discovery.prepare(ctx)  # hear announcements for the whole run
        for check in chosen:
            current["suite"], current["check"] = SUITE_TITLES[check.suite], check.id
            progress(check.title)
            mark = loop.time()
            if check.changes_state and not options.changes:
                emit(
                    Result.of(
                        check, skipped("device", "--no-changes: it changes the device's state"), 0.0
                    )
                )
                continue
            findings = check.run(ctx)
            try:
                while True:
                    try:
                        finding = await anext(findings)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:  # a bug in a check must not stop the run
                        _LOG.exception("check %s raised", check.id)
                        emit(Result.of(check, _checker_error(exc), loop.time() - mark))
                        break
                    now = loop.time()
                    emit(Result.of(check, finding, now - mark))  # its errors end the run
                    mark = now
            finally:
                await findings.aclose()  # type: ignore[attr-defined]
    except asyncio.CancelledError:
        summary.interrupted = True
        raise
    finally:
        current["suite"], current["check"] = "cleanup", ""
        try:
            await ctx.undo()
        finally:
            await ctx.close()
            summary.seconds = loop.time() - started
    return summary
