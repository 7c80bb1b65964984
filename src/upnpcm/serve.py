"""``upnpcm serve``: run a hosted device until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import signal
import sys
from pathlib import Path

from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

__all__ = ["run_forever"]


async def run_forever(settings: DeviceSettings, *, state_dir: Path | str | None = None) -> int:
    """Serve until a stop signal; return the process exit code.

    0 after a clean stop; 2 when an ``interfaces`` selector matches nothing
    (a usage error, said in one line); 3 when a port cannot be bound.

    Raises:
        ConfigError: the settings cannot build a device.
    """
    host = DeviceHost(settings, state_dir=state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
    except OSError as exc:
        _remove_handlers(loop)
        what = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        print(
            f"upnpcm: cannot listen on port {host.server.requested_port}: {what}", file=sys.stderr
        )
        return 3
    except ValueError as exc:  # e.g. --interface names no local interface or address
        _remove_handlers(loop)
        print(f"upnpcm: {exc}", file=sys.stderr)
        return 2
    print(_serving(host), file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await host.stop()
        _remove_handlers(loop)
    print("upnpcm: stopped", file=sys.stderr, flush=True)
    return 0


def _serving(host: DeviceHost) -> str:
    """What is served where: the description's URL at each address, and where SSDP runs."""
    name = host.spec.description.device.friendly_name
    lines = [f"upnpcm: serving profile {host.spec.profile} ({name}) on port {host.port}"]
    lines += [f"upnpcm:   {url}" for url in host.description_urls()]
    if host.ssdp is not None:
        by_name: dict[str, list[str]] = {}
        for interface in host.ssdp.interfaces:
            by_name.setdefault(interface.name, []).append(interface.ip)
        where = ", ".join(f"{name} ({', '.join(ips)})" for name, ips in by_name.items())
        lines.append(f"upnpcm: SSDP advertises it on {where}; BOOTID {host.boot_id}")
    else:
        lines.append("upnpcm: no SSDP (--no-ssdp): control points need one of the URLs above")
    return "\n".join(lines)


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
