"""Tests that multicast (SSDP): collected only inside an isolated network namespace.

``tests/test_netns.py`` re-runs this directory under ``unshare -n``
(UPNPCM_NETNS=lo) with ``lo`` and a veth pair d0/d1 whose both ends are inside
the namespace. Before any test runs, the session checks that the namespace
really has nothing else, so no datagram can leave the machine.
"""

import os
import subprocess

import pytest

MODE = os.environ.get("UPNPCM_NETNS", "")
collect_ignore_glob = [] if MODE == "lo" else ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def isolated_namespace():
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip() for line in links.splitlines() if line.strip()}
    if not names <= {"lo", "d0@d1", "d1@d0"}:
        pytest.exit(
            f"refusing to run SSDP tests: interfaces {sorted(names)} are not lo + the d0/d1 pair",
            returncode=3,
        )


@pytest.fixture
async def host(tmp_path):
    """Our device on 127.0.0.1 (any port), SSDP on ``lo``."""
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    device = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("lo",)), state_dir=tmp_path
    )
    await device.start()
    yield device
    await device.stop()
