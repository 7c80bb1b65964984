"""Peak memory of loading a hostile device: `upnpcm describe -S` vs `upnp-client call-action`.

A scripted device on 127.0.0.1 (aiohttp, in this process) serves descriptions
that list many services, each with its own SCPDURL, every SCPD about 1 MiB of
valid XML (one state variable after another):

* ``4000 services``: the 950 KB description of the attack (item 1 of the
  hardening round);
* ``128 services``: as many as upnpcm's default ``max_services`` allows, so the
  byte budget (``max_load_bytes``) is what stops it;
* ``32 x 4 services, 60 KB SCPDs``: inside every limit, everything loads (the
  cost of a legitimate large device).

Each CLI runs in its own process under a memory cap (RLIMIT_AS, default
2048 MB: a client without limits stops at a MemoryError instead of taking the
machine) and a time limit; its peak RSS is read from the kernel (``ru_maxrss``
of a wrapper's only child). The peer is async_upnp_client's ``upnp-client``
(pinned in the test extras), which also loads every SCPD before it calls.

    python bench/hostile_description.py [--cap-mb 2048] [--timeout 120]

``--upnpcm-src DIR`` puts another checkout's ``src`` first on PYTHONPATH for
upnpcm (to measure an older version in the same run). Every loop is bounded
and every byte stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.hostile import scpd_of_size  # the same documents the tests serve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import print_table

BIN = Path(sys.executable).parent
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
# Runs one command under RLIMIT_AS and prints its peak RSS (KiB) and exit code on stderr.
WRAPPER = """
import resource, subprocess, sys
cap = int(sys.argv[1]) * 1024 * 1024
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    result = subprocess.run(sys.argv[3:], preexec_fn=limit, capture_output=True, timeout=float(sys.argv[2]))
    code, err = result.returncode, result.stderr.decode(errors="replace").strip().splitlines()
except subprocess.TimeoutExpired:
    code, err = "timeout", []
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RESULT {peak} {code} {err[-1][:160] if err else ''}", file=sys.stderr)
"""


def service(i: int) -> str:
    return (
        f"<service><serviceType>{CM}</serviceType><serviceId>urn:upnp-org:serviceId:CM{i}"
        f"</serviceId><SCPDURL>/scpd/{i}.xml</SCPDURL><controlURL>/ctl/{i}</controlURL>"
        f"<eventSubURL>/evt/{i}</eventSubURL></service>"
    )


def device(udn: str, services: str, devices: str = "") -> str:
    return (
        "<device><deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>"
        f"<friendlyName>hostile</friendlyName><UDN>{udn}</UDN>"
        f"<serviceList>{services}</serviceList>"
        + (f"<deviceList>{devices}</deviceList>" if devices else "")
        + "</device>"
    )


def document(root: str) -> bytes:
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        f"<specVersion><major>1</major><minor>0</minor></specVersion>{root}</root>"
    ).encode()


def scenarios() -> dict[str, tuple[bytes, bytes]]:
    big = scpd_of_size(1024 * 1024 - 4096)
    nested = "".join(
        device(f"uuid:e{d}", "".join(service(d * 4 + k) for k in range(4))) for d in range(1, 32)
    )
    return {
        "4000 services, 1 MiB SCPDs": (
            document(device("uuid:h", "".join(service(i) for i in range(4000)))),
            big,
        ),
        "128 services, 1 MiB SCPDs": (
            document(device("uuid:h", "".join(service(i) for i in range(128)))),
            big,
        ),
        "32 devices x 4 services, 60 KB SCPDs": (
            document(device("uuid:h", "".join(service(k) for k in range(4)), nested)),
            scpd_of_size(60 * 1024),
        ),
    }


async def run(cmd: list[str], cap_mb: int, timeout: float, env: dict[str, str]) -> tuple[str, ...]:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRAPPER,
        str(cap_mb),
        str(timeout),
        *cmd,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env=env,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout + 30)
    elapsed = time.monotonic() - started
    line = next(x for x in err.decode().splitlines() if x.startswith("RESULT "))
    _, peak, code, *message = line.split(" ", 3)
    return f"{int(peak) / 1024:.0f}", code, f"{elapsed:.1f}", (message[0] if message else "")


async def main_async(args: argparse.Namespace) -> int:
    cases = scenarios()
    current = {"doc": b"", "scpd": b""}

    async def handle(request: web.Request) -> web.Response:
        body = current["doc"] if request.path == "/d.xml" else current["scpd"]
        if request.path != "/d.xml" and not request.path.startswith("/scpd/"):
            return web.Response(status=404)
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/d.xml"
    ours_env = dict(os.environ)
    if args.upnpcm_src:
        ours_env["PYTHONPATH"] = os.pathsep.join(
            [args.upnpcm_src, os.environ.get("PYTHONPATH", "")]
        )
    commands = {
        "upnpcm describe -S": ([str(BIN / "upnpcm"), "describe", "-S", url], ours_env),
        "upnp-client call-action": (
            [str(BIN / "upnp-client"), "call-action", url, "CM0/GetProtocolInfo"],
            dict(os.environ),
        ),
    }
    rows = []
    try:
        for label, (doc, body) in cases.items():
            current["doc"], current["scpd"] = doc, body
            for name, (cmd, env) in commands.items():
                peak, code, elapsed, message = await run(cmd, args.cap_mb, args.timeout, env)
                rows.append(
                    f"| {label} ({len(doc) // 1024} KB) | {name} | {peak} | {code} | "
                    f"{elapsed} | {message.replace('|', '/')} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
    finally:
        await runner.cleanup()
    print_table(["description", "client", "peak RSS MB", "exit", "s", "last line on stderr"], rows)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cap-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--upnpcm-src", default=None)
    args = parser.parse_args()
    if args.upnpcm_src:
        args.upnpcm_src = str(Path(args.upnpcm_src).resolve())
    for tool in ("upnpcm", "upnp-client"):
        if not (BIN / tool).exists():
            print(f"run from the project's virtual environment ({tool} missing)", file=sys.stderr)
            return 2
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
