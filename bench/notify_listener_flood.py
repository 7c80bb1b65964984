"""A connection flood against the control point's NOTIFY listener (``eventlog``).

The listener (``EventListener`` with its default limits) runs in a child
process with its file-descriptor limit set by ``--nofile``. The flood opens
``--attempts`` connections from ``--sources`` addresses in 127.0.13.0/24,
trickles one byte on each every 3 s, and holds them for ``--seconds``.
Measured: the most sockets the listener held (its /proc fd table), the lines
it wrote on stderr (tracebacks included), and whether a NOTIFY from another
address (127.0.0.1) was still answered during the flood and after it.

    python bench/notify_listener_flood.py [--attempts 3000] [--nofile 4096]

``--nofile 200`` puts the fd limit under the listener's connection cap, so
accepts fail with EMFILE. Bounded in time and count; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import print_table

LISTENER = """
import asyncio, logging, resource, sys
from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import LeanHttpClient
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
nofile = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
async def main():
    async with EventListener(LeanHttpClient(), bind_host="127.0.0.1") as listener:
        print(listener.port, flush=True)
        await asyncio.sleep(float(sys.argv[2]))  # terminated by the bench before that
asyncio.run(main())
"""
NOTIFY = (
    "NOTIFY /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
    "NT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:nobody\r\nSEQ: 0\r\n"
    "Content-Length: 0\r\nConnection: close\r\n\r\n"
)


def sockets_of(pid: int) -> int:
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                continue
    except OSError:
        return -1
    return count


async def notify_answered(port: int) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
        writer.write(NOTIFY.format(port=port).encode())
        line = await asyncio.wait_for(reader.readline(), 3)
        writer.close()
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__
    return line.split()[1].decode() if len(line.split()) > 1 else "no answer"


async def flood(port: int, pid: int, args: argparse.Namespace) -> tuple[int, int, str]:
    held: list[asyncio.StreamWriter] = []
    most = 0
    opening_ends = time.monotonic() + 30.0  # bounded: attempts that stall are given up
    for i in range(args.attempts):
        if time.monotonic() > opening_ends:
            break
        source = f"127.0.13.{1 + i % args.sources}"
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 2
            )
        except (OSError, TimeoutError):
            continue
        writer.write(b"N")
        held.append(writer)
        if i % 100 == 0:
            most = max(most, sockets_of(pid))
    during = await notify_answered(port)
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        most = max(most, sockets_of(pid))
        await asyncio.sleep(1.0)
        if int(time.monotonic()) % 3 == 0:
            for writer in held:
                if not writer.is_closing():
                    try:
                        writer.write(b"O")
                    except OSError:
                        writer.close()
    for writer in held:
        writer.close()
    return most, len(held), during


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=3000)
    parser.add_argument("--sources", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--nofile", type=int, default=4096)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.attempts + 256)), hard))
    child = subprocess.Popen(
        [sys.executable, "-c", LISTENER, str(args.nofile), "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        started = time.monotonic()
        most, opened, during = asyncio.run(flood(port, child.pid, args))
        time.sleep(2.0)  # the listener closes what is left (timeouts, grace)
        after = asyncio.run(notify_answered(port))
        elapsed = time.monotonic() - started
    finally:
        child.terminate()
        _, err = child.communicate(timeout=15)
    lines = err.splitlines()
    row = (
        f"| {args.nofile} | {args.attempts} ({opened}) | {most} | {during} / {after} | "
        f"{len(lines)} | {sum('Traceback' in line for line in lines)} | {elapsed:.0f} |"
    )
    columns = ["nofile", "attempts (opened)", "most sockets held", "NOTIFY during / after"]
    print_table([*columns, "stderr lines", "tracebacks", "s"], [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
