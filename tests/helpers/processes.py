"""Start a real `upnpcm serve` process and learn its port (tests only)."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

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


async def run_upnpcm(
    *args: str, timeout: float = 60, env: Mapping[str, str] | None = None
) -> tuple[int | None, str, str]:
    """Run ``python -m upnpcm ARGS`` without blocking the loop (a fake device may be on it).

    ``env``: variables set for it, on top of this process's environment.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "upnpcm",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


class Lines:
    """A process whose output lines (stdout or stderr) are read by a thread, with deadlines."""

    def __init__(
        self, args: list[str], *, stream: str = "stdout", stdin: bool = False, **kwargs: Any
    ) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        pipe = self.proc.stderr if stream == "stderr" else self.proc.stdout
        self._other = self.proc.stdout if stream == "stderr" else None
        self._reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._reader.start()
        self.out = ""

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if predicate(line):
                return line
        pytest.fail(
            f"{self.proc.args[:4]} did not say it in {timeout} s:\n{''.join(self.lines)[-4000:]}"
        )

    def send(self, text: str) -> None:
        """One line to the process's stdin (``stdin=True``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def interrupt(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self._reader.join(timeout=5)
        if self._other is not None:
            self.out = self._other.read()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code
