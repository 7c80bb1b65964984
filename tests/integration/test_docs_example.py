"""The "build your own device" example of docs/hosting.md, run as written and used by others.

The page's Python block is written to a file and run as a process (loopback,
a port of its choosing, no SSDP). async_upnp_client calls its actions,
gets its exact fault and subscribes to its evented variable; `upnpcm call`
calls it from the command line; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from async_upnp_client.aiohttp import AiohttpNotifyServer, AiohttpRequester
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.exceptions import UpnpActionResponseError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "hosting.md"
SERVICE = "urn:example-com:service:Thermostat:1"


def example_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the page has one Python block: the example"
    return blocks[0]


def test_the_example_is_complete_and_short():
    code = example_code()
    assert len(code.splitlines()) < 100
    compile(code, "thermostat.py", "exec")


def test_run_as_written_it_uses_itself_and_ends(tmp_path):
    script = tmp_path / "thermostat.py"
    script.write_text(example_code(), encoding="utf-8")
    env = {**os.environ, "UPNPCM_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("serving http://127.0.0.1:")
    assert lines[1:] == ["{'NewTarget': 17}", "{'Temperature': '20'}", "{'Temperature': '19'}"]


@pytest.fixture
async def thermostat(tmp_path):
    script = tmp_path / "thermostat.py"
    script.write_text(example_code(), encoding="utf-8")
    env = {**os.environ, "UPNPCM_STATE_DIR": str(tmp_path / "state"), "PORT": "0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        "--serve",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    match = re.match(r"serving (http://127\.0\.0\.1:\d+/\S+)", line)
    assert match, line + (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    try:
        yield match.group(1), proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_async_upnp_client_calls_and_subscribes(thermostat):
    url, proc = thermostat
    requester = AiohttpRequester()
    device = await UpnpFactory(requester, non_strict=True).async_create_device(url)
    service = device.service(SERVICE)
    status = await service.action("GetStatus").async_call()
    assert status == {"CurrentTemperature": 20, "CurrentTarget": 20}
    with pytest.raises(UpnpActionResponseError) as fault:
        await service.action("SetTarget").async_call(NewTarget=40)
    assert fault.value.error_code == 601
    assert await service.action("SelectMode").async_call(Mode="comfort") == {"NewTarget": 21}

    notify = AiohttpNotifyServer(requester, source=("127.0.0.1", 0))
    await notify.async_start_server()
    temperatures: list[int] = []
    seen = asyncio.Event()

    def on_event(_service, variables) -> None:
        temperatures.extend(v.value for v in variables if v.name == "Temperature")
        seen.set()

    service.on_event = on_event
    try:
        await notify.event_handler.async_subscribe(service)
        async with asyncio.timeout(10):  # initial event (20), then 21 a second later
            while 21 not in temperatures:
                seen.clear()
                await seen.wait()
        assert temperatures[0] == 20
        await notify.event_handler.async_unsubscribe(service)
    finally:
        await notify.async_stop_server()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_upnpcm_call_uses_it(thermostat):
    url, proc = thermostat

    async def cli(*args: str) -> tuple[int, str, str]:
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "upnpcm",
            "--json",
            "call",
            url,
            "Thermostat",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 30)
        return run.returncode or 0, out.decode(), err.decode()

    code, out, err = await cli("SetTarget", "NewTarget=25")
    assert code == 0, err
    code, out, err = await cli("GetStatus")
    assert code == 0, err
    assert json.loads(out)["CurrentTarget"] == 25
    code, out, err = await cli("SelectMode", "Mode=turbo")
    assert code == 2 and "601" in err  # refused before sending: not in the allowed list
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
