"""The PrepareForConnection + ConnectionComplete cycle in one process: µs per request, no sockets.

What ``bench/soap_load.py``'s "Prepare+Complete cycle" costs our own code, measured
without wrk, the kernel or a second CPU (so it can be read on a busy machine): the
device is built as ``upnpcm serve`` builds it for that bench (the standard profile,
``[http] max_connections = max_connections_per_peer = 256``,
``[connection_manager] max_connections = 100000``, a Sink list like gmediarender's,
the status page on), and each of ``--connections`` fake connections (an
:class:`~upnpcm.aio.http_server.HttpProtocol` with a transport that only keeps what
is written) gets, in turn, the exact bytes wrk's cycle.lua sends: PrepareForConnection
to /MediaServer/ConnectionManager/Control, then ConnectionComplete of the ID its answer
returned (each connection alternates, as under wrk, where ``response()`` pushes the ID
and the same connection's next ``request()`` pops it). Every answer is checked (200,
an ID in each Prepare answer). The event loop runs (the device's timer and the
connection reaper with it), yielded to every 50 requests.

Prints CPU µs per request (process time, so that another process on the CPU costs little): the whole loop, the harness's own share (the same loop against
a protocol that answers canned bytes) and their difference, our cost. Bounded: at most
``--requests`` (≤ 2,000,000) requests per round, ``--rounds`` (≤ 20) rounds; the best
round is reported.

    python bench/cycle_profile.py [--requests 200000] [--rounds 5] [--loop uvloop|asyncio]
                                  [--profile cprofile|none [--top 45]] [--no-fast-paths]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soap_load import COMPLETE_BODY, LOAD_CONFIG, PREPARE_BODY

from upnpcm.aio.http_server import HttpProtocol, reap_connections
from upnpcm.aio.loops import loop_factory
from upnpcm.host import DeviceHost
from upnpcm.settings import load_settings

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
#: Where the bench's device listens (an address inside its namespace: no traffic goes there).
DEVICE = ("10.99.0.1", 40001)
PEER = ("10.99.0.2", 50000)
PATH = "/MediaServer/ConnectionManager/Control"
#: A Sink list of the size and shape gmediarender answers (about 6.3 KB).
SINK = ",".join(
    f"http-get:*:{kind}/{sub}{n or ''}:*"
    for n in range(6)
    for kind, sub in (
        ("audio", "mpeg"),
        ("audio", "x-flac"),
        ("audio", "ogg"),
        ("audio", "x-wav"),
        ("audio", "mp4"),
        ("video", "x-matroska"),
        ("video", "mp4"),
        ("audio", "x-ms-wma"),
        ("application", "ogg"),
        ("audio", "L16;rate=44100;channels=2"),
        ("video", "quicktime"),
        ("audio", "x-aiff"),
        ("video", "x-ms-wmv"),
        ("audio", "aac"),
        ("video", "webm"),
        ("audio", "webm"),
        ("image", "jpeg"),
        ("audio", "x-m4a"),
    )
)[:6300].rsplit(",", 1)[0]


def request(action: str, body: str) -> bytes:
    """What wrk.format("POST", nil, headers, body) sends (wrk adds Host and Content-Length)."""
    data = body.encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {DEVICE[0]}:{DEVICE[1]}\r\n"
        f'Content-Type: text/xml; charset="utf-8"\r\nSOAPACTION: "{CM}#{action}"\r\n'
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


PREPARE = request("PrepareForConnection", PREPARE_BODY)
_ID = re.compile(rb"<ConnectionID>(\d+)</ConnectionID>")


class FakeTransport:
    """Keeps what is written; everything is handed to the kernel at once."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": DEVICE}.get(name, default)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


class Canned:
    """The harness alone: a protocol answering every request with fixed bytes."""

    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport
        self.prepare = b"HTTP/1.1 200 OK\r\n\r\n<ConnectionID>7</ConnectionID>"
        self.complete = b"HTTP/1.1 200 OK\r\n\r\n"

    def data_received(self, data: bytes) -> None:
        self.transport.write(self.prepare if b"#Prep" in data else self.complete)


