"""LastChange under a burst: 100 volume changes in one second, 10 subscribers, moderation.

For each device — `upnpcm serve --profile renderer` and async_upnp_client's
server hosting the same RenderingControl (tests/peers/auc_renderer.py, its
LastChange an event variable with max_rate=0.2, the library's moderation) —
10 subscriptions to RenderingControl from 127.0.0.2 with callbacks on a
receiver in this process; after the initial events, SetVolume 1..100, one
every 10 ms on one keep-alive connection. Per subscriber: NOTIFYs after the
initial one, the shortest gap between two of them (moderation asks for at
least 0.2 s), the Volume the last one reports (must be 100) and when it came.
Every wait is bounded.

    python bench/lastchange_fanout.py [--changes 100] [--subscribers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from soap_load import ENVELOPE, free_port, start_auc, start_upnpcm

from upnpcm.core.gena import parse_propertyset
from upnpcm.core.lastchange import parse_last_change
from upnpcm.errors import RemoteProtocolError

RCS = "urn:schemas-upnp-org:service:RenderingControl:1"
RECEIVER_IP = "127.0.0.2"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
PEER = "async_upnp_client 0.49.0, max_rate=0.2"
UNMODERATED = "async_upnp_client 0.49.0, no max_rate"


@dataclass
class Heard:
    arrivals: list[float] = field(default_factory=list)
    volumes: list[int | None] = field(default_factory=list)


class Receiver(asyncio.Protocol):
    """Records each NOTIFY: SID, arrival time, the Volume its LastChange reports."""

    heard: dict[str, Heard] = {}
    arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.sid = ""
        self.body = b""

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"sid":
            self.sid = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        heard = Receiver.heard.setdefault(self.sid, Heard())
        heard.arrivals.append(time.monotonic())
        volume = None
        try:
            text = parse_propertyset(self.body).get("LastChange", "")
            changes = parse_last_change(text)[1] if text else {}
            found = changes.get(0, {}).get(("Volume", "Master"))
            volume = int(found) if found is not None else None
        except (RemoteProtocolError, ValueError):
            pass
        heard.volumes.append(volume)
        Receiver.arrived.set()
        self.body = b""
        self.transport.write(OK)  # type: ignore[attr-defined]


async def run_one(event_url: str, control_url: str, subscribers: int, changes: int) -> dict:
    Receiver.heard = {}
    Receiver.arrived = asyncio.Event()
    loop = asyncio.get_running_loop()
    port = free_port()
    server = await loop.create_server(Receiver, RECEIVER_IP, port)
    connector = aiohttp.TCPConnector(local_addr=(RECEIVER_IP, 0), limit=1)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            for i in range(subscribers):
                headers = {
                    "CALLBACK": f"<http://{RECEIVER_IP}:{port}/cb/{i}>",
                    "NT": "upnp:event",
                    "TIMEOUT": "Second-1800",
                }
                async with session.request("SUBSCRIBE", event_url, headers=headers) as reply:
                    assert reply.status == 200, reply.status
            async with asyncio.timeout(10):
                while sum(len(h.arrivals) for h in Receiver.heard.values()) < subscribers:
                    Receiver.arrived.clear()
                    await Receiver.arrived.wait()
            await asyncio.sleep(0.5)
            marks = {sid: len(h.arrivals) for sid, h in Receiver.heard.items()}
            headers = {
                "Content-Type": 'text/xml; charset="utf-8"',
                "SOAPACTION": f'"{RCS}#SetVolume"',
            }
            started = time.monotonic()
            for n in range(1, changes + 1):
                body = ENVELOPE.format(
                    f'<u:SetVolume xmlns:u="{RCS}"><InstanceID>0</InstanceID><Channel>Master</Channel>'
                    f"<DesiredVolume>{n}</DesiredVolume></u:SetVolume>"
                )
                async with session.post(control_url, data=body, headers=headers) as reply:
                    assert reply.status == 200, await reply.text()
                await asyncio.sleep(max(0.0, started + n * (1.0 / changes) - time.monotonic()))
            last_change = time.monotonic()
            await asyncio.sleep(3.0)  # what is still coming comes within this
    finally:
        server.close()
    rows = []
    for sid, heard in Receiver.heard.items():
        after = list(zip(heard.arrivals, heard.volumes, strict=True))[marks.get(sid, 1) :]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(after)]
        final = next((v for _, v in reversed(after) if v is not None), None)
        final_at = next((t for t, v in reversed(after) if v == changes), None)
        rows.append(
            {
                "notifies": len(after),
                "min_gap": min(gaps) if gaps else None,
                "final": final,
                "final_after": None if final_at is None else final_at - last_change,
            }
        )
    return {"rows": rows, "burst": last_change - started}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=10)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours_port, theirs_port = free_port(), free_port()
        config = f"[gena]\nmax_per_peer = {args.subscribers}\n"
        ours = start_upnpcm(ours_port, Path(tmp), config=config, args=("--profile", "renderer"))
        theirs = start_auc(theirs_port, "tests.peers.auc_renderer")
        free_port_2 = free_port()
        unmoderated = start_auc(free_port_2, "tests.peers.auc_renderer", ("--max-rate", "0"))
        try:
            for name, base, event, control in (
                (
                    "upnpcm",
                    f"http://127.0.0.1:{ours_port}",
                    "/RenderingControl/Event",
                    "/RenderingControl/Control",
                ),
                (
                    PEER,
                    f"http://127.0.0.1:{theirs_port}",
                    "/upnp/event/RenderingControl1",
                    "/upnp/control/RenderingControl1",
                ),
                (
                    UNMODERATED,
                    f"http://127.0.0.1:{free_port_2}",
                    "/upnp/event/RenderingControl1",
                    "/upnp/control/RenderingControl1",
                ),
            ):
                results[name] = asyncio.run(
                    run_one(base + event, base + control, args.subscribers, args.changes)
                )
        finally:
            for proc in (ours, theirs, unmoderated):
                proc.terminate()
                proc.wait(timeout=10)
    print(
        f"{args.changes} SetVolume in about 1 s to {args.subscribers} subscribers, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| device | burst s | NOTIFYs per subscriber | shortest gap s | subscribers ending at "
        f"{args.changes} | last value received after the last change, s |"
    )
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        rows = result["rows"]
        counts = [r["notifies"] for r in rows]
        gaps = [r["min_gap"] for r in rows if r["min_gap"] is not None]
        finals = sum(1 for r in rows if r["final"] == args.changes)
        after = [r["final_after"] for r in rows if r["final_after"] is not None]
        gap = f"{min(gaps):.3f}" if gaps else "-"
        last = f"{max(after):.3f}" if len(after) == len(rows) else "never"
        print(
            f"| {name} | {result['burst']:.2f} | {min(counts, default=0)}-{max(counts, default=0)} | "
            f"{gap} | {finals}/{len(rows)} | {last} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
