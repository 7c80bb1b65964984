"""Run a command on a pseudo-terminal and read the screen it leaves (tests only)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


def run_on_terminal(args: list[str], *, timeout: float = 30.0) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on one pseudo-terminal; (exit code, raw output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the last writer closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw``: ``\\r`` returns, ``ESC[K`` erases to the end."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    index = 0
    while index < len(raw):
        char = raw[index]
        if raw.startswith("\x1b[K", index):
            del line[column:]
            index += 3
            continue
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line))
            line, column = [], 0
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
        index += 1
    if line:
        lines.append("".join(line))
    return lines
