"""SOAP load benchmark: upnpcm's device against async_upnp_client's, same tool, same settings.

Starts both devices on 127.0.0.1 (separate processes, HTTP only) and loads each
with wrk (Debian) at concurrency 1 and 50, for GetProtocolInfo and for a
PrepareForConnection + ConnectionComplete cycle. Every run is bounded by
wrk's -d. Where ``taskset`` exists and there are two or more CPUs, the devices
run on CPU 0 and wrk (one thread) on CPU 1, so load generator and device never
fight over a core. Prints a Markdown table for bench/RESULTS.md.

    python bench/soap_load.py [--seconds 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[1]
CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
ENVELOPE = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>{}</s:Body></s:Envelope>'
)
GET_PROTOCOL_INFO_LUA = textwrap.dedent(
    f"""
    wrk.method = "POST"
    wrk.headers["Content-Type"] = 'text/xml; charset="utf-8"'
    wrk.headers["SOAPACTION"] = '"{CM}#GetProtocolInfo"'
    wrk.body = '{ENVELOPE.format(f'<u:GetProtocolInfo xmlns:u="{CM}"></u:GetProtocolInfo>')}'
    """
)
PREPARE_BODY = ENVELOPE.format(
    f'<u:PrepareForConnection xmlns:u="{CM}"><RemoteProtocolInfo>http-get:*:audio/mpeg:*</RemoteProtocolInfo>'
    "<PeerConnectionManager></PeerConnectionManager><PeerConnectionID>-1</PeerConnectionID>"
    "<Direction>Output</Direction></u:PrepareForConnection>"
)
COMPLETE_BODY = ENVELOPE.format(
    f'<u:ConnectionComplete xmlns:u="{CM}"><ConnectionID>%s</ConnectionID></u:ConnectionComplete>'
)
# One PrepareForConnection, then ConnectionComplete of an ID it returned: a "cycle" is two requests.
CYCLE_LUA = textwrap.dedent(
    f"""
    local pending = {{}}
    local prepare = '{PREPARE_BODY}'
    local complete = '{COMPLETE_BODY}'
    local headers = {{["Content-Type"] = 'text/xml; charset="utf-8"'}}
    request = function()
      local id = table.remove(pending)
      if id then
        headers["SOAPACTION"] = '"{CM}#ConnectionComplete"'
        return wrk.format("POST", nil, headers, string.format(complete, id))
      end
      headers["SOAPACTION"] = '"{CM}#PrepareForConnection"'
      return wrk.format("POST", nil, headers, prepare)
    end
    response = function(status, hdrs, body)
      local id = body:match("<ConnectionID>(%d+)</ConnectionID>")
      if id then table.insert(pending, id) end
    end
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if PIN else cmd


