"""Start real third-party UPnP devices inside the test namespace (gmediarender, rygel).

Both come from Debian packages that ``scripts/test`` installs. libupnp-based
gmediarender refuses ``lo``, so both live on d0 (10.99.0.1), one end of the
veth pair that exists only inside the namespace. Every process is bounded by
``timeout`` and stopped at the end of the session; their files go to a
temporary directory.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.require import unavailable

DEVICE_IP = "10.99.0.1"
GMR_PORT = 49494
RYGEL_PORT = 49495
GMR_UUID = "11111111-2222-3333-4444-555555555555"
DMS_UUID = "22222222-2222-3333-4444-555555555555"
DMR_UUID = "33333333-2222-3333-4444-555555555555"
LIFETIME = "600"

RYGEL_CONF = """[general]
ipv6=false
enable-transcoding=false
media-engine=librygel-media-engine-gst.so
interface=d0
port={port}
log-level=*:4
allow-upload=false
allow-deletion=false
acl-fallback-policy=true

[MediaExport]
enabled=true
title=upnpcm-rygel-dms
uris={media}
extract-metadata=false
monitor-changes=false
virtual-folders=false

[Playbin]
enabled=true
title=upnpcm-rygel-dmr

[Tracker3]
enabled=false
[Tracker]
enabled=false
[LMS]
enabled=false
[GstLaunch]
enabled=false
[MPRIS]
enabled=false
[External]
enabled=false
[Ruih]
enabled=false
"""


@dataclass
class Peers:
    """Description URLs of the peers that could be started (None: unavailable, with why)."""

    gmediarender: str | None = None
    rygel_server: str | None = None
    rygel_renderer: str | None = None
    missing: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def need(self, name: str) -> str:
        url = getattr(self, name)
        if url is None:
            unavailable(f"{name} is not available here: {self.missing.get(name, 'not started')}")
        return str(url)


def _wait(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def _tone(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(
            b"".join(struct.pack("<h", 8000 if (i // 10) % 2 else -8000) for i in range(8000))
        )


def start_peers(work: Path) -> Peers:
    peers = Peers()
    home = work / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if shutil.which("gmediarender"):
        peers.processes.append(
            subprocess.Popen(
                [
                    "timeout",
                    "-k",
                    "2",
                    LIFETIME,
                    "gmediarender",
                    "-I",
                    "d0",
                    "-p",
                    str(GMR_PORT),
                    "-u",
                    GMR_UUID,
                    "-f",
                    "upnpcm-gmr",
                    "--gstout-audiosink=fakesink",
                    "--gstout-videosink=fakesink",
                    f"--logfile={work / 'gmediarender.log'}",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    else:
        peers.missing["gmediarender"] = "the Debian package gmediarender is not installed"
    templates = Path("/usr/share/rygel/xml")
    if shutil.which("rygel") and (templates / "MediaServer3.xml").exists():
        config = home / "config"
        (config / "Rygel").mkdir(parents=True)
        media = work / "media"
        media.mkdir()
        _tone(media / "tone.wav")
        (config / "rygel.conf").write_text(
            RYGEL_CONF.format(port=RYGEL_PORT, media=media), encoding="utf-8"
        )
        for template, name, uuid in (
            ("MediaServer3.xml", "MediaExport.xml", DMS_UUID),
            ("MediaRenderer2.xml", "Playbin.xml", DMR_UUID),
        ):
            text = (
                (templates / template)
                .read_text(encoding="utf-8")
                .replace("<UDN></UDN>", f"<UDN>uuid:{uuid}</UDN>")
            )
            (config / "Rygel" / name).write_text(text, encoding="utf-8")
        run = home / "run"
        run.mkdir(mode=0o700)
        rygel_env = {
            **env,
            "XDG_CONFIG_HOME": str(config),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_RUNTIME_DIR": str(run),
        }
        peers.processes.append(
            subprocess.Popen(
                ["timeout", "-k", "2", LIFETIME, "rygel"],
                env=rygel_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    else:
        reason = "the Debian packages rygel and rygel-playbin are not installed"
        peers.missing["rygel_server"] = peers.missing["rygel_renderer"] = reason
    gmr = f"http://{DEVICE_IP}:{GMR_PORT}/description.xml"
    if "gmediarender" not in peers.missing:
        if _wait(gmr, 20):
            peers.gmediarender = gmr
        else:
            peers.missing["gmediarender"] = "started but its description never answered"
    dms = f"http://{DEVICE_IP}:{RYGEL_PORT}/{DMS_UUID}.xml"
    dmr = f"http://{DEVICE_IP}:{RYGEL_PORT}/{DMR_UUID}.xml"
    if "rygel_server" not in peers.missing:
        if _wait(dms, 20) and _wait(dmr, 20):
            peers.rygel_server, peers.rygel_renderer = dms, dmr
        else:
            peers.missing["rygel_server"] = peers.missing["rygel_renderer"] = (
                "started but never answered"
            )
    return peers


def stop_peers(peers: Peers) -> None:
    for proc in peers.processes:
        proc.terminate()
    for proc in peers.processes:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
