"""Adversarial SOAP bodies: does new markup in every request hurt other clients?

Each attack request is a valid GetProtocolInfo of about 14 KiB whose markup is
new every time (a unique attribute on ``s:Body``): the worst input for a
device that learns templates from bodies. Four attacker connections send them
back to back (a separate process, keep-alive) while one legitimate client
sends the plain GetProtocolInfo on its own connection and measures each
answer. Measured for upnpcm's device and, in the same run, for
async_upnp_client's: legitimate p50/p99 before and during the attack, the
attack's request rate, and each device's RSS growth.

Every loop is bounded by ``--seconds`` (and a request count) and stops by
itself; traffic goes to 127.0.0.1 only.

    python bench/soap_adversarial.py [--seconds 5] [--padding 14000]

``--padding`` sets the size of the unique attribute: 14000 gives bodies over
the 4 KiB up to which templates are learnt (the device parses each one);
3000 gives bodies under it (the device learns a template from each one).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soap_load import CM, ENVELOPE, PEER, both_devices, print_table, rss_kib

ATTACKERS = 4
MAX_REQUESTS = 200_000  # per loop: a bound besides the clock
PLAIN = ENVELOPE.format(f'<u:GetProtocolInfo xmlns:u="{CM}"></u:GetProtocolInfo>').encode()


def _request(path: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        'Content-Type: text/xml; charset="utf-8"\r\n'
        f'SOAPACTION: "{CM}#GetProtocolInfo"\r\nContent-Length: {len(body)}\r\n\r\n'
    )
    return head.encode() + body


def _read_reply(sock: socket.socket, buffer: bytearray) -> None:
    """Read one HTTP reply with Content-Length from ``sock`` (keep-alive)."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 :].split(b"\r\n", 1)[0]) if start >= 0 else 0
            total = end + 4 + length
            if len(buffer) >= total:
                del buffer[:total]
                return
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("device closed the connection")
        buffer += chunk


def _attack(path: str, port: int, seconds: float, seed: int, counter, padding: int) -> None:  # type: ignore[no-untyped-def]
    sock = socket.create_connection(("127.0.0.1", port))
    buffer = bytearray()
    stop = time.monotonic() + seconds
    sent = 0
    fill = "p" * padding
    while time.monotonic() < stop and sent < MAX_REQUESTS:
        unique = PLAIN.replace(b"<s:Body>", f'<s:Body a{seed}x{sent}="{fill}">'.encode())
        try:
            sock.sendall(_request(path, port, unique))
            _read_reply(sock, buffer)
        except OSError:
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port))
            buffer.clear()
        sent += 1
    sock.close()
    with counter.get_lock():
        counter.value += sent


def _legit(path: str, port: int, seconds: float) -> list[float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = _request(path, port, PLAIN)
    buffer = bytearray()
    latencies = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop and len(latencies) < MAX_REQUESTS:
        started = time.perf_counter()
        sock.sendall(request)
        _read_reply(sock, buffer)
        latencies.append((time.perf_counter() - started) * 1000)
    sock.close()
    return latencies


def _pcts(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


def measure(name: str, pid: int, port: int, path: str, seconds: float, padding: int) -> str:
    calm = _legit(path, port, seconds)
    rss_before = rss_kib(pid)
    counter = multiprocessing.Value("q", 0)
    attackers = [
        multiprocessing.Process(target=_attack, args=(path, port, seconds, i, counter, padding))
        for i in range(ATTACKERS)
    ]
    for process in attackers:
        process.start()
    time.sleep(0.2)  # the attack is under way
    during = _legit(path, port, seconds - 0.4)
    for process in attackers:
        process.join(seconds + 10)
    rss_after = rss_kib(pid)
    calm_p50, calm_p99 = _pcts(calm)
    p50, p99 = _pcts(during)
    return (
        f"| {name} | {calm_p50:.2f} / {calm_p99:.2f} | {p50:.2f} / {p99:.2f} | "
        f"{counter.value / seconds:,.0f} | {(rss_after - rss_before) / 1024:+.1f} MB |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--padding", type=int, default=14_000)
    args = parser.parse_args()
    rows = []
    paths = {
        "upnpcm": "/MediaServer/ConnectionManager/Control",
        PEER: "/upnp/control/ConnectionManager1",
    }
    with tempfile.TemporaryDirectory() as tmp, both_devices(Path(tmp)) as devices:
        for name, (proc, port) in devices.items():
            rows.append(measure(name, proc.pid, port, paths[name], args.seconds, args.padding))
    print_table(
        [
            "device",
            "legit p50 / p99 (ms), calm",
            "legit p50 / p99 (ms), under attack",
            "attack req/s",
            "device RSS growth",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
