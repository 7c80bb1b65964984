"""``discover``, ``describe`` and ``call``: find devices, read them, call their actions."""

from __future__ import annotations

import click

from upnpcm.cli.common import (
    EPILOG,
    Settings,
    command,
    emit,
    interface_option,
    parse_assignments,
    print_json,
    run,
    timeout_option,
)

__all__ = ["COMMANDS", "call", "describe", "discover"]


@click.command()
@click.option("--st", default="ssdp:all", show_default=True, help="Search target.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=3.0,
    show_default=True,
    help="Seconds to listen.",
)
@click.option("--passive", is_flag=True, help="Also report ssdp:alive/byebye announcements.")
@interface_option
@command
def discover(settings: Settings, st: str, timeout: float, passive: bool) -> None:
    """Search for devices; one line (NDJSON) per reply as it arrives."""

    async def searching() -> None:
        from upnpcm.aio.discovery import discover as search
        from upnpcm.cli.render import discovered_json, discovered_text

        count = 0
        chosen = settings.interfaces
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
@click.option("-S", "--scpd", "with_scpd", is_flag=True, help="Include every service's actions.")
@timeout_option
@interface_option
@command
def describe(settings: Settings, target: str, with_scpd: bool) -> None:
    """Show the device tree: devices, services, and with -S their actions."""

    async def describing() -> None:
        from upnpcm.cli.render import device_json, device_text

        async with settings.control_point() as cp:
            device = await cp.load(await settings.locate(target))
        emit(settings, device_json(device, with_scpd=with_scpd), device_text)

    run(describing())


@click.command(epilog=EPILOG)
@click.argument("target")
@click.argument("service")
@click.argument("action")
@click.argument("arguments", nargs=-1, metavar="[NAME=VALUE]...")
@timeout_option
@interface_option
@command
def call(
    settings: Settings, target: str, service: str, action: str, arguments: tuple[str, ...]
) -> None:
    """Call ACTION of SERVICE with its in-arguments; print the out-arguments.

    SERVICE is a short type (AVTransport) or its capitals (AVT),
    Device/Service (MediaServer/ConnectionManager or MS/CM), a serviceId or a
    full service type; a name several services share is refused with the
    choices (upnpcm describe shows each service's selector). Arguments are
    checked against the service description before anything is sent.
    """
    values = parse_assignments(arguments)

    async def calling() -> None:
        from upnpcm.cli.render import action_result_text, jsonable

        async with settings.control_point() as cp:
            device = await cp.load(await settings.locate(target))
            result = await device.service(service).call(action, **values)
        emit(
            settings, {name: jsonable(value) for name, value in result.items()}, action_result_text
        )

    run(calling())


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"discover": discover, "describe": describe, "call": call}