def build(fast_paths: bool) -> DeviceHost:
    config = (
        LOAD_CONFIG
        + "[connection_manager]\nmax_connections = 100000\n"
        + f'[renderer]\nsink = "{SINK}"\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(config, encoding="utf-8")
        settings = load_settings(path)
        host = DeviceHost(settings, state_dir=tmp)
    if not fast_paths:
        host.core.memo.enabled = False
        host.server._heads.enabled = False
    return host


async def cycle(host: DeviceHost | None, requests: int, connections: int) -> float:
    """Seconds for ``requests`` requests over ``connections`` fake connections."""
    loop = asyncio.get_running_loop()
    conns: list[tuple[Any, FakeTransport]] = []
    reaper = None
    if host is not None:
        server = host.server
        server._loop = loop
        reaper = asyncio.create_task(reap_connections(server.gate.connections))
    for _ in range(connections):
        transport = FakeTransport()
        if host is None:
            conns.append((Canned(transport), transport))
            continue
        protocol = host.server.gate.protocol(lambda: host.server._protocol(DEVICE))
        assert isinstance(protocol, HttpProtocol)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        conns.append((protocol, transport))
    pending: list[bytes | None] = [None] * connections
    prepare, completes = PREPARE, {}
    started = time.process_time()
    for n in range(requests):
        index = n % connections
        protocol, transport = conns[index]
        connection_id = pending[index]
        if connection_id is None:
            data = prepare
        else:
            data = completes.get(connection_id)
            if data is None:
                data = request("ConnectionComplete", COMPLETE_BODY % connection_id.decode())
                completes = {connection_id: data}  # one: IDs are not sent twice
        protocol.data_received(data)
        answer = transport.out.pop()
        if transport.out or answer[9:12] != b"200":
            raise RuntimeError(f"unexpected answer: {answer[:200]!r}")
        if connection_id is None:
            found = _ID.search(answer)
            if found is None:
                raise RuntimeError(f"no ConnectionID in {answer[:300]!r}")
            pending[index] = found.group(1)
        else:
            pending[index] = None
        if n % 50 == 49:
            await asyncio.sleep(0)
    elapsed = time.process_time() - started
    if reaper is not None:
        reaper.cancel()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--profile", choices=["none", "cprofile"], default="none")
    parser.add_argument("--top", type=int, default=45, help="functions --profile lists")
    parser.add_argument("--no-fast-paths", action="store_true")
    args = parser.parse_args()
    requests = max(100, min(args.requests, 2_000_000))
    rounds = max(1, min(args.rounds, 20))
    connections = max(1, min(args.connections, 256))
    factory = loop_factory(args.loop)

    def run(host: DeviceHost | None, count: int) -> float:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(cycle(host, count, connections))

    if args.profile == "cprofile":
        host = build(not args.no_fast_paths)
        run(host, min(requests, 20_000))  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        run(host, requests)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(max(1, min(args.top, 500)))
        return 0
    harness = min(run(None, requests) for _ in range(rounds))
    best = float("inf")
    for _ in range(rounds):
        host = build(not args.no_fast_paths)  # a fresh device each round: IDs start at 1
        run(host, min(requests, 20_000))  # warm-up: memos filled, code paths hot
        best = min(best, run(host, requests))
        if host.core.activity is not None and host.core.activity.recorded == 0:
            raise RuntimeError("nothing was evented: not the bench's device")
    scale = 1e6 / requests
    print(
        f"{requests} requests x {rounds} rounds, {connections} connections, {args.loop}, "
        f"fast paths {'off' if args.no_fast_paths else 'on'}, Python {sys.version.split()[0]}"
    )
    print(f"whole loop: {best * scale:.2f} µs/request (best round)")
    print(f"harness:    {harness * scale:.2f} µs/request")
    print(f"device:     {(best - harness) * scale:.2f} µs/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