def start_upnpcm(
    port: int, state: Path, *, config: str = "", pin: bool = True, args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """`upnpcm serve ARGS` on 127.0.0.1:``port`` (HTTP only), with ``config`` as its TOML file.

    Pinned to CPU 0 when ``pin`` (and pinning is possible); returns once the
    description answers.
    """
    cmd = [sys.executable, "-m", "upnpcm", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-ssdp", "--state-dir", str(state), *args]
    if config:
        path = state / f"bench-{port}.toml"
        path.write_text(config, encoding="utf-8")
        cmd += ["--config", str(path)]
    proc = subprocess.Popen(
        pinned(0, cmd) if pin else cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(f"http://127.0.0.1:{port}/xml/device_description.xml")
    return proc


def start_auc(
    port: int, module: str = "tests.peers.auc_device", args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """The async_upnp_client peer ``module`` (with ``args``) on 127.0.0.1:``port``, pinned like ours."""
    proc = subprocess.Popen(
        pinned(
            0,
            [
                sys.executable,
                "-m",
                module,
                "--port",
                str(port),
                "--seconds",
                "3600",
                *args,
            ],
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/desc.xml")
    return proc


PEER: Final = "async_upnp_client 0.49.0"


@contextlib.contextmanager
def both_devices(
    state: Path, *, pin: bool = True
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], int]]]:
    """upnpcm's device and the peer's, each in its own process: ``{name: (process, port)}``."""
    ours_port, theirs_port = free_port(), free_port()
    ours = start_upnpcm(ours_port, state, pin=pin)
    theirs = start_auc(theirs_port)
    try:
        yield {"upnpcm": (ours, ours_port), PEER: (theirs, theirs_port)}
    finally:
        for proc in (ours, theirs):
            proc.terminate()
            proc.wait(10)


def rerun_in_namespace(
    script: Path, argv: list[str], *, setup: str, env: dict[str, str], timeout: float
) -> int:
    """Run ``script argv`` again inside a new network namespace, after ``setup`` (its links).

    For benchmarks that multicast: SSDP never leaves the machine. Returns the exit code
    (2 when ``unshare`` or ``ip`` is missing).
    """
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        print("needs unshare and ip (util-linux, iproute2): SSDP must stay inside", file=sys.stderr)
        return 2
    command = f"{setup} && exec {sys.executable} {script} {shlex.join(argv)}"
    return subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--kill-child", "sh", "-c", command],
        cwd=script.parent.parent,
        env=env,
        timeout=timeout,
        check=False,
    ).returncode


def print_table(columns: list[str], rows: list[str]) -> None:
    """A Markdown table for bench/RESULTS.md: the header, its rule, then ``rows`` as written."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    print("\n".join(rows))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    threads = 1 if PIN or connections == 1 else 2
    cmd = pinned(
        1,
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
    )
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


#: ``upnpcm serve`` settings for a load run: wrk's connections all come from 127.0.0.1.
LOAD_CONFIG = "[http]\nmax_connections = 256\nmax_connections_per_peer = 256\n"
Targets = dict[str, tuple[subprocess.Popen[bytes], str]]
Row = tuple[str, int, str, dict[str, float], int]


def load(scenarios: dict[str, tuple[Path, Targets]], *, seconds: int, warmup: int) -> list[Row]:
    """wrk each scenario's targets at c=1 and c=50 (after a warm-up); one row per run."""
    rows: list[Row] = []
    for scenario, (script, targets) in scenarios.items():
        for connections in (1, 50):
            for name, (proc, url) in targets.items():
                run_wrk(url, script, connections, warmup)
                result = run_wrk(url, script, connections, seconds)
                rows.append((scenario, connections, name, result, rss_kib(proc.pid)))
    return rows


def report(rows: list[Row], *, seconds: int, warmup: int, ours: str, peer: str) -> None:
    """The Markdown table of ``rows`` and the ratios ours / peer."""
    pin = "devices on CPU 0, wrk -t1 on CPU 1" if PIN else "unpinned"
    print(
        f"wrk {seconds}s per run (after {warmup}s warm-up), {pin}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| scenario | c | device | req/s | p50 ms | p99 ms | non-2xx | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario, connections, name, r, rss in rows:
        print(
            f"| {scenario} | {connections} | {name} | {r['rps']:.0f} | {r['p50']:.2f} | "
            f"{r['p99']:.2f} | {int(r['non2xx'])} | {rss / 1024:.0f} |"
        )
    by_key = {(s, c, n): r for s, c, n, r, _ in rows}
    print()
    for scenario, connections in dict.fromkeys((s, c) for s, c, *_ in rows):
        ratio = (
            by_key[(scenario, connections, ours)]["rps"]
            / by_key[(scenario, connections, peer)]["rps"]
        )
        print(f"- {scenario}, c={connections}: {ours} / async_upnp_client = {ratio:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    peer = "async_upnp_client 0.49.0"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gpi, cycle = work / "gpi.lua", work / "cycle.lua"
        gpi.write_text(GET_PROTOCOL_INFO_LUA, encoding="utf-8")
        cycle.write_text(CYCLE_LUA, encoding="utf-8")
        ours_port, theirs_port = free_port(), free_port()
        # wrk's 50 connections all come from 127.0.0.1: one peer, allowed them all here.
        ours = start_upnpcm(
            ours_port, work, config=LOAD_CONFIG + "[connection_manager]\nmax_connections = 100000\n"
        )
        theirs = start_auc(theirs_port)
        targets: Targets = {
            "upnpcm": (ours, f"http://127.0.0.1:{ours_port}/MediaServer/ConnectionManager/Control"),
            peer: (theirs, f"http://127.0.0.1:{theirs_port}/upnp/control/ConnectionManager1"),
        }
        try:
            rows = load(
                {"GetProtocolInfo": (gpi, targets), "Prepare+Complete cycle": (cycle, targets)},
                seconds=args.seconds,
                warmup=args.warmup,
            )
        finally:
            for proc, _ in targets.values():
                proc.terminate()
                proc.wait(timeout=10)
    report(rows, seconds=args.seconds, warmup=args.warmup, ours="upnpcm", peer=peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
