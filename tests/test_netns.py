"""Run the multicast tests (tests/netns) inside an isolated network namespace.

SSDP must never leave the machine: the namespace has ``lo`` (multicast on,
239.0.0.0/8 routed to it) and one veth pair d0/d1 whose both ends stay inside
the namespace (10.99.0.1/24 and fd99::1/64 on d0, 10.99.0.2 and fd99::2 on d1),
for peers that refuse ``lo`` and for IPv6 multicast, which ``lo`` does not carry
(DEVELOPERS.md, network rules). Those addresses exist only in the namespace.
The inner pytest is also the init of a fresh PID namespace, and unshare kills
it if unshare itself dies (a timeout): when it ends, the kernel ends every
process it started (a ``serve``, gmediarender, rygel), so nothing outlives the run.
Skipped, with the reason, where ``unshare -n`` is not permitted.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP_LO = "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"
SETUP_VETH = (
    "ip link add d0 type veth peer name d1"
    " && sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
    " && ip addr add 10.99.0.1/24 dev d0 && ip addr add 10.99.0.2/32 dev d1"
    " && ip -6 addr add fd99::1/64 dev d0 nodad && ip -6 addr add fd99::2/64 dev d1 nodad"
    " && ip link set d0 multicast on && ip link set d0 up && ip link set d1 up"
)
SETUP = f"{SETUP_LO} && {SETUP_VETH}"
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child"]


def unshare_works() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(
        [*UNSHARE, "sh", "-c", SETUP], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"unshare --net --pid is not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


@pytest.mark.netns
@pytest.mark.timeout(660)  # the whole directory in one run: over the 120 s a single test gets
def test_ssdp_suite_in_isolated_namespace():
    reason = unshare_works()
    if reason:
        pytest.skip(f"SSDP tests need an isolated network namespace: {reason}")
    env = {**os.environ, "UPNPCM_NETNS": "lo", "PYTHONPATH": str(ROOT)}
    command = f"{SETUP} && exec {sys.executable} -m pytest -q -p no:cacheprovider tests/netns"
    result = subprocess.run(
        [*UNSHARE, "sh", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(result.stdout[-20000:])
    print(result.stderr[-5000:], file=sys.stderr)
    assert result.returncode == 0, "SSDP tests failed inside the namespace (output above)"
