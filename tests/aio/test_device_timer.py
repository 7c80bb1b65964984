"""The device server's one timer (rule T1): armed at the core's deadline or before it, never late.

A deadline that moves later with a request (the oldest connection completed,
a lease renewed) keeps the timer already armed: it fires early, the core has
nothing due, and it is armed again for the real deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from upnpcm.aio.control_point import ControlPoint
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

BASE = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False, renderer=False)
PREPARE = {
    "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
    "PeerConnectionManager": "",
    "PeerConnectionID": "-1",
    "Direction": "Output",
}


async def test_a_later_deadline_keeps_the_timer_armed(tmp_path):
    host = DeviceHost(replace(BASE, connection_idle_timeout=600), state_dir=tmp_path)
    async with host, ControlPoint() as cp:
        cm = (await cp.load(host.description_url("127.0.0.1"))).service("ConnectionManager")
        first = (await cm.call("PrepareForConnection", **PREPARE))["ConnectionID"]
        timer = host.server._timer
        assert timer is not None  # the first connection's idle deadline
        for _ in range(5):
            await asyncio.sleep(0.01)  # later leases (the loop's clock may tick by the ms)
            await cm.call("PrepareForConnection", **PREPARE)
        await cm.call("ConnectionComplete", ConnectionID=first)  # the deadline moves later
        assert host.server._timer is timer  # not cancelled and armed again per request
        assert host.server._timer_at < host.server.core.next_deadline()


async def test_the_early_timer_arms_itself_again_and_the_lease_ends_in_time(tmp_path):
    host = DeviceHost(replace(BASE, connection_idle_timeout=0.6), state_dir=tmp_path)
    async with host, ControlPoint() as cp:
        cm = (await cp.load(host.description_url("127.0.0.1"))).service("ConnectionManager")
        loop = asyncio.get_running_loop()
        first = (await cm.call("PrepareForConnection", **PREPARE))["ConnectionID"]
        await asyncio.sleep(0.3)
        second = (await cm.call("PrepareForConnection", **PREPARE))["ConnectionID"]
        second_at = loop.time()
        await cm.call("ConnectionComplete", ConnectionID=first)
        armed_for = host.server._timer_at
        await asyncio.sleep(max(0.0, armed_for - loop.time()) + 0.1)  # the early timer fired
        assert (await cm.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == str(second)
        assert host.server._timer_at is not None and host.server._timer_at > armed_for
        while loop.time() < second_at + 2.0:  # dropped once idle for 0.6 s, not much later
            if (await cm.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == "":
                break
            await asyncio.sleep(0.05)
        assert (await cm.call("GetCurrentConnectionIDs"))["ConnectionIDs"] == ""
        assert loop.time() - second_at < 1.5
