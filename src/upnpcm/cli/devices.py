"""``discover``, ``describe`` and ``call``: find devices, read them, call their actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from upnpcm.cli.common import (
    EPILOG,
    Settings,
    StatusLine,
    command,
    emit,
    foreign_urls_option,
    interface_option,
    parse_assignments,
    print_json,
    run,
    timeout_option,
)

if TYPE_CHECKING:
    import asyncio

    from upnpcm.aio.control_point import ControlPoint
    from upnpcm.core.discovery import Discovered

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
@click.option("-v", "--verbose", is_flag=True, help="Text: list each device's services under it.")
@interface_option
@command
def discover(settings: Settings, st: str, timeout: float, passive: bool, verbose: bool) -> None:
    """Search for devices and list them as they answer.

    As text (on a terminal): one row per device (friendly name, type, address,
    UDN), its services under it with -v, while a "searching" line on stderr
    counts down. As JSON (when piped): one line per search reply or
    announcement as it arrives (NDJSON).
    """
    if settings.json:
        run(_replies(settings, st, timeout, passive))
    else:
        run(_DeviceList(settings, verbose).run(st, timeout, passive))


async def _replies(settings: Settings, st: str, timeout: float, passive: bool) -> None:
    """Every reply and announcement, one JSON line each."""
    from upnpcm.aio.discovery import discover as search
    from upnpcm.cli.render import discovered_json

    chosen = settings.interfaces
    async for found in search(st, timeout=timeout, interfaces=chosen, passive=passive):
        print_json(discovered_json(found))


class _DeviceList:
    """``discover`` as text: one row per device (its description fetched), found so far."""

    def __init__(self, settings: Settings, verbose: bool) -> None:
        self.settings = settings
        self.verbose = verbose
        self.status = StatusLine()
        self.fetches: dict[str, asyncio.Task[None]] = {}
        self.shown: set[str] = set()
        self.header_shown = False

    async def run(self, st: str, timeout: float, passive: bool) -> None:
        """Search for ``timeout`` s; wait for the descriptions still loading; say how many."""
        import asyncio

        from upnpcm.aio.discovery import discover as search

        loop = asyncio.get_running_loop()
        ends = loop.time() + timeout
        ticker = asyncio.create_task(self._count_down(ends))
        # Each description has as long as the search, and at least 2 s, to arrive.
        self.settings.timeout = max(2.0, timeout)
        try:
            async with self.settings.control_point() as cp:
                chosen = self.settings.interfaces
                async for found in search(st, timeout=timeout, interfaces=chosen, passive=passive):
                    if found.kind == "byebye":
                        self._print([f"byebye   {found.usn}"])
                        continue
                    key = found.location or found.udn
                    if key not in self.fetches:
                        self.fetches[key] = asyncio.create_task(self._describe(cp, found))
                await asyncio.gather(*self.fetches.values())
        finally:
            ticker.cancel()
            self.status.clear()
        count = len(self.shown)
        click.echo(f"{count} device{'' if count == 1 else 's'} found in {timeout:g} s", err=True)

    async def _count_down(self, ends: float) -> None:
        import asyncio
        import math

        loop = asyncio.get_running_loop()
        while True:
            left = max(0, math.ceil(ends - loop.time()))
            found = f", {len(self.shown)} found" if self.shown else ""
            self.status.show(f"searching ({left} s){found}…")
            await asyncio.sleep(0.25)

    async def _describe(self, cp: ControlPoint, found: Discovered) -> None:
        """Fetch the description behind ``found`` (if it may be fetched) and print its row."""
        from upnpcm.cli.render import device_rows, unknown_device_rows
        from upnpcm.core.ssdp import location_matches_source
        from upnpcm.errors import LocalProtocolError, RemoteProtocolError, TransportError

        if found.location is None:
            rows, udn = unknown_device_rows(found, "no LOCATION"), found.udn
        elif not location_matches_source(found.location, found.source[0]):
            why = "LOCATION is not on the host that answered: not fetched"
            rows, udn = unknown_device_rows(found, why), found.udn
        else:
            try:
                device = await cp.load(found.location, with_scpds=False)
            except (TransportError, RemoteProtocolError, LocalProtocolError) as exc:
                rows, udn = unknown_device_rows(found, str(exc)), found.udn
            else:
                rows, udn = device_rows(device, services=self.verbose), device.root.udn
        if udn not in self.shown:  # one row per device, however many addresses reach it
            self.shown.add(udn)
            self._print(rows)

    def _print(self, lines: list[str]) -> None:
        from upnpcm.cli.render import DEVICE_HEADER

        status = self.status.text
        self.status.clear()
        if not self.header_shown:
            self.header_shown = True
            click.echo(DEVICE_HEADER)
        for line in lines:
            click.echo(line)
        self.status.show(status)


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("-S", "--scpd", "with_scpd", is_flag=True, help="Include every service's actions.")
@timeout_option
@foreign_urls_option
@interface_option
@command
def describe(settings: Settings, target: str, with_scpd: bool) -> None:
    """Show a device's tree: devices, services, actions (-S).

    Each service is shown with the selector that picks it (as SERVICE of
    call and eventlog). As JSON, the elements keep their UPnP names.
    """

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
@foreign_urls_option
@interface_option
@command
def call(
    settings: Settings, target: str, service: str, action: str, arguments: tuple[str, ...]
) -> None:
    """Call an action of a service and print what it returns.

    ACTION gets its in-arguments as NAME=VALUE. SERVICE is a short type (AVTransport) or its capitals (AVT),
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
