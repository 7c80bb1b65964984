"""A household of three players as a person runs it: `upnpcm serve --profile sonos --players 3`.

Inside the isolated namespace (port 1400 on 127.0.0.2-4, SSDP on lo): ``soco.discover()``,
hb-zp-tools' ``zp`` (which hard-wires port 1400), ``upnpcm eventlog --watch-ssdp`` across an
injected reboot, and the ``upnpcm household`` control commands. One household serves the
module; each test leaves the players as it found them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.npm import ZP, require_npm_peer
from tests.helpers.processes import Lines

pytestmark = pytest.mark.peer

PLAYERS = {"127.0.0.2": "Living Room", "127.0.0.3": "Kitchen", "127.0.0.4": "Bedroom"}
VOLUME = re.compile(r'<Volume channel="Master" val="(\d+)"/>')


def upnpcm(*args: str) -> list[str]:
    return [sys.executable, "-m", "upnpcm", *args]


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Lines]]:
    state = tmp_path_factory.mktemp("household")
    serve = Lines(
        upnpcm("serve", "--profile", "sonos", "--players", "3", "--state-dir", str(state), "-v"),
        stream="stderr",
    )
    serve.until(lambda line: line.startswith("upnpcm: faults and speaker buttons"), timeout=30)
    yield state, serve
    assert serve.interrupt() == 0, "".join(serve.lines)[-3000:]


def control(state: Path, *args: str) -> Any:
    done = subprocess.run(
        upnpcm("household", "--state-dir", str(state), *args, "--json"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def zp(*args: str, timeout: float = 20) -> tuple[Any, str]:
    """Run zp; its JSON result and its stderr. zp exits 0 even on errors: stderr is checked."""
    require_npm_peer("hb-zp-tools")
    done = subprocess.run(
        [str(ZP), "-H", "127.0.0.2", "-t", "5", *args, "-n"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "error:" not in done.stderr and "warning:" not in done.stderr, done.stderr
    return json.loads(done.stdout), done.stderr


# ------------------------------------------------------------------------ SoCo


def test_soco_discover_finds_every_player(household):
    import soco

    zones = soco.discover(timeout=5)
    assert zones is not None
    assert {(z.ip_address, z.player_name) for z in zones} == set(PLAYERS.items())
    on_lo = soco.discover(timeout=5, interface_addr="127.0.0.1")  # searched on loopback itself
    assert on_lo is not None and {z.ip_address for z in on_lo} == set(PLAYERS)


# -------------------------------------------------------------------------- zp


def test_zp_info_and_description_with_every_scpd(household):
    info, _ = zp("info")
    assert info["sonosOs"] == "S2" and info["version"].startswith("16.")
    assert info["zoneName"] == "Living Room" and info["id"].startswith("RINCON_")
    assert info["address"] == "127.0.0.2"
    description, _ = zp("description", "-S")
    devices = [description["device"], *description["device"]["deviceList"]]
    services = [s for d in devices for s in d["serviceList"]]
    assert len(services) == 16
    assert all("scpd" in s and s["scpd"]["actionList"] for s in services), [
        s["serviceId"] for s in services if "scpd" not in s
    ]


def test_zp_topology_lists_the_household(household):
    state, _ = household
    topology, _ = zp("topology", "-p")
    household_id = control(state, "list")["household"]
    found = {p["address"]: (p["zoneName"], p["household"], p["role"]) for p in topology.values()}
    assert found == {ip: (room, household_id, "master") for ip, room in PLAYERS.items()}


def test_zp_eventlog_shows_a_volume_change(household):
    state, serve = household
    require_npm_peer("hb-zp-tools")
    log = Lines([str(ZP), "-H", "127.0.0.2", "eventlog", "-n", "-s"], stream="stderr")
    try:
        log.until(lambda line: "MediaRenderer RenderingControl event:" in line)
        control(state, "volume", "Living Room", "37")
        log.until(lambda line: "RenderingControl event:" in line and '"master":37' in line)
    finally:
        log.interrupt()
    assert any("got SIGINT - exiting" in line for line in log.lines), "".join(log.lines)
    assert not [line for line in log.lines if "error:" in line or "warning:" in line]
    serve.until(lambda line: '"UNSUBSCRIBE /MediaRenderer/RenderingControl/Event" 200' in line)
    control(state, "volume", "Living Room", "20")


# ------------------------------------------------- our control point, reboots


def records(log: Lines) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.lines]


def test_eventlog_watching_ssdp_resubscribes_within_2_s_of_a_reboot_and_loses_nothing(household):
    state, _ = household
    log = Lines(
        upnpcm(
            "eventlog",
            "127.0.0.3",
            "RenderingControl",
            "--watch-ssdp",
            "--interface",
            "lo",
            "--json",
        )
    )
    try:
        first = json.loads(log.until(lambda line: '"type": "event"' in line))
        assert first["seq"] == 0
        boot = control(state, "list")["players"][1]["bootId"]
        started = time.monotonic()
        rebooted = control(state, "reboot", "Kitchen")
        assert rebooted["bootId"] == boot + 1
        again = json.loads(log.until(lambda line: '"type": "subscribed"' in line, timeout=5))
        took = time.monotonic() - started
        print(f"resubscribed {took:.3f} s after the reboot was asked for")
        assert took < 2.0, "no resubscription within 2 s of the reboot"
        assert again["sid"] != first["sid"]
        initial = json.loads(log.until(lambda line: '"type": "event"' in line))
        assert (initial["sid"], initial["seq"]) == (again["sid"], 0)
        for level in (41, 42, 43):  # every change after it arrives, in order, SEQ without a gap
            control(state, "volume", "Kitchen", str(level))
            event = json.loads(log.until(lambda line: '"type": "event"' in line))
            assert VOLUME.findall(event["variables"]["LastChange"]) == [str(level)]
            assert (event["sid"], event["seq"]) == (again["sid"], level - 40)
    finally:
        assert log.interrupt() == 0
    kinds = [r["type"] for r in records(log)]
    assert "resubscribing" in kinds and kinds[-1] == "unsubscribed"
    control(state, "volume", "Kitchen", "20")


# ------------------------------------------------------ the control interface


def test_household_commands_change_what_clients_see(household):
    state, _ = household
    listed = control(state, "list")
    assert [p["room"] for p in listed["players"]] == list(PLAYERS.values())
    assert {p["address"]: p["port"] for p in listed["players"]} == dict.fromkeys(PLAYERS, 1400)
    control(state, "fail-next", "Bedroom", "AVTransport", "Play", "701")
    call = subprocess.run(
        upnpcm("call", "127.0.0.4", "AVTransport", "Play", "InstanceID=0", "Speed=1", "--json"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert call.returncode == 1 and json.loads(call.stdout)["code"] == 701
    grouped = control(state, "join", "Bedroom", "Living Room")
    assert grouped["coordinator"] == listed["players"][0]["uid"]
    control(state, "unjoin", "Bedroom")
    control(state, "offline", "Bedroom")
    state_xml = zone_group_state("127.0.0.2")
    assert f'<Device UUID="{listed["players"][2]["uid"]}"' in state_xml
    back = control(state, "online", "Bedroom")
    assert back["online"] and back["bootId"] == listed["players"][2]["bootId"] + 1
    assert f'BootSeq="{back["bootId"]}"' in zone_group_state("127.0.0.2")
    refused = subprocess.run(
        upnpcm("household", "--state-dir", str(state), "volume", "Attic", "3"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2 and "no player 'Attic'" in refused.stderr


def zone_group_state(ip: str) -> str:
    done = subprocess.run(
        upnpcm("call", ip, "ZoneGroupTopology", "GetZoneGroupState", "--json"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return str(json.loads(done.stdout)["ZoneGroupState"])
