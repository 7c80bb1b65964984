"""`upnpcm check` as a user runs it: a real process against devices served in this test."""

import asyncio
import json
import signal
import sys

from tests.check.misbehaving import ScriptedDevice
from upnpcm.core.xml import children, parse_xml
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings


async def upnpcm(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """``python -m upnpcm ARGS`` as a real process (this event loop keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "upnpcm",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_ndjson_when_piped_with_a_summary_last(device):
    url = device.description_url("127.0.0.1")
    code, out, _ = await upnpcm("check", url, "--only", "description,cm.unknown-id")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["check"] for r in records[:-1]} >= {"desc.fetch", "desc.cm-scpd", "cm.unknown-id"}
    assert {r["suite"] for r in records[:-1]} == {"description", "cm"}
    assert all(r["status"] == "PASS" and r["cite"] and r["required"] for r in records[:-1])
    assert records[-1]["summary"]["failed"] == 0
    assert records[-1]["summary"]["passed"] == len(records) - 1


async def test_text_rows_summary_and_junit(device, tmp_path):
    junit = tmp_path / "check.xml"
    url = device.description_url("127.0.0.1")
    code, out, _ = await upnpcm(
        "check", url, "--text", "--skip", "discovery,eventing,cm", "--junit", str(junit)
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("── description")
    assert any(line.startswith("PASS desc.fetch ") for line in lines)
    assert any(line.startswith("── control") for line in lines)
    assert lines[-1].endswith(" s") and " passed, 0 warnings, 0 failed, " in lines[-1]
    root = parse_xml(junit.read_bytes(), max_bytes=1 << 20)
    assert [s.get("name") for s in children(root, "testsuite")] == ["description", "control"]
    assert root.get("failures") == "0"


async def test_exit_status_1_when_a_check_fails(tmp_path):
    scripted = ScriptedDevice("cm.unknown-id", tmp_path)
    await asyncio.to_thread(scripted.start)
    try:
        code, out, _ = await upnpcm(
            "check", scripted.url, "--text", "--only", "cm.unknown-id,cm.protocol-info"
        )
    finally:
        await asyncio.to_thread(scripted.stop)
    assert code == 1
    assert "FAIL cm.unknown-id" in out
    assert "     required: UPnP error 706 Invalid connection reference" in out
    assert "     got: HTTP 200" in out and "ProtocolInfo=':::'" in out
    assert out.rstrip().endswith("s") and ", 2 failed, " in out


async def test_usage_errors_and_the_list():
    code, _, err = await upnpcm("check", "127.0.0.1:9", "--only", "nonsense")
    assert code == 2 and "no suite or check 'nonsense'" in err
    code, _, err = await upnpcm("check")
    assert code == 2 and "missing TARGET" in err
    code, out, _ = await upnpcm("check", "--list", "--only", "eventing")
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {r["suite"] for r in listed} == {"eventing"}
    assert "gena.unknown-sid" in {r["id"] for r in listed}
    code, out, _ = await upnpcm("check", "--list", "--text")
    assert code == 0 and "cm.prepare-evented" in out and "── discovery" in out


async def test_ctrl_c_undoes_what_the_run_set_up(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        manager = host.connection_manager("renderer")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "upnpcm", "check", host.description_url("127.0.0.1"), "--only", "cm",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        seen: list[str] = []
        while not any('"cm.complete-unknown-id"' in line for line in seen):
            seen.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
        for _ in range(200):  # the walk through every Sink and Source entry has begun
            if manager.statistics()["prepared"] >= 3:
                break
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 130, err.decode()
        assert json.loads(out.decode().splitlines()[-1])["summary"]["interrupted"] is True
        assert "undone" in err.decode()
        assert manager.statistics()["prepared"] >= 3
        assert manager.connection_ids() == ()
        assert host.connection_manager("server").connection_ids() == ()
        assert all(len(table) == 0 for table in host.core.tables().values())
