"""SOAP load benchmark: upnpcm's device against async_upnp_client's and gmediarender (C).

Re-runs itself inside a network namespace it creates (``unshare -n``: lo and a
veth pair d0/d1 whose both ends stay inside, as tests/test_netns.py builds),
because gmediarender (pupnp) refuses lo. There it starts gmediarender on d0,
reads its Sink list (about 6.3 KB, what GStreamer on this machine plays) and
starts upnpcm's device and async_upnp_client's on the same address, each
answering that same Sink list; each in its own process, HTTP only. wrk
(Debian) loads each at concurrency 1 and 50: GetProtocolInfo on a kept-alive
connection and with ``Connection: close`` (a new TCP connection per request,
as SoCo without a session, Sonos itself and pupnp-based control points do),
and a PrepareForConnection + ConnectionComplete cycle (upnpcm and
async_upnp_client: gmediarender has no PrepareForConnection). Every run is
bounded by wrk's -d. Where ``taskset`` exists and there are two or more CPUs,
the devices run on CPU 0 and wrk (one thread) on CPU 1, so load generator and
device never fight over a core. Prints a Markdown table for bench/RESULTS.md,
and the ratios of upnpcm to each peer.

    python bench/soap_load.py [--seconds 10] [--warmup 2] [--loop auto|uvloop|asyncio]
                              [--rounds 1..5] [--only WORD...] [--floor]

With ``--rounds N`` each device runs N times per scenario, the devices taking
turns, and the table holds each device's medians (each round's ratios follow
it): on a machine whose speed drifts (a VM), every device then sees the same
drift.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
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
#: The GetProtocolInfo request body every load and probe sends.
GPI_BODY: Final = ENVELOPE.format(f'<u:GetProtocolInfo xmlns:u="{CM}"></u:GetProtocolInfo>')
GET_PROTOCOL_INFO_LUA = textwrap.dedent(
    f"""
    wrk.method = "POST"
    wrk.headers["Content-Type"] = 'text/xml; charset="utf-8"'
    wrk.headers["SOAPACTION"] = '"{CM}#GetProtocolInfo"'
    wrk.body = '{GPI_BODY}'
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
    port: int,
    state: Path,
    *,
    config: str = "",
    pin: bool = True,
    args: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    loop: str = "auto",
) -> subprocess.Popen[bytes]:
    """`upnpcm serve ARGS` on ``host``:``port`` (HTTP only), with ``config`` as its TOML file.

    Pinned to CPU 0 when ``pin`` (and pinning is possible), on the event loop
    ``loop``; returns once the description answers.
    """
    cmd = [sys.executable, "-m", "upnpcm", "serve", "--host", host, "--port", str(port)]
    cmd += ["--no-ssdp", "--state-dir", str(state), "--loop", loop, *args]
    if config:
        path = state / f"bench-{port}.toml"
        path.write_text(config, encoding="utf-8")
        cmd += ["--config", str(path)]
    proc = subprocess.Popen(
        pinned(0, cmd) if pin else cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(f"http://{host}:{port}/xml/device_description.xml")
    return proc


def start_auc(
    port: int,
    module: str = "tests.peers.auc_device",
    args: tuple[str, ...] = (),
    host: str = "127.0.0.1",
) -> subprocess.Popen[bytes]:
    """The async_upnp_client peer ``module`` (with ``args``) on ``host``:``port``, pinned like ours."""
    proc = subprocess.Popen(
        pinned(
            0,
            [
                sys.executable,
                "-m",
                module,
                "--port",
                str(port),
                "--host",
                host,
                "--seconds",
                "3600",
                *args,
            ],
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://{host}:{port}/desc.xml")
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
        # --mount-proc: the /proc of the namespace's own PIDs (a device's RSS is read there)
        [
            "unshare",
            "--net",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "sh",
            "-c",
            command,
        ],
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


def median_of(results: list[dict[str, float]]) -> dict[str, float]:
    """One device's rounds as one row: the median of each figure; errors from any round."""
    merged = {key: statistics.median(r[key] for r in results) for key in ("rps", "p50", "p99")}
    merged["non2xx"] = sum(r["non2xx"] for r in results)
    merged["socket_errors"] = max(r["socket_errors"] for r in results)
    return merged


def round_ratios(
    scenario: str, connections: int, results: dict[str, list[dict[str, float]]]
) -> str:
    """upnpcm's req/s over each other device's, round by round."""
    ours = results["upnpcm"]
    parts = [
        f"{name} "
        + ", ".join(f"{o['rps'] / t['rps']:.2f}x" for o, t in zip(ours, theirs, strict=True))
        for name, theirs in results.items()
        if name != "upnpcm"
    ]
    return f"- {scenario}, c={connections}: " + "; ".join(parts)


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


def report(
    rows: list[Row],
    *,
    seconds: int,
    warmup: int,
    ours: str,
    peer: str,
    third: str | None = None,
    floor: str | None = None,
) -> None:
    """The Markdown table of ``rows`` and the ratios ours / each other device."""
    pin = "devices on CPU 0, wrk -t1 on CPU 1" if PIN else "unpinned"
    print(
        f"wrk {seconds}s per run (after {warmup}s warm-up), {pin}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| scenario | c | device | req/s | p50 ms | p99 ms | non-2xx | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario, connections, name, r, rss in rows:
        errors = " (socket errors)" if r["socket_errors"] else ""
        print(
            f"| {scenario} | {connections} | {name} | {r['rps']:.0f}{errors} | {r['p50']:.2f} | "
            f"{r['p99']:.2f} | {int(r['non2xx'])} | {rss / 1024:.0f} |"
        )
    by_key = {(s, c, n): r for s, c, n, r, _ in rows}
    print()
    for scenario, connections in dict.fromkeys((s, c) for s, c, *_ in rows):
        mine = by_key[(scenario, connections, ours)]
        for other in (peer, third, floor):
            theirs = by_key.get((scenario, connections, other or ""))
            if theirs is None:
                continue
            print(
                f"- {scenario}, c={connections}: {ours} / {other} = "
                f"{mine['rps'] / theirs['rps']:.2f}x req/s, "
                f"{mine['p99'] / theirs['p99']:.2f}x p99"
            )


GMR_PORT = 49494
GMR_UUID = "11111111-2222-3333-4444-555555555555"
GMR: Final = "gmediarender (pupnp, C)"
#: The reference row of --floor (bench/floor_server.py).
FLOOR: Final = "floor: uvloop writing upnpcm's answer bytes"
#: The address the devices serve on inside the namespace (d0 of the veth pair).
DEVICE_IP = "10.99.0.1"
#: The namespace of tests/test_netns.py: lo with multicast, a veth pair whose ends stay inside.
#: The namespace of a run: lo and a veth pair d0/d1, as tests/test_netns.py builds it, and
#: at most 4,096 TIME_WAIT sockets. One client opening 30k+ connections a second to one
#: address reuses its 28k ephemeral ports within a second; with Linux's default of
#: 131,072, the server side (which closes first) soon holds a TIME_WAIT socket for every
#: port, each new SYN meets one, and the `Connection: close` scenario stalls for every
#: server after a few seconds (bench/RESULTS.md). Servers under such load cap them so.
NAMESPACE_SETUP = (
    "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"
    " && sysctl -qw net.ipv4.tcp_max_tw_buckets=4096"
    " && sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
    " && ip link add d0 type veth peer name d1"
    " && ip addr add 10.99.0.1/24 dev d0 && ip addr add 10.99.0.2/32 dev d1"
    " && ip link set d0 multicast on && ip link set d0 up && ip link set d1 up"
)
GET_PROTOCOL_INFO_CLOSE_LUA = GET_PROTOCOL_INFO_LUA + 'wrk.headers["Connection"] = "close"\n'


def start_gmediarender(work: Path) -> subprocess.Popen[bytes]:
    """gmediarender on d0 (libupnp refuses lo), pinned like the others; back once it answers."""
    argv = ["gmediarender", "-I", "d0", "-p", str(GMR_PORT), "-u", GMR_UUID, "-f", "bench"]
    argv += ["--gstout-audiosink=fakesink", "--gstout-videosink=fakesink"]
    env = {**os.environ, "HOME": str(work), "XDG_CACHE_HOME": str(work / "cache")}
    proc = subprocess.Popen(
        pinned(0, argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(f"http://{DEVICE_IP}:{GMR_PORT}/description.xml")
    return proc


def raw_answer(control_url: str) -> bytes:
    """The whole HTTP answer (head and body, as sent) to GetProtocolInfo at ``control_url``."""
    body = GPI_BODY.encode()
    host, port = urllib.parse.urlsplit(control_url).netloc.rsplit(":", 1)
    path = urllib.parse.urlsplit(control_url).path
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        f'Content-Type: text/xml; charset="utf-8"\r\nSOAPACTION: "{CM}#GetProtocolInfo"\r\n'
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    # as answered on a kept-alive connection: no Connection: close in the head
    return re.sub(rb"(?i)\r\nconnection: close", b"", answer, count=1)


def sink_list(control_url: str) -> str:
    """The Sink list a ConnectionManager answers to GetProtocolInfo."""
    body = GPI_BODY.encode()
    request = urllib.request.Request(
        control_url,
        data=body,
        headers={
            "Content-Type": 'text/xml; charset="utf-8"',
            "SOAPACTION": f'"{CM}#GetProtocolInfo"',
        },
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(r"<Sink>([^<]*)</Sink>", text)
    if found is None:
        raise RuntimeError(f"no Sink in {control_url}'s answer")
    return found.group(1)


def inside(args: argparse.Namespace) -> int:
    """The run itself, inside the namespace: three devices on d0, wrk from the same namespace."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = {
            "gpi": GET_PROTOCOL_INFO_LUA,
            "close": GET_PROTOCOL_INFO_CLOSE_LUA,
            "cycle": CYCLE_LUA,
        }
        for name, text in scripts.items():
            (work / f"{name}.lua").write_text(text, encoding="utf-8")
        procs: list[subprocess.Popen[bytes]] = []
        try:
            gmr = start_gmediarender(work)
            procs.append(gmr)
            gmr_url = f"http://{DEVICE_IP}:{GMR_PORT}/upnp/control/renderconnmgr1"
            sink = sink_list(gmr_url)  # what gmediarender accepts: all three answer this list
            (work / "sink.txt").write_text(sink, encoding="utf-8")
            ours_port, theirs_port = free_port(), free_port()
            config = (
                LOAD_CONFIG
                + "[connection_manager]\nmax_connections = 100000\n"
                + f"[renderer]\nsink = {json.dumps(sink)}\n"
            )
            ours = start_upnpcm(ours_port, work, config=config, host=DEVICE_IP, loop=args.loop)
            procs.append(ours)
            theirs = start_auc(
                theirs_port, args=("--sink-file", str(work / "sink.txt")), host=DEVICE_IP
            )
            procs.append(theirs)
            base, peer_base = f"http://{DEVICE_IP}:{ours_port}", f"http://{DEVICE_IP}:{theirs_port}"
            ours_gpi = f"{base}/MediaRenderer/ConnectionManager/Control"
            theirs_cm = f"{peer_base}/upnp/control/ConnectionManager1"
            sizes = {len(sink_list(url)) for url in (gmr_url, ours_gpi, theirs_cm)}
            assert sizes == {len(sink)}, sizes
            gpi = {"upnpcm": (ours, ours_gpi), PEER: (theirs, theirs_cm), GMR: (gmr, gmr_url)}
            if args.floor:
                floor_port = free_port()
                (work / "answer.bin").write_bytes(raw_answer(ours_gpi))
                floor = subprocess.Popen(
                    pinned(
                        0,
                        [
                            sys.executable,
                            str(ROOT / "bench" / "floor_server.py"),
                            DEVICE_IP,
                            str(floor_port),
                            str(work / "answer.bin"),
                        ],
                    ),
                )
                procs.append(floor)
                floor_url = f"http://{DEVICE_IP}:{floor_port}/"
                wait_http(floor_url)
                gpi[FLOOR] = (floor, floor_url)
            cycle = {
                "upnpcm": (ours, f"{base}/MediaServer/ConnectionManager/Control"),
                PEER: (theirs, theirs_cm),
            }
            runs: list[tuple[str, Path, int, Targets]] = [
                ("GetProtocolInfo keep-alive", work / "gpi.lua", 1, gpi),
                ("GetProtocolInfo keep-alive", work / "gpi.lua", 50, gpi),
                ("GetProtocolInfo Connection: close", work / "close.lua", 50, gpi),
                ("Prepare+Complete cycle", work / "cycle.lua", 1, cycle),
                ("Prepare+Complete cycle", work / "cycle.lua", 50, cycle),
            ]
            if args.only:
                runs = [run for run in runs if any(word in run[0].lower() for word in args.only)]
            rows: list[Row] = []
            spread: list[str] = []
            for scenario, script, connections, targets in runs:
                # Rounds alternate the devices, so a machine that drifts (a VM) drifts for all.
                results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                for _ in range(args.rounds):
                    for name, (_, url) in targets.items():
                        if args.warmup:
                            run_wrk(url, script, connections, args.warmup)
                        results[name].append(run_wrk(url, script, connections, args.seconds))
                for name, (proc, _) in targets.items():
                    rows.append(
                        (scenario, connections, name, median_of(results[name]), rss_kib(proc.pid))
                    )
                if args.rounds > 1:
                    spread.append(round_ratios(scenario, connections, results))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    print(
        f"Sink list: {len(sink)} bytes, {sink.count(',') + 1} entries, the same on all three "
        f"(gmediarender's own); devices on {DEVICE_IP} (d0 of a veth pair inside the namespace); "
        f"upnpcm on the {args.loop} loop\n"
    )
    report(
        rows,
        seconds=args.seconds,
        warmup=args.warmup,
        ours="upnpcm",
        peer=PEER,
        third=GMR,
        floor=FLOOR,
    )
    if spread:
        print(
            f"\nEach round's ratios ({args.rounds} rounds; the table holds each device's medians):"
        )
        print("\n".join(spread))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="upnpcm's loop"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs per device and scenario, alternating the devices; the table holds medians",
    )
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="WORD", help="scenarios whose name has WORD"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="GetProtocolInfo rows of a server that only writes upnpcm's answer bytes (uvloop)",
    )
    args = parser.parse_args()
    args.seconds, args.warmup = max(1, min(args.seconds, 60)), max(0, min(args.warmup, 10))
    args.rounds = max(1, min(args.rounds, 5))
    for tool in ("wrk", "gmediarender"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    if os.environ.get("UPNPCM_NETNS") == "veth":
        return inside(args)
    env = {**os.environ, "UPNPCM_NETNS": "veth", "PYTHONPATH": str(ROOT)}
    argv = ["--seconds", str(args.seconds), "--warmup", str(args.warmup), "--loop", args.loop]
    argv += ["--rounds", str(args.rounds)]
    argv += ["--only", *args.only] if args.only else []
    argv += ["--floor"] if args.floor else []
    return rerun_in_namespace(
        Path(__file__).resolve(), argv, setup=NAMESPACE_SETUP, env=env, timeout=900
    )


if __name__ == "__main__":
    sys.exit(main())
