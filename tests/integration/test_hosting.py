"""Devices of one's own over real sockets (loopback): the public hosting API end to end.

A Basic device with a counter service (SCPD built in Python, a sync and an
async action), hosted by DeviceHost; our control point calls it and
subscribes. Covers: answers and exact faults, events for changes made in an
action and outside one, an async action past the action timeout (501) while
other requests are answered, fault injection, and moderated LastChange.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tests.helpers.services import Volume
from upnpcm import (
    Device,
    DeviceHost,
    DeviceSettings,
    HttpStatusError,
    Service,
    StateVariable,
    UPnPError,
    action,
)
from upnpcm.aio.control_point import ControlPoint
from upnpcm.aio.events import EventListener
from upnpcm.core.lastchange import parse_last_change
from upnpcm.core.subscription import EventReceived


class Counter(Service):
    service_type = "urn:example-com:service:Counter:1"

    Count = StateVariable("ui4", default=0)
    A_ARG_TYPE_Step = StateVariable("ui4", minimum=1, maximum=10)
    A_ARG_TYPE_Seconds = StateVariable("r8")

    @action(args={"Step": A_ARG_TYPE_Step}, out={"NewCount": Count})
    def increment(self, step: int) -> int:
        self.Count += step
        return self.Count

    @action(args={"Seconds": A_ARG_TYPE_Seconds}, out={"NewCount": Count})
    async def slow_increment(self, seconds: float) -> int:
        await asyncio.sleep(seconds)
        self.Count += 1
        return self.Count


@pytest.fixture
async def hosted(tmp_path):
    counter, volume = Counter(), Volume()
    device = Device(
        device_type="urn:example-com:device:Gadget:1",
        friendly_name="gadget",
        services=[counter, volume],
    )
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False, action_timeout=0.5)
    async with DeviceHost(device, settings=settings, state_dir=tmp_path) as host:
        yield host, counter, volume


async def next_event(events, timeout: float = 5.0) -> EventReceived:
    while True:
        event = await asyncio.wait_for(anext(events), timeout)
        if isinstance(event, EventReceived):
            return event


async def test_calls_faults_and_events_of_a_service_of_ones_own(hosted):
    host, counter, _ = hosted
    async with ControlPoint() as cp:
        remote = await cp.load(host.description_url("127.0.0.1"))
        service = remote.service("Counter")
        assert [a.name for a in service.scpd.actions] == ["Increment", "SlowIncrement"]
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            events = aiter(await listener.subscribe(service))
            assert (await next_event(events)).changes == {"Count": "0"}
            assert await service.call("Increment", Step=2) == {"NewCount": 2}
            assert (await next_event(events)).changes == {"Count": "2"}
            counter.Count = 40  # "from the device": outside any request
            assert (await next_event(events)).changes == {"Count": "40"}
            counter.fail_next("Increment", 799, "injected")
            with pytest.raises(UPnPError) as fault:
                await service.call("Increment", Step=1)
            assert (fault.value.code, fault.value.description) == (799, "injected")
            assert await service.call("Increment", Step=1) == {"NewCount": 41}
    assert host.service("Counter") is counter


async def test_a_slow_async_action_is_501_and_holds_up_no_one_else(hosted):
    host, counter, _ = hosted
    async with ControlPoint() as cp:
        remote = await cp.load(host.description_url("127.0.0.1"))
        service = remote.service("Counter")
        assert await service.call("SlowIncrement", Seconds=0.01) == {"NewCount": 1}
        slow = asyncio.create_task(service.call("SlowIncrement", Seconds=5.0))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        for step in range(1, 6):  # answered while the slow one waits
            await service.call("Increment", Step=step)
        assert time.monotonic() - started < 0.4
        with pytest.raises(UPnPError) as fault:
            await slow
        assert fault.value.code == 501 and "0.5 s" in (fault.value.description or "")
        assert counter.Count == 16  # the slow one was cancelled: it never counted


async def test_last_change_is_moderated_and_ends_with_the_last_value(hosted):
    host, _, volume = hosted
    async with ControlPoint() as cp:
        remote = await cp.load(host.description_url("127.0.0.1"))
        service = remote.service("RenderingControl")
        async with EventListener(cp.http, bind_host="127.0.0.1") as listener:
            events = aiter(await listener.subscribe(service))
            await next_event(events)  # initial
            arrivals = []
            for level in range(30):
                await service.call("SetVolume", InstanceID=0, Channel="Master", DesiredVolume=level)
            last = None
            while last != "29":
                event = await next_event(events)
                arrivals.append(time.monotonic())
                last = parse_last_change(event.changes["LastChange"])[1][0][("Volume", "Master")]
            with pytest.raises(UPnPError) as fault:
                await service.call("SetVolume", InstanceID=3, Channel="Master", DesiredVolume=1)
            assert fault.value.code == 702
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.15 for gap in gaps), gaps  # Q2: at most one value per 0.2 s
    assert len(arrivals) < 30
    assert volume.instance(0).get("Volume", "Master") == 29


async def test_two_devices_in_one_process_each_on_its_own_address(tmp_path):
    # What a household of several players needs: one host per device, own address, same port.
    lamp_scpd = (
        '<scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList><action><name>Toggle</name>'
        "</action></actionList><serviceStateTable><stateVariable><name>On</name>"
        "<dataType>boolean</dataType></stateVariable></serviceStateTable></scpd>"
    )
    hosts = []
    counters = []
    try:
        port = 0
        for index, ip in enumerate(("127.0.0.2", "127.0.0.3")):
            counter = Counter()
            lamp = Service(service_type="urn:example-com:service:Lamp:1", scpd=lamp_scpd)
            counters.append(counter)
            device = Device(
                device_type="urn:example-com:device:Gadget:1",
                friendly_name=f"gadget {index}",
                services=[counter, lamp],
            )
            settings = DeviceSettings(host=(ip,), port=port, ssdp=False)
            host = DeviceHost(device, settings=settings, state_dir=tmp_path / str(index))
            await host.start()
            hosts.append(host)
            port = host.port  # the second one on the same port, another address
        assert hosts[0].port == hosts[1].port
        async with ControlPoint() as cp:
            remotes = [
                await cp.load(h.description_url(ip))
                for h, ip in zip(hosts, ("127.0.0.2", "127.0.0.3"), strict=True)
            ]
            assert remotes[0].root.udn != remotes[1].root.udn
            await remotes[0].service("Counter").call("Increment", Step=3)
            assert (counters[0].Count, counters[1].Count) == (3, 0)
            with pytest.raises(UPnPError) as fault:  # listed in its SCPD, implemented by no one
                await remotes[1].service("Lamp").call("Toggle")
            assert fault.value.code == 602
    finally:
        for host in hosts:
            await host.stop()


async def test_an_injected_fault_beats_a_cached_answer(tmp_path):
    """I5 over M1/M5/M6: a Get answered from the device's caches still meets its fault."""
    from upnpcm.hosting import ConnectionManagerService

    manager = ConnectionManagerService(sink="http-get:*:audio/mpeg:*")
    device = Device(
        device_type="urn:schemas-upnp-org:device:MediaRenderer:1",
        friendly_name="cached",
        services=[manager],
    )
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with (
        DeviceHost(device, settings=settings, state_dir=tmp_path) as host,
        ControlPoint() as cp,
    ):
        service = (await cp.load(host.description_url("127.0.0.1"))).service("ConnectionManager")
        for _ in range(3):  # answered, then from the caches
            assert (await service.call("GetProtocolInfo"))["Sink"] == "http-get:*:audio/mpeg:*"
        manager.fail_next("GetProtocolInfo", 501, "injected", times=2)
        for _ in range(2):
            with pytest.raises(UPnPError) as fault:
                await service.call("GetProtocolInfo")
            assert (fault.value.code, fault.value.description) == (501, "injected")
        for _ in range(2):
            assert (await service.call("GetProtocolInfo"))["Sink"] == "http-get:*:audio/mpeg:*"


