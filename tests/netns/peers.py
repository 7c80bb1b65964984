"""Start real third-party UPnP devices inside the test namespace.

Renderers: gmediarender, rygel's Playbin renderer. Media servers: rygel's
MediaExport, and (``servers=True``) gerbera and minidlna. All come from Debian
packages that ``scripts/test`` installs. libupnp-based gmediarender and
gerbera refuse ``lo``, so every peer lives on d0 (10.99.0.1), one end of the
veth pair that exists only inside the namespace, and binds only there. Every
process is bounded by ``timeout`` and stopped at the end of the session; their
files (configuration, databases, logs, the generated media) go to a
temporary directory. Each media server serves only that media folder:
``Album/`` with a few seconds of tone as MP3, FLAC and WAV (made with sox) and
a JPEG picture (cjpeg), nothing else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.require import unavailable

DEVICE_IP = "10.99.0.1"
GMR_PORT = 49494
RYGEL_PORT = 49495
GERBERA_PORT = 49496  # libupnp takes only ports >= 49152
MINIDLNA_PORT = 49497
OUR_RENDERER_PORT = 49498  # `upnpcm serve --profile renderer`
GMR_UUID = "11111111-2222-3333-4444-555555555555"
DMS_UUID = "22222222-2222-3333-4444-555555555555"
DMR_UUID = "33333333-2222-3333-4444-555555555555"
GERBERA_UUID = "44444444-2222-3333-4444-555555555555"
MINIDLNA_UUID = "55555555-2222-3333-4444-555555555555"
#: Seconds of tone in each generated track.
TRACK_SECONDS = 8
LIFETIME = "600"

RYGEL_CONF = """[general]
ipv6=false
enable-transcoding={transcoding}
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


MINIDLNA_CONF = """media_dir={media}
port={port}
network_interface=d0
listening_ip=10.99.0.1
friendly_name=upnpcm-minidlna
uuid={uuid}
db_dir={state}
log_dir={state}
inotify=no
notify_interval=895
enable_subtitles=no
"""


@dataclass
class Peers:
    """Description URLs of the peers that could be started (None: unavailable, with why)."""

    gmediarender: str | None = None
    rygel_server: str | None = None
    rygel_renderer: str | None = None
    gerbera: str | None = None
    minidlna: str | None = None
    #: Our own MediaRenderer (`upnpcm serve --profile renderer`), started with the servers.
    upnpcm_renderer: str | None = None
    media: Path | None = None
    missing: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: How a peer was started (argv, environment), for a restart.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

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


#: The generated album: file name → title (servers read titles from file names here).
TRACKS = {"Tone MP3.mp3": "Tone MP3", "Tone FLAC.flac": "Tone FLAC", "Tone WAV.wav": "Tone WAV"}
PICTURE = "Picture.jpg"
#: Formats some renderer cannot take: a PPM picture (not in rygel's Sink list), a text file.
ODD_FILES = ("Raw.ppm", "Notes.txt")


