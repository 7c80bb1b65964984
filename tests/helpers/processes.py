"""Start a real `upnpcm serve` process and learn its port (tests only)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import pytest


def start_serve(
    *args: str, wait_for: str = r"on port (\d+)", timeout: float = 20.0
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    """`python -m upnpcm serve ARGS`; returns the process and the match of ``wait_for`` on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "upnpcm", "serve", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        match = re.search(wait_for, line)
        if match:
            return proc, match
        if proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    pytest.fail(f"upnpcm serve {' '.join(args)} did not start: {''.join(seen)}{proc.stderr.read()}")


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> int:
    """SIGTERM, wait, close the pipes; the exit code."""
    if proc.poll() is None:
        proc.terminate()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return code


async def run_upnpcm(*args: str, timeout: float = 60) -> tuple[int | None, str, str]:
    """Run ``python -m upnpcm ARGS`` without blocking the loop (a fake device may be on it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "upnpcm",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()
