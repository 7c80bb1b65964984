"""Wall time of a whole `upnpcm check` run: our device (both profiles) and third-party devices.

The target (issue 16): the default run of a healthy device, SSDP included, in
under 30 s. SSDP must not leave the machine, so the script re-runs itself under
``unshare -n`` with ``lo`` (multicast on) and the veth pair d0/d1 the tests
use; every device lives in that namespace. Each target is checked ``--runs``
times (interleaved, bounded), the median reported with its rows. Targets:

* ``upnpcm serve`` (standard, then ``--profile sonos``) on 127.0.0.1:1400,
  SSDP on lo; ``upnpcm check 127.0.0.1 --interface lo``;
* async_upnp_client's server device (``tests/peers/auc_device.py``, HTTP only,
  so ``--skip discovery``);
* gmediarender on d0 (``--interface d0``), when installed.

    python bench/check_run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import free_port, rerun_in_namespace, start_auc, wait_http

ROOT = Path(__file__).resolve().parents[1]
#: The namespace of tests/test_netns.py: lo with multicast, a veth pair whose ends stay inside.
SETUP = (
    "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"
    " && sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
    " && ip link add d0 type veth peer name d1"
    " && ip addr add 10.99.0.1/24 dev d0 && ip addr add 10.99.0.2/32 dev d1"
    " && ip link set d0 multicast on && ip link set d0 up && ip link set d1 up"
)


def check(args: list[str]) -> tuple[float, dict[str, object]]:
    """One `upnpcm check` (NDJSON): wall seconds and its summary record."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "upnpcm", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode not in (0, 1) or not lines:
        raise RuntimeError(
            f"upnpcm check {' '.join(args)} exited {done.returncode}: {done.stderr[-400:]}"
        )
    summary = json.loads(lines[-1])["summary"]
    return elapsed, summary


def serve(profile: str, state: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "upnpcm", "serve", "--host", "127.0.0.1", "--port", "1400"]
    cmd += ["--interface", "lo", "--profile", profile, "--state-dir", str(state)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http("http://127.0.0.1:1400/xml/device_description.xml")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def inside(runs: int) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for profile in ("standard", "sonos"):
            device = serve(profile, Path(tmp) / profile)
            try:
                rows.append(
                    measure(
                        f"upnpcm serve --profile {profile}",
                        ["127.0.0.1", "--interface", "lo"],
                        runs,
                    )
                )
            finally:
                stop(device)
        port = free_port()
        auc = start_auc(port)
        try:
            rows.append(
                measure(
                    "async_upnp_client 0.49.0 server (HTTP only)",
                    [f"http://127.0.0.1:{port}/desc.xml", "--skip", "discovery"],
                    runs,
                )
            )
        finally:
            stop(auc)
        if shutil.which("gmediarender"):
            argv = [
                "gmediarender",
                "-I",
                "d0",
                "-p",
                "49494",
                "-u",
                "11111111-2222-3333-4444-555555555555",
            ]
            argv += ["--gstout-audiosink=fakesink", "--gstout-videosink=fakesink"]
            gmr = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_http("http://10.99.0.1:49494/description.xml")
                rows.append(
                    measure(
                        "gmediarender 0.1 (libupnp 1.8.4)",
                        ["http://10.99.0.1:49494/description.xml", "--interface", "d0"],
                        runs,
                    )
                )
            finally:
                stop(gmr)
    print("| target | runs | median s | min s | max s | passed | warnings | failed | skipped |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    return 0


def measure(label: str, args: list[str], runs: int) -> list[object]:
    times: list[float] = []
    summary: dict[str, object] = {}
    for _ in range(runs):
        elapsed, summary = check(args)
        times.append(elapsed)
    return [
        label,
        runs,
        f"{statistics.median(times):.1f}",
        f"{min(times):.1f}",
        f"{max(times):.1f}",
        summary["passed"],
        summary["warnings"],
        summary["failed"],
        summary["skipped"],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get("UPNPCM_NETNS") == "lo":
        return inside(max(1, min(args.runs, 20)))
    env = {**os.environ, "UPNPCM_NETNS": "lo", "PYTHONPATH": str(ROOT)}
    return rerun_in_namespace(
        Path(__file__).resolve(), ["--runs", str(args.runs)], setup=SETUP, env=env, timeout=1800
    )


if __name__ == "__main__":
    sys.exit(main())
