"""The checker against async_upnp_client's server device (a real third-party device, pinned).

Every violation it reports is listed here with the reason; anything else is a
regression of the checker (or a change in the peer).

The peer runs in a process of its own on asyncio's loop, as its users run it
(the checker runs on the loop of the test run, ``--loop``): on uvloop,
async_upnp_client 0.49's server does not get its CurrentConnectionIDs change
events to the checker's catcher, on either loop of the checker.
"""

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from tests.check.conftest import run, shown, violations

pytestmark = pytest.mark.peer
ROOT = Path(__file__).resolve().parents[2]

#: check ID -> why async_upnp_client 0.49's server (or our small CM on it) gets it wrong.
EXPECTED = {
    "ctl.unknown-action": "an unknown action is answered 400 with plain text, no UPnP fault",
    "ctl.missing-argument": "a missing argument is answered 500 with plain text, no UPnP fault",
    "ctl.extra-argument": "an extra argument is answered 400 with plain text, no UPnP fault",
    "ctl.wrong-type": "a value of the wrong type is answered 500 with plain text, no UPnP fault",
    "ctl.fault-form": "its error answers are text/plain, not SOAP faults",
    "cm.incompatible": "tests/peers/auc_device.py's PrepareForConnection checks only Direction (ours, not the library's)",
    "gena.subscribe": "SIDs without uuid: and TIMEOUT without Second- (async_upnp_client#38 era format)",
    "gena.renew": "the same SID and TIMEOUT forms in the renewal answer",
    "gena.incompatible-headers": "SID with CALLBACK is answered 412, not 400",
    "gena.nt": "NT is not checked: a SUBSCRIBE without it is granted",
    "gena.callstranger": "no CallStranger check (a WARN: it claims UDA 1.0)",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_async_upnp_client_device():
    port = free_port()
    peer = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.peers.auc_device", "--port", str(port), "--seconds", "120"),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,  # its asyncio.run() makes asyncio's own loop
    )
    try:
        assert peer.stdout is not None
        assert (await asyncio.wait_for(peer.stdout.readline(), 20)).startswith(b"listening")
        rows = await run(f"http://127.0.0.1:{port}/desc.xml")
    finally:
        peer.terminate()
        await peer.wait()
    found = violations(rows)
    assert set(found) == set(EXPECTED), shown(rows)
    assert {r.status.value for r in found["gena.callstranger"]} == {"WARN"}
