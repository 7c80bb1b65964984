"""Our own device passes every check (both profiles), and a run leaves nothing behind.

Loopback suites here; the discovery suite runs in tests/netns/test_check.py.
"""

import asyncio

import pytest

from tests.check.conftest import LOOPBACK_SUITES, run, shown, violations
from upnpcm.check import CheckOptions, Status, run_checks
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

#: The Sonos profile's documented deviations (README, "--profile sonos"), each a WARN.
SONOS_WARNINGS = {
    "desc.udn": "uuid:RINCON_… is not an RFC 4122 UUID (UDA 1.0 allows it)",
    "cm.protocol-info-empty": "the captured Sink list ends with a comma",
    "cm.connection-zero-ids": 'CurrentConnectionIDs is "" as on a zone player',
    "cm.connection-zero-info": "GetCurrentConnectionInfo(0) faults 402 as Sonos firmware does",
}


@pytest.fixture(params=["standard", "standard-no-prepare", "sonos"])
async def ours(request, tmp_path):
    profile = "sonos" if request.param == "sonos" else "standard"
    settings = DeviceSettings(
        host=("127.0.0.1",),
        port=0,
        ssdp=False,
        profile=profile,
        prepare_for_connection=request.param != "standard-no-prepare",
    )
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        yield request.param, host


async def test_our_device_passes_every_check(ours):
    name, host = ours
    before = host.connection_manager("renderer").connection_ids()
    rows = await run(host.description_url("127.0.0.1"))
    found = violations(rows)
    assert not [r for r in rows if r.status is Status.FAIL], shown(rows)
    if name == "sonos":
        assert set(found) == set(SONOS_WARNINGS), shown(rows)
        assert all(r.detail for rs in found.values() for r in rs)  # each WARN says why
    else:
        assert found == {}, shown(rows)
    assert {r.check for r in rows if r.status is Status.PASS} >= {
        "desc.cm-scpd", "ctl.read-actions", "cm.unknown-id", "gena.initial-event-complete",
        "gena.unknown-sid", "gena.callstranger", "gena.notify-unanswered",
    }  # fmt: skip
    assert host.connection_manager("renderer").connection_ids() == before
    assert all(len(table) == 0 for table in host.core.tables().values())


async def test_no_changes_calls_no_state_changing_action(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        rows = await run(host.description_url("127.0.0.1"), changes=False)
        stats = host.connection_manager("renderer").statistics()
    assert stats["prepared"] == 0 and stats["completed"] == 0
    skipped = {r.check for r in rows if r.status is Status.SKIP and "--no-changes" in r.detail}
    assert skipped == {
        "cm.complete-unknown-id", "cm.prepare", "cm.prepare-listed", "cm.prepare-info",
        "cm.prepare-evented", "cm.complete", "cm.complete-evented", "cm.incompatible",
    }  # fmt: skip
    assert violations(rows) == {}


async def test_a_cancelled_run_completes_its_connections_and_unsubscribes(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        manager = host.connection_manager("renderer")
        reached = asyncio.Event()

        def progress(suite: str, check: str, text: str) -> None:
            if "PrepareForConnection 3/" in text:
                reached.set()

        task = asyncio.create_task(
            run_checks(
                host.description_url("127.0.0.1"),
                CheckOptions(timeout=5, only=("cm",)),
                on_progress=progress,
            )
        )
        await asyncio.wait_for(reached.wait(), 20)
        await asyncio.sleep(0.05)  # inside an entry: a connection may be live now
        assert manager.statistics()["prepared"] >= 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert manager.connection_ids() == ()
        assert all(len(table) == 0 for table in host.core.tables().values())


async def test_a_failing_run_still_cleans_up(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        manager = host.connection_manager("renderer")

        def explode(result):
            if result.check == "cm.prepare":
                raise RuntimeError("the reader went away")

        with pytest.raises(RuntimeError):
            await run_checks(
                host.description_url("127.0.0.1"),
                CheckOptions(timeout=5, only=LOOPBACK_SUITES),
                on_result=explode,
            )
        assert manager.statistics()["prepared"] > 0
        assert manager.connection_ids() == ()
        assert all(len(table) == 0 for table in host.core.tables().values())


async def test_an_unreachable_device_fails_fast_and_skips_the_rest():
    rows = []
    summary = await run_checks(
        "http://127.0.0.1:9/xml/device_description.xml",
        CheckOptions(timeout=2),
        on_result=rows.append,
    )
    assert [r.check for r in rows if r.status is Status.FAIL] == ["desc.fetch"]
    assert summary.exit_code == 1
    assert summary.seconds < 10