def make_media(folder: Path) -> str | None:
    """``folder/Album``: a tone as MP3, FLAC and WAV (sox), and a JPEG picture (cjpeg).

    Returns why not, when sox, its MP3 support or cjpeg is missing.
    """
    for tool, package in (("sox", "sox"), ("cjpeg", "libjpeg-turbo-progs")):
        if shutil.which(tool) is None:
            return f"the Debian package {package} is not installed"
    album = folder / "Album"
    album.mkdir(parents=True)
    mp3, flac, wav = (album / name for name in TRACKS)
    ppm = folder.parent / "picture.ppm"  # outside the served folder
    ppm.write_bytes(b"P6 16 16 255\n" + bytes([200, 120, 40]) * 256)
    steps = [
        [
            *("sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(wav)),
            *("synth", str(TRACK_SECONDS), "sine", "440", "vol", "0.3"),
        ],
        ["sox", str(wav), str(flac)],
        ["sox", str(wav), "-C", "128", str(mp3)],
        ["cjpeg", "-outfile", str(album / PICTURE), str(ppm)],
        ["cp", str(ppm), str(album / ODD_FILES[0])],
    ]
    (album / ODD_FILES[1]).write_text("not something to play\n", encoding="utf-8")
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            return f"{' '.join(step[:2])} failed (libsox-fmt-mp3 installed?): {done.stderr.strip()}"
    return None


def _gerbera_config(home: Path, media_name: str) -> str:
    """Debian's own /etc/gerbera/config.xml with our home, name and UDN."""
    text = Path("/etc/gerbera/config.xml").read_text(encoding="utf-8")
    text = text.replace("<udn/>", f"<udn>uuid:{GERBERA_UUID}</udn>")
    text = text.replace("<name>gerbera</name>", f"<name>{media_name}</name>")
    return text.replace("<home>/var/lib/gerbera</home>", f"<home>{home}</home>")


def _spawn(peers: Peers, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("wb") as out:
        peers.processes.append(
            subprocess.Popen(
                ["timeout", "-k", "2", LIFETIME, *argv], env=env, stdout=out, stderr=out
            )
        )
    peers.logs[name] = log


def _start_servers(peers: Peers, work: Path, env: dict[str, str], media: Path) -> None:
    """gerbera and minidlna, each serving only ``media`` and bound to d0."""
    if shutil.which("gerbera") and Path("/etc/gerbera/config.xml").exists():
        home = work / "gerbera"
        home.mkdir()
        config = home / "config.xml"
        config.write_text(_gerbera_config(home, "upnpcm-gerbera"), encoding="utf-8")
        argv = ["gerbera", "-c", str(config), "-m", str(home), "-e", "d0"]
        argv += ["-p", str(GERBERA_PORT), "-a", str(media)]
        _spawn(peers, "gerbera", argv, env, work / "gerbera.log")
    else:
        peers.missing["gerbera"] = "the Debian package gerbera is not installed"
    minidlnad = shutil.which("minidlnad") or (
        "/usr/sbin/minidlnad" if Path("/usr/sbin/minidlnad").exists() else None
    )
    if minidlnad:
        state = work / "minidlna"
        state.mkdir()
        conf = state / "minidlna.conf"
        conf.write_text(
            MINIDLNA_CONF.format(media=media, port=MINIDLNA_PORT, uuid=MINIDLNA_UUID, state=state),
            encoding="utf-8",
        )
        argv = [minidlnad, "-S", "-f", str(conf), "-P", str(state / "minidlna.pid")]
        _spawn(peers, "minidlna", argv, env, work / "minidlna.log")
    else:
        peers.missing["minidlna"] = "the Debian package minidlna is not installed"
    state = work / "upnpcm-renderer"
    state.mkdir()
    argv = [sys.executable, "-m", "upnpcm", "serve", "--profile", "renderer", "--no-ssdp"]
    argv += ["--host", DEVICE_IP, "--port", str(OUR_RENDERER_PORT), "--state-dir", str(state)]
    _spawn(peers, "upnpcm_renderer", argv, env, work / "upnpcm-renderer.log")


def start_peers(work: Path, *, servers: bool = False) -> Peers:
    """Start the renderers and rygel; with ``servers`` also gerbera, minidlna and the media."""
    peers = Peers()
    home = work / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if shutil.which("gmediarender"):
        argv = [
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
            # a sink that keeps time, so a track plays as long as it lasts
            "--gstout-audiopipe=fakesink sync=true",
            "--gstout-videopipe=fakesink sync=true",
            f"--logfile={work / 'gmediarender.log'}",
        ]
        peers.commands["gmediarender"] = (argv, env)
        peers.processes.append(
            subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    else:
        peers.missing["gmediarender"] = "the Debian package gmediarender is not installed"
    if servers:
        media = work / "media"
        why = make_media(media)
        if why is None:
            peers.media = media
            _start_servers(peers, work, env, media)
        else:
            for name in ("gerbera", "minidlna", "rygel_server"):
                peers.missing[name] = why
    templates = Path("/usr/share/rygel/xml")
    if shutil.which("rygel") and (templates / "MediaServer3.xml").exists():
        config = home / "config"
        (config / "Rygel").mkdir(parents=True)
        media = work / "media"
        media.mkdir(exist_ok=True)
        if not servers:
            _tone(media / "tone.wav")
        (config / "rygel.conf").write_text(
            RYGEL_CONF.format(
                port=RYGEL_PORT, media=media, transcoding="true" if servers else "false"
            ),
            encoding="utf-8",
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
    for name, url in (
        ("gerbera", f"http://{DEVICE_IP}:{GERBERA_PORT}/description.xml"),
        ("minidlna", f"http://{DEVICE_IP}:{MINIDLNA_PORT}/rootDesc.xml"),
        ("upnpcm_renderer", f"http://{DEVICE_IP}:{OUR_RENDERER_PORT}/xml/device_description.xml"),
    ):
        if servers and name not in peers.missing:
            if _wait(url, 30):
                setattr(peers, name, url)
            else:
                log = peers.logs[name].read_text(errors="replace")[-2000:]
                peers.missing[name] = f"started but its description never answered: {log}"
    return peers


def restart_gmediarender(peers: Peers) -> None:
    """Stop gmediarender (SIGTERM: it says byebye) and start it again; back when it answers."""
    argv, env = peers.commands["gmediarender"]
    old = next(p for p in peers.processes if p.args == argv)
    old.terminate()
    old.wait(timeout=10)
    peers.processes.remove(old)
    peers.processes.append(
        subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    assert peers.gmediarender is not None
    assert _wait(peers.gmediarender, 20), "gmediarender did not come back"


def stop_peers(peers: Peers) -> None:
    for proc in peers.processes:
        proc.terminate()
    for proc in peers.processes:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def until_indexed(url: str, path: str, seconds: float = 30) -> None:
    """Servers scan in the background: wait until the track is there."""
    from upnpcm.aio.content import by_path
    from upnpcm.aio.control_point import ControlPoint

    deadline = time.monotonic() + seconds
    async with ControlPoint() as cp:
        cd = (await cp.load(url)).service("ContentDirectory")
        while True:
            try:
                await by_path(cd, path)
                return
            except LookupError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
