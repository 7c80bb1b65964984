"""One device at scale: 10,000 idle keep-alive connections and 1,000 GENA subscriptions.

For upnpcm's device and async_upnp_client's (each in its own process on
127.0.0.1, HTTP only, caps raised by configuration for upnpcm; the peer has
none): open ``--connections`` connections from 127.0.0.1, each sending one
GetProtocolInfo on a kept-alive connection and then staying idle; subscribe
``--subscriptions`` times from 127.0.0.2 (callbacks on a receiver in this
process, which answers every NOTIFY 200); then, with all of that held, a
separate client on 127.0.0.3 (a process of its own, one kept-alive
connection) sends GetProtocolInfo ``--requests`` times, 2 ms apart, timing
each. Reported: the device's RSS with everything held, and that client's
latency. Every loop is bounded in count and time; everything is closed at the end.

    python bench/scale.py [--connections 10000] [--subscriptions 1000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import (
    CM,
    ENVELOPE,
    PEER,
    pinned,
    print_table,
    rss_kib,
    start_auc,
    start_upnpcm,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBER_IP = "127.0.0.2"
CLIENT_IP = "127.0.0.3"
GPI_BODY = ENVELOPE.format(f'<u:GetProtocolInfo xmlns:u="{CM}"></u:GetProtocolInfo>').encode()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#: The measuring client: its own process, one kept-alive connection, blocking sockets.
CLIENT = r"""
import socket, sys, time
host, port, path, count, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
body = sys.stdin.buffer.read()
request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n"
           f"SOAPACTION: \"urn:schemas-upnp-org:service:ConnectionManager:1#GetProtocolInfo\"\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
sock = socket.create_connection((host, port), timeout=5, source_address=(source, 0))
times = []
for _ in range(count):
    started = time.perf_counter()
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(rest) < length:
        rest += sock.recv(65536)
    times.append(time.perf_counter() - started)
    time.sleep(0.002)