class Lingering(Service):
    """An async action that takes its time, and a while more to give up when cancelled."""

    service_type = "urn:example-com:service:Lingering:1"

    A_ARG_TYPE_Seconds = StateVariable("r8")

    @action(args={"Seconds": A_ARG_TYPE_Seconds})
    async def wait(self, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            await asyncio.sleep(0.3)  # cleaning up: stop() waits for it
            raise


async def test_what_arrives_while_the_device_stops_is_answered_503(tmp_path):
    device = Device(device_type="urn:example-com:device:Gadget:1", services=[Lingering()])
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False, action_timeout=20)
    host = DeviceHost(device, settings=settings, state_dir=tmp_path)
    await host.start()
    stopping = None
    try:
        async with ControlPoint() as cp:
            remote = await cp.load(host.description_url("127.0.0.1"))
            pending = asyncio.create_task(remote.service("Lingering").call("Wait", Seconds=10))
            await asyncio.sleep(0.1)
            stopping = asyncio.create_task(host.stop())
            await asyncio.sleep(0.05)  # stop() now waits for the action to give up
            late = await cp.http.request("GET", host.description_url("127.0.0.1"), timeout=5)
            with pytest.raises(HttpStatusError) as cancelled:
                await pending
    finally:
        await (stopping if stopping is not None else host.stop())
    assert (late.status, late.body) == (503, b"503 Service Unavailable: the device is stopping\n")
    assert cancelled.value.http_status == 503  # its answer was owed: not a 500
