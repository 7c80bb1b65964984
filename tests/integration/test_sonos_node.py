"""node-sonos-ts (@svrooij/sonos 2.5.0, npm, pinned) against a virtual household on loopback.

A SonosManager initialised from one player lists every player; SetVolume and
Play work; its event listener hears volume and transport events — including
the initial ones, although it starts listening only after its first SUBSCRIBE
was answered (rule T4: the player sends a refused initial NOTIFY once more).
The driver (tests/peers/npm/nst.js) prints NDJSON and takes commands on stdin.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess

import pytest

from tests.helpers.npm import NPM_DIR, NST_SCRIPT, require_npm_peer
from tests.helpers.processes import Lines

pytestmark = pytest.mark.peer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Driver:
    """nst.js as a subprocess: its NDJSON lines, read with a deadline; commands on its stdin."""

    def __init__(self, node: str, ip: str, port: int) -> None:
        env = {
            **os.environ,
            "SONOS_LISTENER_HOST": "127.0.0.1",  # never a LAN address (network rules)
            "SONOS_LISTENER_PORT": str(free_port()),
        }
        self.lines = Lines([node, str(NST_SCRIPT), ip, str(port)], stdin=True, cwd=NPM_DIR, env=env)
        self.seen: list[dict] = []

    def until(self, predicate, timeout: float = 10.0) -> dict:
        def parsed(line: str) -> bool:
            message = json.loads(line)
            self.seen.append(message)
            assert "error" not in message, message
            return bool(predicate(message))

        return json.loads(self.lines.until(parsed, timeout))

    def send(self, command: str) -> None:
        self.lines.send(command)

    def close(self) -> None:
        if self.lines.proc.poll() is None:
            self.send("quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.lines.proc.wait(timeout=10)
        self.lines.interrupt()


@pytest.fixture
def driver(sonos_household):
    node = require_npm_peer("@svrooij/sonos")
    household = sonos_household(players=3)  # the plugin's fixture: free ports on 127.0.0.2-4
    first = household[0]
    running = Driver(node, first.address, first.port)
    try:
        yield household, running
    finally:
        running.close()


def test_manager_lists_the_household_and_hears_volume_and_transport(driver):
    household, node = driver
    listed = node.until(lambda m: "devices" in m)["devices"]
    assert {(d["host"], d["port"], d["name"], d["uuid"]) for d in listed} == {
        (p.address, p.port, p.room, p.uid) for p in household
    }
    assert all(d["coordinator"] == d["uuid"] for d in listed)
    # the initial events, although its listener started after the SUBSCRIBE answer (T4)

    def initial_rendering(m: dict) -> bool:
        return m.get("event") == "renderingcontrol" and m["volume"]["Master"] == 20

    def initial_transport(m: dict) -> bool:
        return m.get("event") == "transport" and m["value"] == "STOPPED"

    node.until(
        lambda _: any(map(initial_rendering, node.seen)) and any(map(initial_transport, node.seen))
    )
    assert next(filter(initial_rendering, node.seen))["volume"] == {
        "Master": 20,
        "LF": 100,
        "RF": 100,
    }
    if not any("ready" in m for m in node.seen):
        node.until(lambda m: "ready" in m)
    assert next(m for m in node.seen if "ready" in m)["ready"] >= 3
    node.send("volume 23")
    assert node.until(lambda m: "setVolume" in m)["setVolume"] is True
    node.until(lambda m: m.get("event") == "renderingcontrol" and m["volume"]["Master"] == 23)
    assert household[0].volume == 23
    household[0].press_volume(31)  # from the speaker: node-sonos-ts emits 'volume'
    node.until(lambda m: m.get("event") == "volume" and m["value"] == 31)
    node.send("play http://127.0.0.1:9/track.mp3")
    assert node.until(lambda m: "play" in m)["play"] is True
    node.until(lambda m: m.get("event") == "transport" and m["value"] == "PLAYING")
    assert household[0].transport_state == "PLAYING"
    node.send("quit")
    node.until(lambda m: m.get("done"))
    assert not [m for m in node.seen if m.get("event") == "subscriptionError"]
