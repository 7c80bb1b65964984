"""This checkout's device against another version's, interleaved, under the same wrk load.

For a change that should cost nothing measurable: both devices run at once (each in its own
process, pinned like ``soap_load.py``), and wrk loads them in turn, ``--rounds`` times each,
so that noise from the machine falls on both alike. Reports requests per second of every
run and the ratio of the medians (this / other) for GetProtocolInfo and the
PrepareForConnection + ConnectionComplete cycle at c=50.

    python bench/soap_ab.py --other-src /path/to/an/older/checkout/src [--rounds 3 --seconds 4]

The other version must accept ``[connection_manager] max_connections`` in its TOML file;
this one also gets ``[http]`` caps that let wrk's 50 connections from one address in.
Bounded by wrk's ``-d``; loopback only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soap_load import CYCLE_LUA, GET_PROTOCOL_INFO_LUA, free_port, pinned, run_wrk, wait_http

SRC = Path(__file__).resolve().parent.parent / "src"
BASE = "[connection_manager]\nmax_connections = 100000\n"
OURS = BASE + "[http]\nmax_connections = 64\nmax_connections_per_peer = 64\n"


def start(src: Path, port: int, state: Path, config: str) -> subprocess.Popen[bytes]:
    state.mkdir()
    (state / "bench.toml").write_text(config, encoding="utf-8")
    cmd = [sys.executable, "-m", "upnpcm", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-ssdp", "--state-dir", str(state), "--config", str(state / "bench.toml")]
    proc = subprocess.Popen(
        pinned(0, cmd),
        env={**os.environ, "PYTHONPATH": str(src)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/xml/device_description.xml")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--other-src", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = {"GetProtocolInfo": work / "gpi.lua", "Prepare+Complete cycle": work / "c.lua"}
        scripts["GetProtocolInfo"].write_text(GET_PROTOCOL_INFO_LUA, encoding="utf-8")
        scripts["Prepare+Complete cycle"].write_text(CYCLE_LUA, encoding="utf-8")
        ports = {"this": free_port(), "other": free_port()}
        procs = [
            start(SRC, ports["this"], work / "this", OURS),
            start(args.other_src.resolve(), ports["other"], work / "other", BASE),
        ]
        try:
            for scenario, script in scripts.items():
                rates: dict[str, list[float]] = {"this": [], "other": []}
                for _ in range(args.rounds):
                    for label, port in ports.items():
                        url = f"http://127.0.0.1:{port}/MediaServer/ConnectionManager/Control"
                        rates[label].append(run_wrk(url, script, 50, args.seconds)["rps"])
                ratio = statistics.median(rates["this"]) / statistics.median(rates["other"])
                runs = {k: [round(v) for v in values] for k, values in rates.items()}
                print(f"{scenario}, c=50: req/s {runs}; this / other (medians) = {ratio:.3f}")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
