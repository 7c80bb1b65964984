"""One host holding slow connections: are other hosts still answered?

The attacker (127.0.5.1) opens ``--connections`` connections (64: the whole
default global cap) and sends one byte of a request head on each every 3 s,
so none ever completes a request nor stays silent long enough for the
header timeout. Meanwhile a client on another address (127.0.0.1) sends
``GET /`` of the description, one after the other, for ``--seconds``, and
counts the answers: 200, 503, or none (error). Measured for upnpcm's device
(default ``[http]`` caps: 64 connections, 8 per peer) and, in the same run,
async_upnp_client's, each in its own process.

    python bench/slow_connections.py [--seconds 10] [--connections 64]

Bounded in time and count; every byte stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soap_load import PEER, both_devices, print_table

ATTACKER = "127.0.5.1"
MAX_REQUESTS = 100_000


async def hold(port: int, count: int, seconds: float) -> int:
    """Keep ``count`` connections from ATTACKER open, trickling a head (one byte every 3 s),
    reopening each one the device closes (a 503, a timeout); how many it opened."""
    opened = 0
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open_one() -> None:
        nonlocal opened
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(ATTACKER, 0)
            )
        except OSError:
            return
        opened += 1
        writer.write(b"G")
        pool.append((reader, writer))

    stop = time.monotonic() + seconds
    next_byte = time.monotonic() + 3.0
    while time.monotonic() < stop and opened < MAX_REQUESTS:
        for _ in range(count - len(pool)):
            await open_one()
        await asyncio.sleep(0.2)
        for reader, writer in list(pool):
            if reader.at_eof() or writer.is_closing() or reader.exception() is not None:
                pool.remove((reader, writer))
                writer.close()
                continue
            try:
                await asyncio.wait_for(reader.read(64), 0.001)
            except TimeoutError:
                continue  # nothing came: still waiting for the rest of our head
            except OSError:
                pass
            pool.remove((reader, writer))  # answered (503) or closed: open another
            writer.close()
        if time.monotonic() >= next_byte:
            next_byte += 3.0
            for _, writer in pool:
                try:
                    writer.write(b"E")
                except OSError:
                    writer.close()
    for _, writer in pool:
        writer.close()
    return opened


async def legit(port: int, path: str, seconds: float) -> tuple[dict[str, int], list[float]]:
    outcome = {"200": 0, "503": 0, "other": 0, "error": 0}
    latencies: list[float] = []
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    stop = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < stop and sent < MAX_REQUESTS:
        sent += 1
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            line = await asyncio.wait_for(reader.readline(), 5)
            await asyncio.wait_for(reader.read(), 5)
            writer.close()
        except (OSError, TimeoutError):
            outcome["error"] += 1
            continue
        status = line.split()[1].decode() if len(line.split()) > 1 else "?"
        outcome[status if status in outcome else "other"] += 1
        latencies.append((time.perf_counter() - started) * 1000)
    return outcome, latencies


async def measure(name: str, port: int, path: str, seconds: float, connections: int) -> str:
    attack = asyncio.create_task(hold(port, connections, seconds + 1.0))
    await asyncio.sleep(1.0)  # the connections are in place
    outcome, latencies = await legit(port, path, seconds)
    opened = await attack
    total = sum(outcome.values())
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
    return (
        f"| {name} | {opened} | {total} | {100 * outcome['200'] / total:.1f} % | "
        f"{outcome['503']} | {outcome['error'] + outcome['other']} | {p50:.2f} / {p99:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    rows = []
    paths = {"upnpcm": "/xml/device_description.xml", PEER: "/desc.xml"}
    with tempfile.TemporaryDirectory() as tmp, both_devices(Path(tmp), pin=False) as devices:
        for name, (_, port) in devices.items():
            rows.append(
                asyncio.run(measure(name, port, paths[name], args.seconds, args.connections))
            )
    print_table(
        [
            "device",
            "attacker connections opened",
            "other host's requests",
            "answered 200",
            "503",
            "errors",
            "p50 / p99 ms",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
