"""Faults injected into a household (in the test's own loop: the plugin's async_sonos_household).

Reboot (T5), offline and back, another port, slow and failing NOTIFYs, an
injected action fault, and the retried initial event (T4) for a listener that
starts only after its SUBSCRIBE was answered — as node-sonos-ts does.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.core.subscription import EventReceived
from upnpcm.errors import TransportError, UPnPError

BOOT_SEQ = re.compile(
    r'UUID="(RINCON_\w+)" Location="[^"]+" ZoneName="[^"]+" Icon="" Configuration="1" SoftwareVersion="[^"]+" SWGen="2" MinCompatibleVersion="[^"]+" LegacyCompatibleVersion="[^"]+" BootSeq="(\d+)"'
)


async def events_of(listener, service):
    found: asyncio.Queue[EventReceived] = asyncio.Queue()
    subscription = await listener.subscribe(
        service, on_event=lambda e: found.put_nowait(e) if isinstance(e, EventReceived) else None
    )
    return subscription, found


async def next_matching(found, predicate, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while True:
            event = await found.get()
            if predicate(event):
                return event


async def gena(method: str, url: str, **headers: str) -> int:
    client = LeanHttpClient(connect_timeout=2)
    try:
        reply = await client.request(method, url, headers=headers, timeout=5)
    finally:
        await client.close()
    return reply.status


async def test_a_reboot_forgets_subscriptions_and_every_player_reports_the_new_boot_seq(
    async_sonos_household,
):
    household = await async_sonos_household(players=2)
    living, kitchen = household.players
    async with ControlPoint() as cp, EventListener(cp.http, bind_host="127.0.0.1") as listener:
        zgt = (await cp.load(living.location)).service("ZoneGroupTopology")
        rendering = (await cp.load(kitchen.location)).service("RenderingControl")
        _, topology = await events_of(listener, zgt)
        await next_matching(topology, lambda e: True)
        kitchen_sub, _ = await events_of(listener, rendering)
        await asyncio.sleep(0.1)
        old_sid, event_url = kitchen_sub.sid, rendering.event_url
        boot = kitchen.boot_id
        await kitchen.reboot()
        assert kitchen.boot_id == boot + 1
        assert await gena("SUBSCRIBE", event_url, SID=old_sid, TIMEOUT="Second-300") == 412
        event = await next_matching(
            topology,
            lambda e: (
                (kitchen.uid, str(boot + 1))
                in BOOT_SEQ.findall(e.changes.get("ZoneGroupState", ""))
            ),
        )
        assert event.seq >= 1


async def test_offline_and_back_and_a_move_to_another_port(async_sonos_household, unused_tcp_port):
    household = await async_sonos_household(players=2)
    living, kitchen = household.players
    port, boot = kitchen.port, kitchen.boot_id
    async with ControlPoint() as cp:
        topology = (await cp.load(living.location)).service("ZoneGroupTopology")
        await kitchen.go_offline()
        state = (await topology.call("GetZoneGroupState"))["ZoneGroupState"]
        assert f'<Device UUID="{kitchen.uid}" ZoneName="Kitchen" Reason="powered off"/>' in state
        assert f'UUID="{kitchen.uid}" Location' not in state
        with pytest.raises(TransportError):
            await cp.load(kitchen.location, boot_id=kitchen.boot_id + 100)
        await kitchen.go_online()
        assert (kitchen.port, kitchen.boot_id) == (port, boot + 1)
        state = (await topology.call("GetZoneGroupState"))["ZoneGroupState"]
        assert f'BootSeq="{boot + 1}"' in state and "<VanishedDevices></VanishedDevices>" in state
        await kitchen.move(unused_tcp_port)
        assert kitchen.port == unused_tcp_port
        state = (await topology.call("GetZoneGroupState"))["ZoneGroupState"]
        assert (
            f'Location="http://{kitchen.address}:{unused_tcp_port}/xml/device_description.xml"'
            in state
        )
        moved = await cp.load(kitchen.location, boot_id=kitchen.boot_id + 100)
        assert moved.root.udn == kitchen.udn


async def test_slow_and_failing_notifies(async_sonos_household):
    household = await async_sonos_household(players=1)
    [player] = household.players
    async with ControlPoint() as cp, EventListener(cp.http, bind_host="127.0.0.1") as listener:
        rendering = (await cp.load(player.location)).service("RenderingControl")
        _, found = await events_of(listener, rendering)
        await next_matching(found, lambda e: e.seq == 0)
        player.notify_faults(delay=0.6)
        loop = asyncio.get_running_loop()
        started = loop.time()
        player.press_volume(44)
        event = await next_matching(found, lambda e: 'val="44"' in e.changes["LastChange"])
        assert loop.time() - started >= 0.6
        player.notify_faults(fail=True)
        player.press_volume(45)
        with pytest.raises(TimeoutError):
            await next_matching(found, lambda e: True, timeout=0.8)
        player.notify_faults()
        player.press_volume(46)
        after = await next_matching(
            found, lambda e: 'val="46"' in e.changes["LastChange"], timeout=8
        )
        assert after.sid != event.sid or after.seq > event.seq + 1  # a gap, or a fresh subscription


async def test_an_injected_fault_answers_the_next_call_only(async_sonos_household):
    household = await async_sonos_household(players=1)
    [player] = household.players
    player.fail_next("AVTransport", "GetTransportInfo", 714, "injected", times=2)
    async with ControlPoint() as cp:
        avt = (await cp.load(player.location)).service("AVTransport")
        for _ in range(2):
            with pytest.raises(UPnPError) as fault:
                await avt.call("GetTransportInfo", InstanceID=0)
            assert (fault.value.code, fault.value.description) == (714, "injected")
        assert (await avt.call("GetTransportInfo", InstanceID=0))[
            "CurrentTransportState"
        ] == "STOPPED"
    with pytest.raises(KeyError, match="two services"):
        player.fail_next("ConnectionManager", "GetProtocolInfo", 501)
    player.fail_next("MediaServer/ConnectionManager", "GetProtocolInfo", 501)


async def test_a_listener_that_starts_after_the_subscribe_answer_gets_the_initial_event(
    async_sonos_household, unused_tcp_port
):
    """T4: the refused initial NOTIFY is sent once more about 1 s later."""
    household = await async_sonos_household(players=1)
    [player] = household.players
    url = f"http://{player.address}:{player.port}/MediaRenderer/RenderingControl/Event"
    client = LeanHttpClient(connect_timeout=2)
    try:
        reply = await client.request(
            "SUBSCRIBE",
            url,
            headers={"CALLBACK": f"<http://127.0.0.1:{unused_tcp_port}/late>", "NT": "upnp:event"},
            timeout=5,
        )
    finally:
        await client.close()
    assert reply.status == 200
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        body = await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        if not received.done():
            received.set_result(head + body)

    await asyncio.sleep(0.1)  # the first attempt has met a closed port by now
    server = await asyncio.start_server(answer, "127.0.0.1", unused_tcp_port)
    try:
        message = await asyncio.wait_for(received, 3)
    finally:
        server.close()
        await server.wait_closed()
    assert (
        b"\r\nSEQ: 0\r\n" in message and b"\r\nSID: " + reply.headers.get("SID").encode() in message
    )
    assert b'&lt;Volume channel="Master" val="20"/&gt;' in message  # escaped once more


async def test_the_control_endpoint_refuses_bad_commands_with_400_and_a_reason(
    async_sonos_household, tmp_path
):
    import aiohttp

    from upnpcm.sonos.control import ControlServer

    household = await async_sonos_household(players=2)
    living, kitchen = household.players
    control = ControlServer(household, tmp_path)
    await control.start()
    try:
        headers = {"Authorization": f"Bearer {control.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def post(command, body):
                async with session.post(f"{control.url}/v1/{command}", json=body) as answer:
                    return answer.status, (await answer.json()).get("error", "")

            await kitchen.go_offline()
            assert await post("join", {"player": "Living Room", "coordinator": "Kitchen"}) == (
                400,
                f"{kitchen.uid} is offline",
            )
            assert await post("volume", {"player": "Living Room"}) == (400, "volume is needed")
            status, reason = await post("play", {"player": "Living Room", "uri": ""})
            assert (status, reason) == (400, "UPnP error 402: CurrentURI is empty")
            assert living.zone.rendering_control.volume == 20  # nothing changed
    finally:
        await control.stop()


async def test_a_player_rebooted_while_offline_is_listed_again(async_sonos_household):
    household = await async_sonos_household(players=2)
    living, kitchen = household.players
    await kitchen.go_offline()
    await kitchen.reboot()  # it serves again: no longer a vanished device
    assert kitchen.online
    async with ControlPoint() as cp:
        topology = (await cp.load(living.location)).service("ZoneGroupTopology")
        state = (await topology.call("GetZoneGroupState"))["ZoneGroupState"]
    assert "<VanishedDevices></VanishedDevices>" in state
    assert f'UUID="{kitchen.uid}" Location="{kitchen.location}"' in state


async def test_a_player_comes_back_from_a_reboot_stopped_with_its_volume(async_sonos_household):
    household = await async_sonos_household(players=1)
    [player] = household.players
    player.play_uri("http://127.0.0.1:9/a.mp3")
    player.press_volume(33)
    await player.reboot()
    async with ControlPoint() as cp:
        device = await cp.load(player.location)
        info = await device.service("AVTransport").call("GetTransportInfo", InstanceID=0)
        volume = await device.service("RenderingControl").call(
            "GetVolume", InstanceID=0, Channel="Master"
        )
    assert info["CurrentTransportState"] == "STOPPED"  # a rebooted speaker is silent
    assert volume["CurrentVolume"] == 33
