"""Load for the UI's browser test, run as its own process inside the namespace (never elsewhere).

- A *Ticker* device (our hosting API) on 127.0.0.1, advertised on ``lo``: its
  action ``Burst(Rate, Seconds)`` sets the evented ``Tick`` to the wall-clock
  time in milliseconds ``Rate`` times a second for ``Seconds`` (NOTIFY pacing
  off, so one subscriber hears about ``Rate`` events a second).
- ``COUNT`` devices that announce themselves at once (ssdp:alive on ``lo``)
  from 127.0.0.2 … 127.0.0.(1+SENDERS), each LOCATION on its sender's own
  address (rule D1), served by one small HTTP server per address.

Standard input drives it: ``GO`` sends the alive burst, ``BYE`` the byebyes,
``QUIT`` (or the end of input, or ``LIFETIME`` seconds) ends it. It prints
``READY <Ticker's description URL>`` once serving.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

from aiohttp import web

from upnpcm import Device, DeviceHost, DeviceSettings, Service, StateVariable, action
from upnpcm.core.ssdp import SSDP_GROUP_V4, SSDP_PORT, Advertisement, SsdpConfig, build_notify
from upnpcm.settings import GenaSettings

COUNT = 200
SENDERS = 5
LIFETIME = 240.0
DESCRIPTION = """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
<friendlyName>Load device {n:03d}</friendlyName><manufacturer>upnpcm tests</manufacturer>
<modelName>announcer</modelName><UDN>{udn}</UDN><serviceList/></device></root>
"""


class Ticker(Service):
    service_type = "urn:upnpcm-test:service:Ticker:1"

    Tick = StateVariable("string", default="0")
    A_ARG_TYPE_Rate = StateVariable("ui4", minimum=1, maximum=1000)
    A_ARG_TYPE_Seconds = StateVariable("r8")

    def __init__(self) -> None:
        super().__init__()
        self.task: asyncio.Task[None] | None = None

    @action(args={"Rate": A_ARG_TYPE_Rate, "Seconds": A_ARG_TYPE_Seconds})
    def burst(self, rate: int, seconds: float) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(rate, min(seconds, 30.0)))

    async def _run(self, rate: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            self.Tick = str(round(time.time() * 1000))


def udn(n: int) -> str:
    return f"uuid:00000000-0000-4000-8000-{n:012d}"


def sender(n: int) -> str:
    return f"127.0.0.{2 + n % SENDERS}"


async def serve_descriptions() -> tuple[list[web.AppRunner], dict[str, int]]:
    async def description(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return web.Response(
            text=DESCRIPTION.format(n=n, udn=udn(n)), content_type="text/xml", charset="utf-8"
        )

    app = web.Application()
    app.router.add_get("/d/{n}.xml", description)
    runners, ports = [], {}
    for index in range(SENDERS):
        ip = f"127.0.0.{2 + index}"
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, ip, 0)
        await site.start()
        runners.append(runner)
        ports[ip] = int(runner.addresses[-1][1])
    return runners, ports


def announce(nts: str, ports: dict[str, int]) -> int:
    """Every device's upnp:rootdevice and UDN messages, at once; how many datagrams."""
    config = SsdpConfig(server="Linux/6 UPnP/1.1 upnpcm-load/1", boot_id=1, config_id=1)
    sockets: dict[str, socket.socket] = {}
    sent = 0
    try:
        for ip in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.bind((ip, 0))
            sockets[ip] = sock
        for n in range(COUNT):
            ip = sender(n)
            location = f"http://{ip}:{ports[ip]}/d/{n}.xml"
            for nt, usn in (("upnp:rootdevice", f"{udn(n)}::upnp:rootdevice"), (udn(n), udn(n))):
                ad = Advertisement(nt=nt, usn=usn, udn=udn(n), is_root=True)
                data = build_notify(ad, nts, config, location=location)  # type: ignore[arg-type]
                sockets[ip].sendto(data, (SSDP_GROUP_V4, SSDP_PORT))
                sent += 1
    finally:
        for sock in sockets.values():
            sock.close()
    return sent


async def main(state: Path) -> None:
    ticker = Ticker()
    device = Device(
        device_type="urn:upnpcm-test:device:Ticker:1", friendly_name="Ticker", services=[ticker]
    )
    settings = DeviceSettings(
        host=("127.0.0.1",), port=0, interfaces=("lo",), gena=GenaSettings(min_interval=0.0)
    )
    runners, ports = await serve_descriptions()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        async with DeviceHost(device, settings=settings, state_dir=state) as host:
            print("READY", host.description_url("127.0.0.1"), flush=True)
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), LIFETIME)
                except TimeoutError:
                    break
                command = line.decode().strip()
                if command == "GO":
                    print("SENT", announce("ssdp:alive", ports), flush=True)
                elif command == "BYE":
                    print("SENT", announce("ssdp:byebye", ports), flush=True)
                else:
                    break
    finally:
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
