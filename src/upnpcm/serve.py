"""``upnpcm serve``: run a hosted device until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from upnpcm.errors import ConfigError
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

__all__ = ["run_forever"]


async def run_forever(
    settings: DeviceSettings, *, state_dir: Path | str | None = None, players: int | None = None
) -> int:
    """Serve until a stop signal; return the process exit code.

    0 after a clean stop; 2 when an ``interfaces`` selector matches nothing
    (a usage error, said in one line); 3 when a port cannot be bound. The
    ``sonos`` profile serves a household (``players`` zone players) with its
    control endpoint (``upnpcm household``).

    Raises:
        ConfigError: the settings cannot build a device.
    """
    if settings.profile == "sonos":
        return await _run_household(settings, state_dir=state_dir, players=players)
    if players is not None:
        raise ConfigError("--players runs a household of zone players: use it with --profile sonos")
    host = DeviceHost(settings, state_dir=state_dir)
    return await _until_stopped(
        host.start, host.stop, port=host.server.requested_port, serving=lambda: _serving(host)
    )


async def _until_stopped(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    *,
    port: int,
    serving: Callable[[], str],
) -> int:
    """``start`` (it cleans up after itself when it fails), serve until a signal, ``stop``."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await start()
    except OSError as exc:
        _remove_handlers(loop)
        what = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        print(f"upnpcm: cannot listen on port {port}: {what}", file=sys.stderr)
        return 3
    except ValueError as exc:  # e.g. --interface names no local interface or address
        _remove_handlers(loop)
        print(f"upnpcm: {exc}", file=sys.stderr)
        return 2
    print(serving(), file=sys.stderr, flush=True)
    try:
        await stopped.wait()
    finally:
        await stop()
        _remove_handlers(loop)
    print("upnpcm: stopped", file=sys.stderr, flush=True)
    return 0


async def _run_household(
    settings: DeviceSettings, *, state_dir: Path | str | None, players: int | None
) -> int:
    """``serve --profile sonos [--players N]``: a household and its control endpoint."""
    from upnpcm.sonos.control import ControlServer
    from upnpcm.sonos.household import Household, player_addresses
    from upnpcm.state import StateStore

    hosts = list(settings.host)
    if players is None:
        addresses = hosts[:1] if len(hosts) == 1 else [""]  # one player, where serve listens
        if len(hosts) > 1:
            raise ConfigError(
                "one zone player listens on one address: give one --host, or --players"
            )
    elif hosts:
        if len(hosts) != players:
            raise ConfigError(
                f"--players {players} needs {players} --host addresses, one per player "
                f"(or none: 127.0.0.2, 127.0.0.3, …), not {len(hosts)}"
            )
        addresses = hosts
    else:
        addresses = player_addresses(players)
    port = settings.port if settings.port is not None else 1400
    directory = StateStore(state_dir).directory
    household = Household(
        addresses=addresses, port=port, ssdp=settings.ssdp, state_dir=directory, settings=settings
    )
    control = ControlServer(household, directory)

    async def start() -> None:
        await household.start()  # it stops what it started when it fails
        try:
            await control.start()
        except BaseException:
            await household.stop()
            raise

    async def stop() -> None:
        await control.stop()
        await household.stop()

    return await _until_stopped(
        start, stop, port=port, serving=lambda: _household_serving(household, directory)
    )


def _household_serving(household: Any, directory: Path) -> str:
    """Each player's room and URL, where SSDP runs, and how to reach the control endpoint."""
    players = household.players
    count = "1 player" if len(players) == 1 else f"{len(players)} players"
    ports = sorted({p.port for p in players})
    where = f"port {ports[0]}" if len(ports) == 1 else f"ports {', '.join(map(str, ports))}"
    lines = [
        f"upnpcm: serving profile sonos (household {household.household_id}, {count}) on {where}"
    ]
    width = max(len(p.room) for p in players)
    lines += [f"upnpcm:   {p.room:<{width}}  {p.location}" for p in players]
    ssdp = players[0].host.ssdp
    if ssdp is not None:
        names = ", ".join(dict.fromkeys(i.name for i in ssdp.interfaces))
        lines.append(f"upnpcm: SSDP advertises them on {names} (each from its own address)")
    else:
        lines.append("upnpcm: no SSDP (--no-ssdp): control points need one of the URLs above")
    lines.append(
        f"upnpcm: faults and speaker buttons: upnpcm household --state-dir {directory} --help"
    )
    return "\n".join(lines)


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
