"""Whole-process wall time of a one-shot action call: `upnpcm call` vs `upnp-client call-action`.

Both CLIs call ConnectionManager GetProtocolInfo on the same device, started by
this script on 127.0.0.1 (our device, and async_upnp_client's own server as a
second target). ``upnpcm call`` runs its quick way (no click, no asyncio:
upnpcm.cli.quick) and, for comparison, through click and asyncio
(``UPNPCM_QUICK=0``). Runs are interleaved, 10 each (bounded), median reported.
Bytecode is written and used as an installed package would have it
(``PYTHONDONTWRITEBYTECODE`` is dropped for the runs): pip compiles
upnp-client's modules at install, and an editable checkout's are compiled by
the warm-up run. Peak RSS (``/usr/bin/time``, where it exists) is reported too.

    python bench/cli_call.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import free_port, start_auc, start_upnpcm

BIN = Path(sys.executable).parent


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TIME = Path("/usr/bin/time")
PEAK: dict[str, list[int]] = {}


#: The same command through click and asyncio (cli/quick.py's switch), for comparison.
CLICK_WAY: Final = "upnpcm call, UPNPCM_QUICK=0"


def timed(cmd: list[str], name: str = "") -> float:
    measure = [str(TIME), "-f", "%M", *cmd] if TIME.exists() else cmd
    env = {**ENV, "UPNPCM_QUICK": "0"} if name == CLICK_WAY else ENV
    started = time.perf_counter()
    result = subprocess.run(measure, capture_output=True, timeout=60, check=False, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or b"Sink" not in result.stdout:
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode()[-300:]}")
    if TIME.exists():
        PEAK.setdefault(name or cmd[0], []).append(int(result.stderr.split()[-1]))
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    theirs_cli = BIN / "upnp-client"
    ours_cli = BIN / "upnpcm"
    if not theirs_cli.exists() or not ours_cli.exists():
        print(
            "run from the project's virtual environment (upnpcm and upnp-client installed)",
            file=sys.stderr,
        )
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ours_port, auc_port = free_port(), free_port()
        devices = [start_upnpcm(ours_port, Path(tmp), pin=False), start_auc(auc_port)]
        targets = {
            "upnpcm device": f"http://127.0.0.1:{ours_port}/xml/device_description.xml",
            "async_upnp_client device": f"http://127.0.0.1:{auc_port}/desc.xml",
        }
        try:
            for label, url in targets.items():
                commands = {
                    "upnpcm call": [
                        str(ours_cli),
                        "call",
                        url,
                        # our device has two: a name both share is refused (exit 2)
                        "MR/CM" if label == "upnpcm device" else "ConnectionManager",
                        "GetProtocolInfo",
                    ],
                    CLICK_WAY: [
                        str(ours_cli),
                        "call",
                        url,
                        "MR/CM" if label == "upnpcm device" else "ConnectionManager",
                        "GetProtocolInfo",
                    ],
                    "upnp-client call-action": [
                        str(theirs_cli),
                        "call-action",
                        url,
                        "ConnectionManager/GetProtocolInfo",
                    ],
                }
                samples: dict[str, list[float]] = {name: [] for name in commands}
                for name, cmd in commands.items():
                    timed(cmd, name)  # warm the page cache
                for _ in range(args.runs):
                    for name, cmd in commands.items():
                        samples[name].append(timed(cmd, name))
                for name, values in samples.items():
                    rows.append((label, name, statistics.median(values), min(values), max(values)))
        finally:
            for proc in devices:
                proc.terminate()
                proc.wait(timeout=10)
    print(
        f"{args.runs} runs each, interleaved; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| device | command | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for label, name, median, low, high in rows:
        print(f"| {label} | {name} | {median:.3f} | {low:.3f} | {high:.3f} |")
    print()
    for label in {r[0] for r in rows}:
        theirs = next(r[2] for r in rows if r[0] == label and r[1] == "upnp-client call-action")
        for way in ("upnpcm call", CLICK_WAY):
            ours = next(r[2] for r in rows if r[0] == label and r[1] == way)
            print(f"- {label}: {way} / upnp-client = {ours / theirs:.2f}")
    for program, peaks in PEAK.items():
        print(
            f"- peak RSS of {Path(program).name}: median {statistics.median(peaks) / 1024:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
