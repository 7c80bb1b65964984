"""``ui``: a live control point in the browser (:mod:`upnpcm.ui`), until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

import click

from upnpcm.cli.common import Settings, command, interface_option, setup_logging

__all__ = ["COMMANDS", "ui"]

#: The port the UI listens on unless told otherwise.
DEFAULT_PORT = 8400


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDR",
    help="Address to listen on. Another than loopback lets others drive your devices: "
    "it is allowed, with a warning.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="HTTP port (0: a free one, printed).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=10.0,
    show_default=True,
    help="Seconds for each HTTP request to a device.",
)
@click.option("-v", "--verbose", count=True, help="Log what the UI does (-v).")
@interface_option
@command
def ui(settings: Settings, host: str, port: int, timeout: float, verbose: int) -> None:
    """Look at and drive every device on the network in a browser.

    Opens a web app (on 127.0.0.1:8400 by default) that finds devices as
    they answer a search or announce themselves, opens their trees and
    service descriptions, calls any action from a form (checked as
    `upnpcm call` checks it, with the exact request and answer shown),
    subscribes and shows events as they arrive, shows which media server
    can play to which renderer (and negotiates), and runs `upnpcm check`.
    --interface chooses where SSDP searches and listens (default: every
    interface but loopback). Ctrl-C stops it (subscriptions are cancelled).
    """
    import ipaddress

    from upnpcm.errors import ConfigError

    setup_logging(settings.debug, verbose)
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise click.UsageError(f"--host must be an IP address, not {host!r}") from None
    if not local:
        click.echo(
            f"upnpcm: warning: listening on {host}: anyone who can reach this port can call "
            "actions on your devices through it (it has no login); use 127.0.0.1 unless "
            "you mean that",
            err=True,
        )
    from upnpcm.aio.loops import run

    try:
        code = run(_serve(host, port, settings.interfaces, timeout), loop=settings.loop)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


async def _serve(host: str, port: int, interfaces: tuple[str, ...], timeout: float) -> int:
    import asyncio
    import errno
    import signal

    from upnpcm.ui import UiApp, UiServer

    server = UiServer(UiApp(interfaces=interfaces, timeout=timeout), host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await server.start()
        except OSError as exc:
            what = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            click.echo(f"upnpcm: cannot listen on {host}:{port}: {what}", err=True)
            return 3
        except ValueError as exc:  # --interface names nothing here
            click.echo(f"upnpcm: {exc}", err=True)
            return 2
        where = ", ".join(interfaces) if interfaces else "every interface but loopback"
        click.echo(f"upnpcm: UI at {server.url} (SSDP on {where}); Ctrl-C stops it", err=True)
        await stop.wait()
        await server.stop()
        click.echo("upnpcm: stopped", err=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"ui": ui}
