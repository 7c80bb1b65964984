"""Every check can fail: the scripted device makes each one fail, and no other (loopback suites).

The discovery suite's defects are exercised in tests/netns/test_check.py (multicast).
"""

import asyncio
from pathlib import Path

from tests.check.conftest import run, shown, violations
from tests.check.misbehaving import DEFECTS, ScriptedDevice
from upnpcm.check import CHECKS, Severity, Status

LOOPBACK_DEFECTS = [d for d in DEFECTS if not d.startswith("ssdp.")]
#: Violations a defect can only show as WARN, and why.
ONLY_WARN = {
    # FAIL is for no answer within 30 s (or --timeout); a test waits 2.5 s for a WARN.
    "ctl.response-time": "over 2 s is a WARN; FAIL needs 30 s",
}


def test_every_check_has_a_defect():
    assert set(DEFECTS) == {check.id for check in CHECKS}


async def test_the_scripted_device_passes_every_check_when_it_behaves(tmp_path):
    for prepare in (True, False):
        device = ScriptedDevice(None, tmp_path / f"state-{prepare}", prepare=prepare)
        await asyncio.to_thread(device.start)
        try:
            rows = await run(device.url)
        finally:
            await asyncio.to_thread(device.stop)
        assert violations(rows) == {}, shown(rows)
        ran = {r.check for r in rows if r.status is Status.PASS}
        skipped = {c.id for c in CHECKS if c.suite != "discovery"} - ran
        expected = (
            {"cm.connection-zero-ids", "cm.connection-zero-info"}
            if prepare
            else {
                "cm.complete-unknown-id",
                "cm.prepare",
                "cm.prepare-listed",
                "cm.prepare-info",
                "cm.prepare-evented",
                "cm.complete",
                "cm.complete-evented",
                "cm.incompatible",
            }
        )
        assert skipped == expected


async def _violations_of(defect: str, state: Path, gate: asyncio.Semaphore) -> tuple[str, dict]:
    async with gate:
        device = ScriptedDevice(defect, state)
        await asyncio.to_thread(device.start)
        try:
            return defect, violations(await run(device.url, timeout=6.0))
        finally:
            await asyncio.to_thread(device.stop)


async def test_each_defect_makes_its_check_fail_and_no_other(tmp_path):
    gate = asyncio.Semaphore(4)
    outcomes = await asyncio.gather(
        *(_violations_of(d, tmp_path / d, gate) for d in LOOPBACK_DEFECTS)
    )
    severity = {c.id: c.severity for c in CHECKS}
    wrong: list[str] = []
    for defect, found in outcomes:
        if set(found) != {defect}:
            wrong.append(f"{defect} ({DEFECTS[defect]}): violations in {sorted(found)}")
            wrong.extend("    " + shown(rows) for rows in found.values())
            continue
        statuses = {r.status for r in found[defect]}
        want = (
            Status.FAIL
            if severity[defect] is Severity.MUST and defect not in ONLY_WARN
            else Status.WARN
        )
        if want not in statuses:
            wrong.append(f"{defect}: {sorted(statuses)}, expected {want}")
    assert not wrong, "\n".join(wrong)
