"""Fixtures for the checker's tests: our device and the scripted misbehaving one, on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.check.misbehaving import ScriptedDevice
from upnpcm.check import CheckOptions, Result, Status, run_checks

#: The suites that need no multicast (discovery runs in tests/netns).
LOOPBACK_SUITES = ("description", "control", "cm", "eventing")


async def run(url: str, **options: object) -> list[Result]:
    """Every row of a run against ``url``."""
    rows: list[Result] = []
    opts = {"timeout": 4.0, "only": LOOPBACK_SUITES, **options}
    await run_checks(url, CheckOptions(**opts), on_result=rows.append)  # type: ignore[arg-type]
    return rows


def violations(rows: list[Result]) -> dict[str, list[Result]]:
    """The rows that are not PASS or SKIP, by check ID."""
    found: dict[str, list[Result]] = {}
    for row in rows:
        if row.status in (Status.WARN, Status.FAIL):
            found.setdefault(row.check, []).append(row)
    return found


def shown(rows: list[Result]) -> str:
    return "\n".join(
        f"{r.status} {r.check} {r.subject}: {r.sent} -> {r.received} ({r.detail})" for r in rows
    )


@pytest.fixture
def scripted(tmp_path: Path) -> Callable[..., AsyncIterator[ScriptedDevice]]:
    started: list[ScriptedDevice] = []

    def make(defect: str | None, **kwargs: object) -> ScriptedDevice:
        device = ScriptedDevice(defect, tmp_path / f"state-{len(started)}", **kwargs)  # type: ignore[arg-type]
        device.start()
        started.append(device)
        return device

    yield make  # type: ignore[misc]
    for device in started:
        device.stop()


async def stop_in_thread(device: ScriptedDevice) -> None:
    await asyncio.to_thread(device.stop)
