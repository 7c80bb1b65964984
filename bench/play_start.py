"""`upnpcm play`: wall time from start to PLAYING, and the HTTP requests it makes.

Runs inside an isolated network namespace (it re-executes itself under
``unshare -n``, as tests/test_netns.py does): minidlna serves the generated
MP3 (tests/netns/peers.py), gmediarender plays it on d0. Bounded: ``--runs``
runs of each (default 10), interleaved, medians reported.

* ``upnpcm play --detach`` as a process: start to exit, exit right after PLAYING;
* ``upnpcm.play.play()`` in one process, each run with a fresh control point
  (so every device is loaded, once): start to PLAYING, and every HTTP request;
* the peer, async_upnp_client 0.49.0 (pinned test dependency): load the
  renderer with ``UpnpFactory``, SetAVTransportURI with the same URL and
  metadata, Play, poll GetTransportInfo until PLAYING (the renderer half of
  the job only: no server, no Browse, no ConnectionManager).

    python bench/play_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PATH = "Browse Folders/Album/Tone MP3"


def _in_namespace() -> None:
    from tests.test_netns import SETUP, UNSHARE

    argv = " ".join(f"'{a}'" for a in [sys.executable, *sys.argv])
    env = {**os.environ, "UPNPCM_BENCH_NS": "1", "PYTHONPATH": str(ROOT)}
    sys.exit(subprocess.run([*UNSHARE, "sh", "-c", f"{SETUP} && exec {argv}"], env=env).returncode)


async def _library_run(server: str, renderer: str) -> tuple[float, Counter[str], int]:
    from tests.helpers.counting import CountingHttpClient

    from upnpcm.aio.control_point import ControlPoint
    from upnpcm.play import play

    http = CountingHttpClient()
    started = time.perf_counter()
    async with ControlPoint(http=http) as cp:
        playback = await play(server, PATH, renderer, control_point=cp)
        elapsed = time.perf_counter() - started
        requests = list(http.requests)
        await playback.stop()
    kinds: Counter[str] = Counter()
    for method, _url in requests:
        kinds["description+SCPD GET" if method == "GET" else method] += 1
    gets = [url for method, url in requests if method == "GET"]
    return elapsed, kinds, len(gets) - len(set(gets))


async def _peer_run(renderer: str, url: str, metadata: str) -> float:
    from async_upnp_client.aiohttp import AiohttpRequester
    from async_upnp_client.client_factory import UpnpFactory

    started = time.perf_counter()
    factory = UpnpFactory(AiohttpRequester())
    device = await factory.async_create_device(renderer)
    avt = device.service("urn:schemas-upnp-org:service:AVTransport:1")
    await avt.action("SetAVTransportURI").async_call(
        InstanceID=0, CurrentURI=url, CurrentURIMetaData=metadata
    )
    await avt.action("Play").async_call(InstanceID=0, Speed="1")
    for _ in range(400):
        info = await avt.action("GetTransportInfo").async_call(InstanceID=0)
        if info["CurrentTransportState"] == "PLAYING":
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    await avt.action("Stop").async_call(InstanceID=0)
    return elapsed


async def _resolve(server: str) -> tuple[str, str]:
    from upnpcm.aio.content import by_path
    from upnpcm.aio.control_point import ControlPoint
    from upnpcm.core.didl import metadata_for

    async with ControlPoint() as cp:
        cd = (await cp.load(server)).service("ContentDirectory")
        for _ in range(60):
            try:
                item = await by_path(cd, PATH)
                return item.resources[0].url, metadata_for(item, item.resources[0])
            except LookupError:
                await asyncio.sleep(0.5)
    raise SystemExit("minidlna never indexed the media")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if os.environ.get("UPNPCM_BENCH_NS") != "1":
        _in_namespace()
    from tests.netns.peers import start_peers, stop_peers

    work = Path(tempfile.mkdtemp(prefix="play-bench-"))
    peers = start_peers(work, servers=True)
    try:
        server, renderer = peers.need("minidlna"), peers.need("gmediarender")
        url, metadata = asyncio.run(_resolve(server))
        cli, library, peer = [], [], []
        kinds: Counter[str] = Counter()
        repeats = 0
        for _ in range(min(args.runs, 50)):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "upnpcm", "play", "--detach", server, PATH, renderer],
                capture_output=True,
                timeout=60,
                check=False,
            )
            cli.append(time.perf_counter() - started)
            assert done.returncode == 0, done.stderr
            elapsed, kinds, repeats = asyncio.run(_library_run(server, renderer))
            library.append(elapsed)
            peer.append(asyncio.run(_peer_run(renderer, url, metadata)))
        print(f"runs: {len(cli)} each, medians")
        print(
            f"upnpcm play --detach (process, start to exit after PLAYING): {statistics.median(cli):.3f} s"
        )
        print(
            f"upnpcm.play.play() (start to PLAYING, fresh control point): {statistics.median(library):.3f} s"
        )
        print(
            f"async_upnp_client 0.49.0 (renderer half only, to PLAYING): {statistics.median(peer):.3f} s"
        )
        print(
            f"HTTP requests of one play() to PLAYING: {sum(kinds.values())} {dict(sorted(kinds.items()))}"
        )
        print(f"description/SCPD URLs fetched more than once: {repeats}")
    finally:
        stop_peers(peers)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
