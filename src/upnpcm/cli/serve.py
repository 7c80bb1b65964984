"""``serve``: host ConnectionManager services until SIGINT/SIGTERM."""

from __future__ import annotations

import sys
from typing import Any

import click

from upnpcm.cli.common import Settings, command, interface_option, setup_logging

__all__ = ["COMMANDS", "serve"]


@click.command()
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="ADDR",
    help="Address to listen on (repeatable). Default: all interfaces.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="HTTP port. Default: 1400."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML settings file.",
)
@click.option(
    "--profile",
    type=click.Choice(["standard", "sonos", "renderer"]),
    default=None,
    help="Device profile. Default: standard.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the UDN and BOOTID are kept.",
)
@click.option(
    "--players",
    type=click.IntRange(1, 64),
    default=None,
    help="With --profile sonos: a household of N zone players, on 127.0.0.2, 127.0.0.3, … "
    "(or the --host addresses, one each); `upnpcm household` injects faults.",
)
@click.option("--no-ssdp", is_flag=True, help="Do not advertise or answer searches.")
@click.option(
    "--no-status-page",
    is_flag=True,
    help="Do not serve /status (the live page of connections, subscriptions and events).",
)
@click.option("-v", "--verbose", count=True, help="Log one line per request (-v).")
@interface_option
@command
def serve(
    settings: Settings,
    hosts: tuple[str, ...],
    port: int | None,
    config_path: str | None,
    profile: str | None,
    state_dir: str | None,
    players: int | None,
    no_ssdp: bool,
    no_status_page: bool,
    verbose: int,
) -> None:
    """Host ConnectionManager services until stopped.

    A device (the standard profile by default: a MediaRenderer and a
    MediaServer) answers on port 1400 and is advertised by SSDP; Ctrl-C or
    SIGTERM says byebye and stops it. It prints where it can be reached.
    /status shows what it is doing (HTML in a browser, JSON with
    Accept: application/json, text for curl).
    """
    from dataclasses import replace

    from upnpcm.errors import ConfigError
    from upnpcm.settings import DeviceSettings, load_settings

    setup_logging(settings.debug, verbose)
    try:
        device_settings = load_settings(config_path) if config_path else DeviceSettings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    updates: dict[str, Any] = {}
    if hosts:
        updates["host"] = hosts
    if port is not None:
        updates["port"] = port
    if profile is not None:
        updates["profile"] = profile
    if no_ssdp:
        updates["ssdp"] = False
    if no_status_page:
        updates["status_page"] = False
    if settings.interfaces:
        updates["interfaces"] = settings.interfaces
    device_settings = replace(device_settings, **updates)
    if not device_settings.ssdp and device_settings.interfaces:
        raise click.UsageError(
            "--interface (or [network].interfaces) chooses where SSDP runs; "
            "with --no-ssdp (or [network].ssdp = false) there is none: drop one of them"
        )
    from upnpcm.aio.loops import run
    from upnpcm.serve import run_forever

    try:
        code = run(
            run_forever(device_settings, state_dir=state_dir, players=players), loop=settings.loop
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"serve": serve}
