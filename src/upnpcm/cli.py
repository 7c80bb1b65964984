"""The ``upnpcm`` command line.

Imports are lazy: each command imports what it needs when it runs, so a
one-shot command starts fast.

Exit codes: 0 success; 1 UPnP error (the device answered with a fault or
refused); 2 usage error (bad option, argument or config); 3 network error or
timeout.
"""

from __future__ import annotations

import sys
from typing import Any, Final

import click

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_UPNP: Final = 1
EXIT_USAGE: Final = 2
EXIT_NETWORK: Final = 3

_EPILOG: Final = """\b
Exit codes: 0 ok, 1 UPnP error, 2 usage error, 3 network error or timeout.
"""


def _setup_logging(verbose: int, debug: int) -> None:
    import logging

    level = logging.WARNING
    if verbose:
        level = logging.INFO
    if debug:
        level = logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if not debug:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="upnpcm", prog_name="upnpcm")
def cli() -> None:
    """UPnP AV ConnectionManager: host one, or talk to any UPnP device."""


@cli.command(epilog=_EPILOG)
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
    type=click.Choice(["standard", "sonos"]),
    default=None,
    help="Device profile. Default: standard.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the UDN and BOOTID are kept.",
)
@click.option("--no-ssdp", is_flag=True, help="Do not advertise or answer searches.")
@click.option(
    "--interface",
    "interfaces",
    multiple=True,
    metavar="IF",
    help="SSDP interface name or address (repeatable).",
)
@click.option("-v", "--verbose", count=True, help="Log one line per request (-v).")
def serve(
    hosts: tuple[str, ...],
    port: int | None,
    config_path: str | None,
    profile: str | None,
    state_dir: str | None,
    no_ssdp: bool,
    interfaces: tuple[str, ...],
    verbose: int,
) -> None:
    """Host ConnectionManager services until SIGINT/SIGTERM."""
    from dataclasses import replace

    from upnpcm.settings import ConfigError, DeviceSettings, load_settings

    _setup_logging(verbose, 0)
    try:
        settings = load_settings(config_path) if config_path else DeviceSettings()
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
    if interfaces:
        updates["interfaces"] = interfaces
    settings = replace(settings, **updates)
    import asyncio

    from upnpcm.serve import run_forever

    try:
        code = asyncio.run(run_forever(settings, state_dir=state_dir))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="upnpcm")


if __name__ == "__main__":  # pragma: no cover
    main()
