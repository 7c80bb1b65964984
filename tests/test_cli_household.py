"""`upnpcm serve --profile sonos --players N` and `upnpcm household` as real processes (loopback, free ports).

The same commands with port 1400 and SSDP run in tests/netns/test_sonos_household.py.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.processes import start_serve, stop


def upnpcm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "upnpcm", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    state = tmp_path_factory.mktemp("household")
    proc, _ = start_serve(
        "--profile",
        "sonos",
        "--players",
        "2",
        "--port",
        "0",
        "--no-ssdp",
        "--state-dir",
        str(state),
        wait_for=r"faults and speaker buttons",
    )
    yield state, proc
    assert stop(proc) == 0
    assert not (state / "household.json").exists()  # removed on the way out


def household(state: Path, *args: str) -> dict:
    done = upnpcm("household", "--state-dir", str(state), *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_control_file_is_private_and_the_endpoint_wants_its_token(running):
    state, _ = running
    control = state / "household.json"
    assert stat.S_IMODE(control.stat().st_mode) == 0o600
    found = json.loads(control.read_text())
    assert found["url"].startswith("http://127.0.0.1:")
    request = urllib.request.Request(found["url"] + "/v1/list", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # no token
    assert refused.value.code == 401
    refused.value.close()


def test_list_volume_reboot_and_refusals(running):
    state, _ = running
    listed = household(state, "list")
    assert [(p["room"], p["address"]) for p in listed["players"]] == [
        ("Living Room", "127.0.0.2"),
        ("Kitchen", "127.0.0.3"),
    ]
    assert household(state, "volume", "kitchen", "35")["volume"] == 35
    kitchen = listed["players"][1]
    rebooted = household(state, "reboot", "Kitchen")
    assert (rebooted["bootId"], rebooted["port"]) == (kitchen["bootId"] + 1, kitchen["port"])
    described = upnpcm(
        "call",
        f"127.0.0.3:{kitchen['port']}",
        "RenderingControl",
        "GetVolume",
        "InstanceID=0",
        "Channel=Master",
        "--json",
    )
    assert json.loads(described.stdout) == {"CurrentVolume": 35}  # the state outlives a reboot
    household(state, "fail-next", "Kitchen", "RenderingControl", "GetVolume", "402", "--times", "1")
    failed = upnpcm(
        "call",
        f"127.0.0.3:{kitchen['port']}",
        "RenderingControl",
        "GetVolume",
        "InstanceID=0",
        "Channel=Master",
        "--json",
    )
    assert failed.returncode == 1 and json.loads(failed.stdout)["code"] == 402
    bad = upnpcm(
        "household", "--state-dir", str(state), "fail-next", "Kitchen", "Nothing", "X", "701"
    )
    assert bad.returncode == 2 and "no service 'Nothing'" in bad.stderr


def test_without_a_household_and_bad_serve_options(tmp_path):
    missing = upnpcm("household", "--state-dir", str(tmp_path), "list")
    assert missing.returncode == 3 and "no running household found" in missing.stderr
    standard = upnpcm(
        "serve", "--players", "2", "--port", "0", "--no-ssdp", "--state-dir", str(tmp_path)
    )
    assert standard.returncode == 2 and "--profile sonos" in standard.stderr
    mismatch = upnpcm(
        "serve",
        "--profile",
        "sonos",
        "--players",
        "2",
        "--host",
        "127.0.0.2",
        "--no-ssdp",
        "--state-dir",
        str(tmp_path),
    )
    assert mismatch.returncode == 2 and "--players 2 needs 2 --host addresses" in mismatch.stderr
