"""Run the multicast tests (tests/netns) inside an isolated network namespace.

SSDP must never leave the machine: the namespace has ``lo`` (multicast on,
239.0.0.0/8 routed to it) and one veth pair d0/d1 whose both ends stay inside
the namespace (10.99.0.1/24 and fd99::1/64 on d0, 10.99.0.2 and fd99::2 on d1),
for peers that refuse ``lo`` and for IPv6 multicast, which ``lo`` does not carry
(DEVELOPERS.md, network rules). Those addresses exist only in the namespace.
The inner pytest is also the init of a fresh PID namespace, and unshare kills
it if unshare itself dies (a timeout): when it ends, the kernel ends every
process it started (a ``serve``, gmediarender, rygel), so nothing outlives the run.

The inner suite runs once; each of its tests is one test here (collected
outside the namespace, which only imports them), passing, failing or skipping
as it did inside, with its reason, so the outer summary shows every inner test
and every skip. Where ``unshare -n`` is not permitted they skip and say why, or
fail under ``UPNPCM_REQUIRE_PEERS=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.require import unavailable

ROOT = Path(__file__).resolve().parents[1]
SETUP_LO = "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"
# accept_dad=0 before the pair exists, so that its link-local addresses are usable at once
# (libupnp, in gerbera, binds d0's fe80:: address and fails on a tentative one).
SETUP_VETH = (
    "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
    " && ip link add d0 type veth peer name d1"
    " && ip addr add 10.99.0.1/24 dev d0 && ip addr add 10.99.0.2/32 dev d1"
    " && ip -6 addr add fd99::1/64 dev d0 nodad && ip -6 addr add fd99::2/64 dev d1 nodad"
    " && ip link set d0 multicast on && ip link set d0 up && ip link set d1 up"
)
SETUP = f"{SETUP_LO} && {SETUP_VETH}"
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
#: Bound of the whole inner run (every inner test has its own pytest timeout too).
INNER_TIMEOUT = 1200
_ENV = {**os.environ, "UPNPCM_NETNS": "lo", "PYTHONPATH": str(ROOT)}


def unshare_works() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(
        [*UNSHARE, "sh", "-c", SETUP], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"unshare --net --pid is not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


def _inner_tests() -> list[str]:
    """The node IDs of tests/netns, collected (not run) outside the namespace."""
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/netns",
        ],
        cwd=ROOT,
        env=_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ids = [line for line in listing.stdout.splitlines() if line.startswith("tests/netns/")]
    if listing.returncode != 0 or not ids:
        return ["<collection of tests/netns failed>"]
    return ids


INNER = _inner_tests()


@pytest.fixture(scope="session")
def inner_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/netns once in the namespace; each node ID's outcome (or why none)."""
    reason = unshare_works()
    if reason:
        return {"unavailable": f"SSDP tests need an isolated network namespace: {reason}"}
    report = tmp_path_factory.mktemp("netns") / "report.jsonl"
    env = {**_ENV, "UPNPCM_NETNS_REPORT": str(report)}
    command = (
        f"{SETUP} && exec {sys.executable} -m pytest -q -p no:cacheprovider"
        " -p tests.netns_report tests/netns"
    )
    result = subprocess.run(
        [*UNSHARE, "sh", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        check=False,
    )
    outcomes: dict[str, Any] = {}
    if report.exists():
        for line in report.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if outcomes.get(entry["nodeid"], {}).get("outcome") in ("failed", "skipped"):
                continue  # the first decisive phase wins (a failed setup, then a teardown)
            outcomes[entry["nodeid"]] = entry
    outcomes["<output>"] = result.stdout[-20000:] + result.stderr[-5000:]
    outcomes["<returncode>"] = result.returncode
    return outcomes


@pytest.mark.netns
@pytest.mark.timeout(INNER_TIMEOUT + 60)
@pytest.mark.parametrize("inner", INNER, ids=[i.removeprefix("tests/netns/") for i in INNER])
def test_in_isolated_namespace(inner: str, inner_results: dict[str, Any]) -> None:
    if "unavailable" in inner_results:
        unavailable(inner_results["unavailable"])
    entry = inner_results.get(inner)
    if entry is None:
        pytest.fail(
            f"{inner} did not report inside the namespace (exit {inner_results['<returncode>']}):\n"
            f"{inner_results['<output>']}",
            pytrace=False,
        )
    if entry["outcome"] == "skipped":  # a missing peer already failed inside under CI
        pytest.skip(f"inside the namespace: {entry['detail']}")
    if entry["outcome"] != "passed":
        pytest.fail(f"inside the namespace ({entry['when']}):\n{entry['detail']}", pytrace=False)


@pytest.mark.netns
@pytest.mark.timeout(INNER_TIMEOUT + 60)
def test_the_inner_run_ended_cleanly(inner_results: dict[str, Any]) -> None:
    """A crash after the last test (or a refused namespace) is not hidden by the rows above."""
    if "unavailable" in inner_results:
        unavailable(inner_results["unavailable"])
    assert inner_results["<returncode>"] in (0, 1), inner_results["<output>"]
