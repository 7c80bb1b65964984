"""Subscriptions heal on SSDP news: a device back after byebye, or a changed BOOTID (inside the namespace)."""

import asyncio
import socket

from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.core.ssdp import SsdpConfig, advertisements, build_notify
from upnpcm.core.subscription import EventReceived, Resubscribing
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings


async def next_of(events, kind, timeout=10):
    while True:
        event = await asyncio.wait_for(events.get(), timeout)
        if isinstance(event, kind):
            return event


async def start(tmp_path, port=0):
    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=port, interfaces=("lo",)), state_dir=tmp_path
    )
    await host.start()
    return host


async def test_device_back_after_byebye_is_resubscribed_at_once(tmp_path):
    host = await start(tmp_path)
    port = host.port
    async with ControlPoint() as cp:
        remote = await cp.load(host.description_url("127.0.0.1"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            events = asyncio.Queue()
            subscription = await listener.subscribe(
                remote.service("MediaRenderer/ConnectionManager"), on_event=events.put_nowait
            )
            watcher = asyncio.create_task(listener.watch_ssdp(interfaces=("lo",)))
            try:
                await next_of(events, EventReceived)
                first_sid = subscription.sid
                await host.stop()  # byebye for every USN
                await asyncio.sleep(0.3)
                host = await start(tmp_path, port)  # alive again, BOOTID + 1; it forgot every SID
                reason = await next_of(events, Resubscribing)
                assert "again after ssdp:byebye" in reason.reason
                event = await next_of(events, EventReceived)
                assert event.seq == 0
                assert subscription.sid != first_sid
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
    await host.stop()


async def test_bootid_change_without_byebye_restarts(tmp_path):
    host = await start(tmp_path)
    async with ControlPoint() as cp:
        remote = await cp.load(host.description_url("127.0.0.1"))
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            events = asyncio.Queue()
            await listener.subscribe(
                remote.service("MediaRenderer/ConnectionManager"), on_event=events.put_nowait
            )
            watcher = asyncio.create_task(listener.watch_ssdp(interfaces=("lo",)))
            try:
                await next_of(events, EventReceived)
                await asyncio.sleep(0.5)  # the watcher has seen the device's own BOOTID by now
                renderer = remote.service("MediaRenderer/ConnectionManager").device
                ad = next(
                    a for a in advertisements(host.spec.description.device) if a.nt == renderer.udn
                )
                rebooted = SsdpConfig(server="x", boot_id=host.boot_id + 10)
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
                )
                for _ in range(2):  # a crash and a quick reboot: no byebye, a new BOOTID
                    sock.sendto(
                        build_notify(
                            ad, "ssdp:alive", rebooted, location=host.description_url("127.0.0.1")
                        ),
                        ("239.255.255.250", 1900),
                    )
                sock.close()
                reason = await next_of(events, Resubscribing)
                assert f"-> {host.boot_id + 10}" in reason.reason
                assert (await next_of(events, EventReceived)).seq == 0
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
    await host.stop()
