"""``upnpcm discover`` as a person sees it on a terminal, and as a script reads it from a pipe."""

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.helpers.processes import start_serve, stop
from tests.helpers.terminal import run_on_terminal, screen
from upnpcm.core.description import parse_device_description

UPNPCM = [sys.executable, "-m", "upnpcm"]


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    state = tmp_path_factory.mktemp("discover")
    config = state / "device.toml"
    config.write_text('[device]\nfriendly_name = "Attic"\n', encoding="utf-8")
    proc, match = start_serve(
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--interface",
        "lo",
        "--config",
        str(config),
        "--state-dir",
        str(state),
    )
    port = int(match.group(1))
    url = f"http://127.0.0.1:{port}/xml/device_description.xml"
    said = [proc.stderr.readline().rstrip("\n") for _ in range(2)]
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            udn = parse_device_description(reply.read()).device.udn
        yield port, udn, said
    finally:
        stop(proc)


def test_serve_says_where_it_is_and_where_ssdp_runs(device):
    port, _, said = device
    assert said[0] == f"upnpcm:   http://127.0.0.1:{port}/xml/device_description.xml"
    assert re.fullmatch(
        r"upnpcm: SSDP advertises it on lo \(127\.0\.0\.1(, ::1)?\); BOOTID \d+", said[1]
    )


def test_on_a_terminal_rows_and_a_clean_status_line(device):
    port, udn, _ = device
    code, raw = run_on_terminal([*UPNPCM, "discover", "--interface", "lo", "--timeout", "2", "-v"])
    assert code == 0, raw
    assert "\r\x1b[Ksearching (2 s)…" in raw  # shown while waiting, on the terminal only
    lines = screen(raw)
    assert lines[0].split() == ["NAME", "TYPE", "ADDRESS", "UDN"]
    rows = [line for line in lines if not line.startswith((" ", "NAME"))][:-1]
    ours = [row for row in rows if row.endswith(udn)]
    assert len(ours) == 1, lines  # one row for the device, not one per reply (9 here)
    assert ours[0].split() == ["Attic", "Basic:1", f"127.0.0.1:{port}", udn]
    services = lines[lines.index(ours[0]) + 1 : lines.index(ours[0]) + 3]
    assert [line.split()[0] for line in services] == ["MR/CM", "MS/CM"]
    assert lines[-1] == f"{len(rows)} device{'' if len(rows) == 1 else 's'} found in 2 s"
    assert not any("searching" in line for line in lines)  # erased, never glued to a row


def test_on_a_pipe_ndjson_one_line_per_reply(device):
    _, udn, _ = device
    result = subprocess.run(
        [*UPNPCM, "discover", "--interface", "lo", "--timeout", "1.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    ours = [r for r in records if r["usn"].startswith(udn)]
    assert len(ours) >= 3  # every reply, as before: upnp:rootdevice, the UDN, the device type
    assert {r["type"] for r in records} == {"response"}
    assert result.stderr == ""  # no status line, no count: a script reads stdout


def test_a_reader_that_leaves_ends_discover_quietly(device):
    result = subprocess.run(
        f"{sys.executable} -m upnpcm discover --interface lo --timeout 2 | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
        executable="/bin/bash",
    )
    assert json.loads(result.stdout)["type"] == "response"
    assert result.stderr == ""  # no "Broken pipe", no traceback