sock.close()
print(" ".join(f"{t:.6f}" for t in times))
"""


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Receiver(asyncio.Protocol):
    """Answers every NOTIFY 200 (kept alive); counts the requests it saw."""

    count = 0
    target = 0
    all_in: asyncio.Event

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            Receiver.count += 1
            if Receiver.count >= Receiver.target:
                Receiver.all_in.set()
            self.transport.write(OK)  # type: ignore[attr-defined]


async def hold(
    port: int, control: str, event: str, args: argparse.Namespace
) -> tuple[list[asyncio.StreamWriter], int, int]:
    """Open the idle connections (one request each) and the subscriptions."""
    loop = asyncio.get_running_loop()
    receiver = await loop.create_server(Receiver, SUBSCRIBER_IP, 0, backlog=4096)
    receiver_port = receiver.sockets[0].getsockname()[1]
    request = (
        f"POST {control} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f'Content-Type: text/xml; charset="utf-8"\r\nSOAPACTION: "{CM}#GetProtocolInfo"\r\n'
        f"Content-Length: {len(GPI_BODY)}\r\n\r\n"
    ).encode() + GPI_BODY
    writers: list[asyncio.StreamWriter] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writers.append(writer)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await asyncio.wait_for(reader.readexactly(length), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            failed += 1

    for start in range(0, args.connections, 200):  # 200 at a time: no SYN flood
        await asyncio.gather(*(one() for _ in range(start, min(args.connections, start + 200))))

    async def subscribe(i: int) -> int:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(SUBSCRIBER_IP, 0)
        )
        try:
            writer.write(
                (
                    f"SUBSCRIBE {event} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"CALLBACK: <http://{SUBSCRIBER_IP}:{receiver_port}/cb/{i}>\r\n"
                    f"NT: upnp:event\r\nTIMEOUT: Second-1800\r\nConnection: close\r\n\r\n"
                ).encode()
            )
            status = await asyncio.wait_for(reader.readline(), 30)
            return int(status.split()[1])
        finally:
            writer.close()

    statuses = []
    for start in range(0, args.subscriptions, 50):
        statuses += await asyncio.gather(
            *(subscribe(i) for i in range(start, min(args.subscriptions, start + 50)))
        )
    subscribed = Receiver.target = statuses.count(200)
    if Receiver.count < subscribed:
        with contextlib.suppress(TimeoutError):  # every initial NOTIFY answered
            await asyncio.wait_for(Receiver.all_in.wait(), 30)
    receiver.close()  # new connections refused; the answered ones stay
    return writers, failed, subscribed


def measure(port: int, control: str, count: int) -> list[float]:
    out = subprocess.run(
        pinned(
            1,
            [sys.executable, "-c", CLIENT, "127.0.0.1", str(port), control, str(count), CLIENT_IP],
        ),
        input=GPI_BODY,
        capture_output=True,
        timeout=60 + count * 0.05,
        check=True,
    ).stdout
    return sorted(float(t) for t in out.split())


async def run_one(
    name: str,
    proc: subprocess.Popen[bytes],
    port: int,
    control: str,
    event: str,
    args: argparse.Namespace,
) -> str:
    baseline = rss_kib(proc.pid)
    Receiver.count, Receiver.target, Receiver.all_in = 0, args.subscriptions, asyncio.Event()
    writers, failed, subscribed = await hold(port, control, event, args)
    await asyncio.sleep(1.0)
    held = rss_kib(proc.pid)
    times = await asyncio.to_thread(measure, port, control, args.requests)
    after = rss_kib(proc.pid)
    for writer in writers:
        writer.close()
    p50, p99 = times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000
    return (
        f"| {name} | {len(writers) - failed} | {subscribed} | {baseline / 1024:.1f} | "
        f"{held / 1024:.1f} | {after / 1024:.1f} | {p50:.2f} | {p99:.2f} | {times[-1] * 1000:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    args.connections = max(1, min(args.connections, 15_000))
    args.subscriptions = max(1, min(args.subscriptions, 2_000))
    args.requests = max(100, min(args.requests, 10_000))
    raise_nofile()  # this process holds every idle connection; children inherit the limit
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from soap_load import free_port

        n, s = args.connections, args.subscriptions
        config = (
            f"[http]\nmax_connections = {n + s + 200}\nmax_connections_per_peer = {n + 100}\n"
            "keepalive_timeout = 600\n"
            f"[gena]\nmax_subscriptions = {s}\nmax_per_peer = {s}\n"
        )
        port = free_port()
        ours = start_upnpcm(port, Path(tmp), config=config)
        try:
            rows.append(
                asyncio.run(
                    run_one(
                        "upnpcm",
                        ours,
                        port,
                        "/MediaServer/ConnectionManager/Control",
                        "/MediaServer/ConnectionManager/Event",
                        args,
                    )
                )
            )
        finally:
            ours.terminate()
            ours.wait(30)
        if args.peer:
            port = free_port()
            theirs = start_auc(port)
            try:
                wait_http(f"http://127.0.0.1:{port}/desc.xml")
                rows.append(
                    asyncio.run(
                        run_one(
                            PEER,
                            theirs,
                            port,
                            "/upnp/control/ConnectionManager1",
                            "/upnp/event/ConnectionManager1",
                            args,
                        )
                    )
                )
            finally:
                theirs.terminate()
                theirs.wait(30)
    print(
        f"{args.connections} idle kept-alive connections (one GetProtocolInfo each) from 127.0.0.1, "
        f"{args.subscriptions} subscriptions from {SUBSCRIBER_IP}, then {args.requests} "
        f"GetProtocolInfo from {CLIENT_IP} (one connection, 2 ms apart); devices on CPU 0, "
        f"the client on CPU 1; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print_table(
        [
            "device",
            "idle connections",
            "subscriptions",
            "RSS before MiB",
            "RSS holding MiB",
            "RSS after MiB",
            "client p50 ms",
            "client p99 ms",
            "client max ms",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
