"""``discover``, ``describe`` and ``call``: find devices, read them, call their actions."""

from __future__ import annotations

import click

from upnpcm.cli.common import (
    EPILOG,
    Settings,
    command,
    location,
    parse_assignments,
    print_json,
    run,
)

__all__ = ["COMMANDS", "call", "describe", "discover"]


@click.command(epilog=EPILOG)
@click.option("--st", default="ssdp:all", show_default=True, help="Search target.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=3.0,
    show_default=True,
    help="Seconds to listen.",
)
@click.option(
    "--interface",
    "interfaces",
    multiple=True,
    metavar="IF",
    help="Interface name or address (repeatable).",
)
@click.option("--passive", is_flag=True, help="Also report ssdp:alive/byebye announcements.")
@command
def discover(
    settings: Settings, st: str, timeout: float, interfaces: tuple[str, ...], passive: bool
) -> None:
    """Search for devices; one line (NDJSON) per reply as it arrives."""

    async def searching() -> None:
        from upnpcm.aio.discovery import discover as search
        from upnpcm.cli.render import discovered_json, discovered_text

        count = 0
        chosen = interfaces or settings.interfaces
        async for found in search(st, timeout=timeout, interfaces=chosen, passive=passive):
            count += 1
            if settings.json:
                print_json(discovered_json(found))
            else:
                click.echo(discovered_text(found))
                click.echo(f"\r{count} found…", err=True, nl=False)
        if not settings.json:
            click.echo(f"\r{count} found in {timeout:g} s", err=True)

    run(searching())


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("-S", "--scpd", "with_scpd", is_flag=True, help="Include every service description.")
@command
def describe(settings: Settings, target: str, with_scpd: bool) -> None:
    """Print the device tree (and with -S every SCPD) as JSON."""

    async def describing() -> None:
        from upnpcm.cli.render import device_json

        async with settings.control_point() as cp:
            device = await cp.load(await location(target, interfaces=settings.interfaces))
        data = device_json(device, with_scpd=with_scpd)
        if settings.json:
            print_json(data)
        else:
            print_json(data, pretty=True)

    run(describing())


@click.command(epilog=EPILOG)
@click.argument("target")
@click.argument("service")
@click.argument("action")
@click.argument("arguments", nargs=-1, metavar="[NAME=VALUE]...")
@command
def call(
    settings: Settings, target: str, service: str, action: str, arguments: tuple[str, ...]
) -> None:
    """Call ACTION of SERVICE with its in-arguments; print the out-arguments.

    SERVICE is a short type (AVTransport), Device/Service
    (MediaServer/ConnectionManager), a serviceId or a full service type.
    Arguments are checked against the service description before sending.
    """
    values = parse_assignments(arguments)

    async def calling() -> None:
        from upnpcm.cli.render import action_result_text, jsonable

        async with settings.control_point() as cp:
            device = await cp.load(await location(target, interfaces=settings.interfaces))
            result = await device.service(service).call(action, **values)
        if settings.json:
            print_json(jsonable(result))
        else:
            for line in action_result_text(result):
                click.echo(line)

    run(calling())


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"discover": discover, "describe": describe, "call": call}
