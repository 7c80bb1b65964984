"""GENA NOTIFY fan-out: one state change to N subscribers, upnpcm vs async_upnp_client.

For each device (separate process, HTTP only) and N in (100, 1000): subscribe N
times from 127.0.0.2 with callbacks on a fast receiver in this process
(httptools), wait for the N initial events, trigger one evented change with a
PrepareForConnection (CurrentConnectionIDs changes on both devices), and time
until all N NOTIFYs of that change have arrived. Caps are raised by
configuration for the run. Every wait is bounded.

    python bench/notify_fanout.py [--counts 100 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import ENVELOPE, free_port, pinned, rss_kib, start_upnpcm, wait_http

ROOT = Path(__file__).resolve().parents[1]
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
RECEIVER_IP = "127.0.0.2"
PREPARE = ENVELOPE.format(
    f'<u:PrepareForConnection xmlns:u="{CM}"><RemoteProtocolInfo>http-get:*:audio/mpeg:*</RemoteProtocolInfo>'
    "<PeerConnectionManager></PeerConnectionManager><PeerConnectionID>-1</PeerConnectionID>"
    "<Direction>Output</Direction></u:PrepareForConnection>"
).encode()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Receiver(asyncio.Protocol):
    """Counts NOTIFYs by SEQ (0 = initial event) with arrival times."""

    seq0 = 0
    later: list[float] = []
    event = asyncio.Event()
    target = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.seq = ""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"seq":
            self.seq = value.decode()

    def on_message_complete(self) -> None:
        cls = Receiver
        if self.seq == "0":
            cls.seq0 += 1
            count = cls.seq0
        else:
            cls.later.append(time.monotonic())
            count = len(cls.later)
        if count >= cls.target:
            cls.event.set()
        self.transport.write(OK)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)


async def wait_count(target: int, timeout: float) -> None:
    Receiver.target = target
    Receiver.event.clear()
    await asyncio.wait_for(Receiver.event.wait(), timeout)


def start_device(
    kind: str, port: int, state: Path, n: int
) -> tuple[subprocess.Popen[bytes], str, str]:
    if kind == "upnpcm":
        config = (
            f"[gena]\nmax_subscriptions = {n}\nmax_per_peer = {n}\n"
            "[connection_manager]\nmax_connections = 100\n"
            # every subscriber is 127.0.0.2: one peer, allowed as many connections as it needs
            f"[http]\nmax_connections = {n + 64}\nmax_connections_per_peer = {n + 64}\n"
        )
        proc = start_upnpcm(port, state, config=config)
        base = f"http://127.0.0.1:{port}"
        return (
            proc,
            base + "/MediaServer/ConnectionManager/Event",
            base + "/MediaServer/ConnectionManager/Control",
        )
    cmd = [sys.executable, "-m", "tests.peers.auc_device", "--port", str(port), "--seconds", "3600"]
    proc = subprocess.Popen(
        pinned(0, cmd), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/desc.xml")
    return proc, base + "/upnp/event/ConnectionManager1", base + "/upnp/control/ConnectionManager1"


async def run_one(kind: str, n: int, receiver_port: int, state: Path) -> tuple[float, int]:
    Receiver.seq0 = 0
    Receiver.later = []
    proc, event_url, control_url = start_device(kind, free_port(), state, n)
    try:
        connector = aiohttp.TCPConnector(local_addr=(RECEIVER_IP, 0), limit=50)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def subscribe(i: int) -> None:
                headers = {
                    "CALLBACK": f"<http://{RECEIVER_IP}:{receiver_port}/cb/{i}>",
                    "NT": "upnp:event",
                    "TIMEOUT": "Second-1800",
                }
                async with session.request("SUBSCRIBE", event_url, headers=headers) as response:
                    assert response.status == 200, response.status

            await asyncio.gather(*(subscribe(i) for i in range(n)))
            await wait_count(n, 60)  # every initial event is in
            await asyncio.sleep(0.5)
            headers = {
                "Content-Type": 'text/xml; charset="utf-8"',
                "SOAPACTION": f'"{CM}#PrepareForConnection"',
            }
            started = time.monotonic()
            async with session.post(control_url, data=PREPARE, headers=headers) as response:
                assert response.status == 200, response.status
            await wait_count(n, 60)
            elapsed = max(Receiver.later[:n]) - started
        return elapsed, rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def main_async(counts: list[int]) -> list[tuple[str, int, float, int]]:
    loop = asyncio.get_running_loop()
    # Port 0 on the receiver's own address: a port free on 127.0.0.1 may be held there.
    server = await loop.create_server(Receiver, RECEIVER_IP, 0, backlog=2048)
    receiver_port = int(server.sockets[0].getsockname()[1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for n in counts:
                for kind in ("upnpcm", "async_upnp_client 0.49.0"):
                    elapsed, rss = await run_one(
                        "upnpcm" if kind == "upnpcm" else "auc", n, receiver_port, Path(tmp)
                    )
                    rows.append((kind, n, elapsed, rss))
        finally:
            server.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    rows = asyncio.run(main_async(args.counts))
    pin = "devices on CPU 0" if shutil.which("taskset") else "unpinned"
    print(
        f"NOTIFY fan-out, {pin}, receiver in the benchmark process, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| device | subscribers | one change to all received (s) | device RSS MiB |")
    print("|---|---|---|---|")
    for kind, n, elapsed, rss in rows:
        print(f"| {kind} | {n} | {elapsed:.3f} | {rss / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
