"""`upnpcm serve` as a real process: defaults, SIGTERM, persisted UDN."""

import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.helpers.processes import start_serve, stop
from upnpcm.core.description import parse_device_description


def start(tmp_path, *args):
    proc, match = start_serve(
        "--host", "127.0.0.1", "--port", "0", "--no-ssdp", "--state-dir", str(tmp_path), *args
    )
    return proc, int(match.group(1))


def get(port, path="/xml/device_description.xml"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_and_stops_cleanly(tmp_path, sig):
    proc, port = start(tmp_path, "-v")
    try:
        udn = parse_device_description(get(port)).device.udn
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopped" in err
    assert '"GET /xml/device_description.xml" 200' in err  # -v: one line per request
    proc2, port2 = start(tmp_path)
    try:
        assert parse_device_description(get(port2)).device.udn == udn  # kept in the state directory
    finally:
        stop(proc2)


def test_serve_with_config_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[device]\nfriendly_name = "Attic"\n[server]\nenabled = false\n', encoding="utf-8"
    )
    proc, port = start(tmp_path, "--config", str(config))
    try:
        device = parse_device_description(get(port)).device
        assert device.friendly_name == "Attic"
        assert [d.device_type.split(":")[-2] for d in device.devices] == ["MediaRenderer"]
    finally:
        stop(proc)


def serve_once(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m upnpcm serve ARGS` expected to exit by itself (bounded: 30 s)."""
    return subprocess.run(
        [sys.executable, "-m", "upnpcm", "serve", *args], capture_output=True, text=True, timeout=30
    )


def test_bad_config_is_usage_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[device]\nnope = 1\n", encoding="utf-8")
    result = serve_once(
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "unknown key 'nope'" in result.stderr


def test_port_in_use_exits_3(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = serve_once(
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ssdp",
            "--state-dir",
            str(tmp_path),
        )
    assert result.returncode == 3
    assert "address in use" in result.stderr


def test_unknown_interface_is_a_usage_error_without_traceback(tmp_path):
    result = serve_once(
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--interface",
        "nosuch0",
        "--state-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "no such interface or address: nosuch0" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_says_where_it_can_be_reached_once(tmp_path):
    proc, match = start_serve(
        "--host", "127.0.0.1", "--port", "0", "--no-ssdp", "--state-dir", str(tmp_path)
    )
    try:
        port = match.group(1)
        assert match.string.strip().endswith(f"on port {port}")
        following = [proc.stderr.readline().rstrip("\n") for _ in range(2)]
    finally:
        stop(proc)
    assert following == [
        f"upnpcm:   http://127.0.0.1:{port}/xml/device_description.xml",
        "upnpcm: no SSDP (--no-ssdp): control points need one of the URLs above",
    ]


def test_every_address_of_a_wildcard_is_listed():
    import ipaddress

    from upnpcm.aio.ssdp import reachable_addresses

    everything = reachable_addresses(["0.0.0.0"])  # only listed: nothing binds
    assert "127.0.0.1" in everything
    assert all(ipaddress.ip_address(a).version == 4 for a in everything)
    assert reachable_addresses(["127.0.0.5", "127.0.0.5"]) == ["127.0.0.5"]


@pytest.mark.parametrize("interface", ["lo", "nosuch0"])
def test_interface_with_no_ssdp_is_refused(tmp_path, interface):
    result = serve_once(
        "--no-ssdp", "--interface", interface, "--port", "0", "--state-dir", str(tmp_path)
    )
    assert result.returncode == 2
    assert "--interface (or [network].interfaces) chooses where SSDP runs" in result.stderr
    assert "serving" not in result.stderr  # refused before anything listens
