"""The checker against async_upnp_client's server device (a real third-party device, pinned).

Every violation it reports is listed here with the reason; anything else is a
regression of the checker (or a change in the peer).
"""

import socket

import pytest

from tests.check.conftest import run, shown, violations
from tests.peers import auc_device

pytestmark = pytest.mark.peer

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
    server = await auc_device.start(port)
    try:
        rows = await run(f"http://127.0.0.1:{port}/desc.xml")
    finally:
        await server.async_stop()
    found = violations(rows)
    assert set(found) == set(EXPECTED), shown(rows)
    assert {r.status.value for r in found["gena.callstranger"]} == {"WARN"}
