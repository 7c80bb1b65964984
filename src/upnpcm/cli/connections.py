"""``negotiate`` and ``disconnect``: set up and tear down a connection between two devices."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from upnpcm.cli.common import (
    EXIT_UPNP,
    Settings,
    command,
    emit,
    foreign_urls_option,
    interface_option,
    run,
    target_epilog,
    timeout_option,
)
from upnpcm.errors import CommandError

if TYPE_CHECKING:
    from upnpcm.aio.control_point import ControlPoint, RemoteDevice, RemoteService

__all__ = ["COMMANDS", "disconnect", "negotiate"]


async def _connection_managers(
    server: str,
    renderer: str,
    server_service: str | None,
    renderer_service: str | None,
    settings: Settings,
) -> tuple[ControlPoint, RemoteService, RemoteService]:
    """A control point (close it) and the ConnectionManagers of both ends."""
    cp = settings.control_point()
    server_device = await cp.load(await settings.locate(server))
    renderer_device = await cp.load(await settings.locate(renderer))

    def pick(device: RemoteDevice, preferred: str, given: str | None) -> RemoteService:
        if given:
            return device.service(given)
        try:
            return device.service(preferred)
        except LookupError:
            return device.service("ConnectionManager")

    return (
        cp,
        pick(server_device, "MediaServer/ConnectionManager", server_service),
        pick(renderer_device, "MediaRenderer/ConnectionManager", renderer_service),
    )


def _cm_options(fn: Callable[..., None]) -> Callable[..., None]:
    """--server-service and --renderer-service, shared by negotiate and disconnect."""
    fn = click.option(
        "--renderer-service",
        default=None,
        help="The renderer's ConnectionManager (default: MediaRenderer/ConnectionManager).",
    )(fn)
    return click.option(
        "--server-service",
        default=None,
        help="The server's ConnectionManager (default: MediaServer/ConnectionManager).",
    )(fn)


@click.command(epilog=target_epilog("SERVER", "RENDERER"))
@click.argument("server")
@click.argument("renderer")
@click.option(
    "--mime",
    default=None,
    help="Only consider this content format (aliases count: audio/mp3 = audio/mpeg).",
)
@click.option("--protocol", default=None, help="Only consider this protocol (e.g. http-get).")
@click.option(
    "--item",
    default=None,
    metavar="OBJECTID",
    help="An item of the server: send its own res@protocolInfo (the one the renderer ranks best).",
)
@_cm_options
@timeout_option
@foreign_urls_option
@interface_option
@command
def negotiate(
    settings: Settings,
    server: str,
    renderer: str,
    mime: str | None,
    protocol: str | None,
    item: str | None,
    server_service: str | None,
    renderer_service: str | None,
) -> None:
    """Set up a connection between a media server and a renderer.

    Chooses the protocolInfo to use and calls PrepareForConnection on both
    ends. With --item, the item's own res@protocolInfo values are ranked
    against the renderer's Sink list and the best is sent; without, a format
    is picked from the Source list (audio/video before images and raw PCM)
    and "chose" says "format". Prints both ConnectionIDs, AVTransportID and
    RcsID. A side without PrepareForConnection falls back to connection 0
    (said in "note"; its IDs from GetCurrentConnectionInfo(0)). If a side
    refuses (701, 702, 704, ...), what was set up is torn down and the error
    says which side refused and why (exit status 1).
    """

    async def negotiating() -> None:
        from upnpcm.cli.render import negotiation_json, negotiation_text
        from upnpcm.negotiation import negotiate as do_negotiate

        cp, server_cm, renderer_cm = await _connection_managers(
            server, renderer, server_service, renderer_service, settings
        )
        try:
            found = None
            if item is not None:
                from upnpcm.aio.content import metadata

                # loaded already: the control point's cache answers (rule M3)
                device = await cp.load(await settings.locate(server))
                found = await metadata(device.service("ContentDirectory"), item)
            result = await do_negotiate(
                server_cm, renderer_cm, mime=mime, protocol=protocol, item=found
            )
        finally:
            await cp.close()
        emit(settings, negotiation_json(result), negotiation_text)

    run(negotiating())


@click.command(epilog=target_epilog("SERVER", "RENDERER"))
@click.argument("server")
@click.argument("renderer")
@click.option("--server-connection", type=int, required=True, help="The server's ConnectionID.")
@click.option("--renderer-connection", type=int, required=True, help="The renderer's ConnectionID.")
@_cm_options
@timeout_option
@foreign_urls_option
@interface_option
@command
def disconnect(
    settings: Settings,
    server: str,
    renderer: str,
    server_connection: int,
    renderer_connection: int,
    server_service: str | None,
    renderer_service: str | None,
) -> None:
    """End a connection that negotiate made, on both ends.

    Calls ConnectionComplete on each side (connection 0 is skipped: it is
    implicit). Exit status 1 if a side refuses.
    """

    async def disconnecting() -> None:
        from upnpcm.cli.render import disconnect_text
        from upnpcm.negotiation import disconnect as do_disconnect

        cp, server_cm, renderer_cm = await _connection_managers(
            server, renderer, server_service, renderer_service, settings
        )
        try:
            result = await do_disconnect(
                server_cm, server_connection, renderer_cm, renderer_connection
            )
        finally:
            await cp.close()
        refused = [role for role, side in result.items() if side.get("completed") is False]
        if refused and settings.json:  # the outcome of both sides goes in the error object
            raise CommandError(
                EXIT_UPNP, f"the {' and '.join(refused)} refused ConnectionComplete", details=result
            )
        emit(settings, result, disconnect_text)
        if refused:
            raise CommandError(EXIT_UPNP, f"the {' and '.join(refused)} refused ConnectionComplete")

    run(disconnecting())


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"negotiate": negotiate, "disconnect": disconnect}
