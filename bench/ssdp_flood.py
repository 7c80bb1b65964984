"""An M-SEARCH flood from 50 sources: is a control point's search still answered?

Runs inside a network namespace it creates (``unshare -n``, only ``lo``, with
multicast routed to it), so no datagram can leave the machine. For upnpcm's
device and then async_upnp_client's ``UpnpServer`` (its own SSDP responder,
the peer): 50 sources (127.0.2.1-50) send ``ssdp:all`` searches, 10 a second
each, spread evenly (500 a second in all), for ``--seconds``; after the first
two seconds on a control point (127.0.3.1) searches its device type every 2 s
and waits 1.2 s for the answer. Reported: how many of its searches were
answered, the replies each got, and the amplification per flooding source
(bytes of replies it received / bytes of searches it sent).

    python bench/ssdp_flood.py [--seconds 20]

Bounded: at most ``--seconds`` x 500 datagrams a device.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from soap_load import print_table, rerun_in_namespace  # noqa: E402

GROUP = ("239.255.255.250", 1900)
SETUP = "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"


def msearch(st: str) -> bytes:
    return (
        f'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        f"MX: 1\r\nST: {st}\r\n\r\n"
    ).encode()


def sender(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind((source, 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> tuple[int, list[bytes]]:
    size, datagrams = 0, []
    while True:
        try:
            data = sock.recv(9000)
        except BlockingIOError:
            return size, datagrams
        size += len(data)
        datagrams.append(data)


async def flood_run(seconds: float, device_st: str) -> tuple[int, int, list[int], float]:
    loop = asyncio.get_running_loop()
    flooders = [sender(f"127.0.2.{i}") for i in range(1, 51)]
    searcher = sender("127.0.3.1")
    flood = msearch("ssdp:all")
    stop = loop.time() + seconds
    sent_bytes = received_bytes = 0

    async def flood_loop() -> int:
        sent = 0
        while loop.time() < stop and sent < int(seconds * 500):
            for _ in range(5):
                flooders[sent % len(flooders)].sendto(flood, GROUP)
                sent += 1
            await asyncio.sleep(0.01)
            if sent % 500 == 0:
                for sock in flooders:  # keep the receive buffers from overflowing
                    nonlocal_received[0] += drain(sock)[0]
        return sent

    nonlocal_received = [0]
    task = asyncio.create_task(flood_loop())
    answers: list[int] = []
    await asyncio.sleep(2.0)  # past the first second's race, which every newcomer runs alike
    while loop.time() < stop - 1.5:
        searcher.sendto(msearch(device_st), GROUP)
        await asyncio.sleep(1.2)
        _, datagrams = drain(searcher)
        answers.append(sum(1 for d in datagrams if device_st.encode() in d))
        await asyncio.sleep(0.8)
    sent = await task
    await asyncio.sleep(1.5)  # the last replies are due within MX
    for sock in flooders:
        nonlocal_received[0] += drain(sock)[0]
        sock.close()
    searcher.close()
    sent_bytes = sent * len(flood)
    received_bytes = nonlocal_received[0]
    answered = sum(1 for a in answers if a)
    return answered, len(answers), answers, received_bytes / sent_bytes


async def upnpcm_device(state: str):  # type: ignore[no-untyped-def]
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("lo",)), state_dir=state
    )
    await host.start()
    return host.stop, host.spec.description.device.device_type


async def auc_device(_state: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    from async_upnp_client.server import UpnpServer
    from tests.peers.auc_device import MediaServerDevice

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = UpnpServer(MediaServerDevice, ("127.0.0.1", 0), http_port=port)
    await server.async_start()
    return server.async_stop, MediaServerDevice.DEVICE_DEFINITION.device_type


async def inside(seconds: float) -> int:
    rows = []
    for name, start in (("upnpcm", upnpcm_device), ("async_upnp_client 0.49.0", auc_device)):
        with tempfile.TemporaryDirectory() as state:
            stop, device_st = await start(state)
            try:
                answered, asked, answers, amplification = await flood_run(seconds, device_st)
            finally:
                await stop()
            rows.append(
                f"| {name} | {answered} of {asked} | {min(answers)}-{max(answers)} | "
                f"{amplification:.1f}x | {answers} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)
    print_table(
        [
            "device",
            "control point's searches answered",
            "replies each",
            "flood amplification",
            "replies to each search",
        ],
        rows,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    if os.environ.get("UPNPCM_BENCH_NETNS") == "1":
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
        if [line.split(":")[1].strip() for line in links.stdout.splitlines()] != ["lo"]:
            print("refusing to flood: this namespace has more than lo", file=sys.stderr)
            return 3
        return asyncio.run(inside(args.seconds))
    env = {**os.environ, "UPNPCM_BENCH_NETNS": "1"}
    return rerun_in_namespace(
        Path(__file__).resolve(),
        ["--seconds", str(args.seconds)],
        setup=SETUP,
        env=env,
        timeout=4 * args.seconds + 120,
    )


if __name__ == "__main__":
    raise SystemExit(main())
