"""``play`` and ``browse``: play an item of a server on a renderer; list a server's content."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from upnpcm.cli.common import (
    EXIT_UPNP,
    EXIT_USAGE,
    Settings,
    command,
    foreign_urls_option,
    interface_option,
    print_json,
    run,
    target_epilog,
    timeout_option,
)
from upnpcm.errors import CommandError

if TYPE_CHECKING:
    import asyncio

    from upnpcm.core.content import ResourceChoice
    from upnpcm.core.didl import DidlObject
    from upnpcm.core.transport import Snapshot
    from upnpcm.play import Playback

__all__ = ["COMMANDS", "browse", "play"]

EXIT_INTERRUPTED = 130


def _targets(
    targets: tuple[str, ...], url: str | None, search: str | None
) -> tuple[str | None, str | None, str]:
    """(server, item, renderer) from the positional arguments and the options."""
    if url is not None:
        if len(targets) != 1:
            raise click.UsageError("with --url, give only RENDERER")
        return None, None, targets[0]
    if search is not None:
        if len(targets) != 2:
            raise click.UsageError("with --search, give SERVER and RENDERER")
        return targets[0], None, targets[1]
    if len(targets) != 3:
        raise click.UsageError("give SERVER ITEM RENDERER (or --search, or --url)")
    return targets[0], targets[1], targets[2]


@contextlib.contextmanager
def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (a second one ends the process at once)."""
    import signal

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def first() -> None:
        stop.set()
        for sig in signals:
            loop.add_signal_handler(sig, lambda: sys.exit(EXIT_INTERRUPTED))

    for sig in signals:
        loop.add_signal_handler(sig, first)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            if previous[sig] is not None:
                signal.signal(sig, previous[sig])


class _Progress:
    """A live line on a terminal; NDJSON state records when piped."""

    def __init__(self, settings: Settings) -> None:
        self.json = settings.json
        self.live = not settings.json and sys.stderr.isatty()
        self.last: tuple[object, ...] | None = None

    def __call__(self, snapshot: Snapshot) -> None:
        from upnpcm.cli.render import progress_json, progress_text

        if self.json:
            key = (snapshot.phase, snapshot.state, snapshot.status)
            if key != self.last:
                self.last = key
                print_json(progress_json(snapshot))
        elif self.live:
            click.echo(f"\r{progress_text(snapshot)}\x1b[K", err=True, nl=False)
        else:
            key = (snapshot.phase, snapshot.state, None)
            if key != self.last:
                self.last = key
                click.echo(progress_text(snapshot), err=True)

    def end(self) -> None:
        if self.live:
            click.echo("", err=True)


@click.command(epilog=target_epilog("SERVER", "RENDERER"))
@click.argument("targets", nargs=-1, metavar="SERVER ITEM RENDERER")
@click.option(
    "--search",
    default=None,
    metavar="CRITERIA",
    help="Play the first item a ContentDirectory Search finds (give SERVER RENDERER).",
)
@click.option("--url", default=None, help="Play this URL; no server (give RENDERER and --mime).")
@click.option("--mime", default=None, help="The content format of --url (e.g. audio/mpeg).")
@click.option("--title", default=None, help="The title sent with --url.")
@click.option("--explain", is_flag=True, help="Show every res of the item and why it lost.")
@click.option("--detach", is_flag=True, help="Return once PLAYING; leave it playing.")
@click.option(
    "--listen",
    default=None,
    metavar="ADDRESS",
    help="Address the event listener binds (default: every address).",
)
@timeout_option
@foreign_urls_option
@interface_option
@command
def play(
    settings: Settings,
    targets: tuple[str, ...],
    search: str | None,
    url: str | None,
    mime: str | None,
    title: str | None,
    explain: bool,
    detach: bool,
    listen: str | None,
) -> None:
    """Play an item of a media server on a renderer.

    Plays ITEM of SERVER on RENDERER, watches it, and tears down at the end
    or on Ctrl-C. ITEM is an ObjectID, or a path of titles from the root (Music/Album/Track;
    a title may leave out its file extension; a slash inside a title is written
    as backslash-slash). Each device is loaded once. The item's res that the renderer ranks
    best is chosen (--explain shows all), both ConnectionManagers are prepared
    with its protocolInfo (connection 0 where PrepareForConnection is not
    offered), then SetAVTransportURI with the item's DIDL-Lite, and Play.

    On a terminal a progress line shows state and position; piped, one JSON
    record per step. At the end of the track, or on Ctrl-C (exit status
    130), the renderer is stopped (on Ctrl-C), ConnectionComplete is called on
    every non-zero ConnectionID made, and the subscription is cancelled.
    """
    server, item, renderer = _targets(targets, url, search)
    if url is not None and not mime:
        raise click.UsageError("--url needs --mime")

    async def playing() -> None:
        import asyncio

        from upnpcm.aio.content import ItemNotFound
        from upnpcm.cli.render import choice_json, choice_text, playback_json
        from upnpcm.errors import NegotiationError, PlaybackError
        from upnpcm.play import play as start

        progress = _Progress(settings)

        def chosen(found: DidlObject, ranked: list[ResourceChoice]) -> None:
            if settings.json:
                print_json(choice_json(found, ranked, explain=explain))
            else:
                for line in choice_text(found, ranked, explain=explain):
                    click.echo(line, err=True)

        server_url = await settings.locate(server) if server else None
        renderer_url = await settings.locate(renderer)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        cp = settings.control_point()  # --timeout, and a note when a wait is long
        try:
            with _on_signals(loop, stop):
                starting = asyncio.create_task(
                    start(
                        server_url,
                        item,
                        renderer_url,
                        search=search,
                        url=url,
                        mime=mime,
                        title=title,
                        listen=listen,
                        control_point=cp,
                        on_change=progress,
                        on_chosen=chosen,
                    )
                )
                interrupted = asyncio.create_task(stop.wait())
                await asyncio.wait({starting, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                if not starting.done():  # Ctrl-C while setting up: play() tears down what it made
                    starting.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await starting
                    raise CommandError(EXIT_INTERRUPTED, "interrupted")
                interrupted.cancel()
                try:
                    playback: Playback = starting.result()
                except ItemNotFound as exc:
                    raise CommandError(EXIT_USAGE, str(exc)) from None
                except NegotiationError as exc:
                    raise CommandError(EXIT_UPNP, str(exc)) from None
                except PlaybackError as exc:
                    raise CommandError(EXIT_UPNP, str(exc)) from None
                _report(settings, playback_json(playback, "playing"))
                if detach:
                    await playback.detach()
                    progress.end()
                    return
                ended = asyncio.create_task(playback.wait())
                interrupted = asyncio.create_task(stop.wait())
                await asyncio.wait({ended, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                if not ended.done():
                    ended.cancel()
                    teardown = await playback.stop()
                    progress.end()
                    _report(
                        settings, {**playback_json(playback, "interrupted"), "teardown": teardown}
                    )
                    raise CommandError(EXIT_INTERRUPTED, "interrupted: stopped and torn down")
                interrupted.cancel()
                snapshot = ended.result()
                progress.end()
                _report(
                    settings,
                    {**playback_json(playback, snapshot.phase), "teardown": playback.teardown},
                )
                if snapshot.phase == "failed":
                    raise CommandError(EXIT_UPNP, playback.watch.error or "the renderer failed")
        finally:
            await cp.close()

    run(playing(), listens=True)


def _report(settings: Settings, record: dict[str, Any]) -> None:
    from upnpcm.cli.render import playback_text

    if settings.json:
        print_json(record)
    else:
        click.echo(playback_text(record), err=True)


@click.command(epilog=target_epilog("SERVER"))
@click.argument("server")
@click.argument("object_id", default="0", metavar="[OBJECTID]")
@click.option("--search", default=None, metavar="CRITERIA", help="Search under OBJECTID instead.")
@click.option("--start", type=click.IntRange(0), default=0, help="StartingIndex of the listing.")
@click.option(
    "--limit", type=click.IntRange(0), default=None, help="At most this many objects (default all)."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 5000),
    default=100,
    show_default=True,
    help="RequestedCount of each Browse window.",
)
@timeout_option
@foreign_urls_option
@interface_option
@command
def browse(
    settings: Settings,
    server: str,
    object_id: str,
    search: str | None,
    start: int,
    limit: int | None,
    page_size: int,
) -> None:
    """List what a media server holds.

    The children of OBJECTID (default the root, 0) of SERVER's
    ContentDirectory: a table on a terminal; NDJSON when piped (title, class, ObjectID, each res
    with protocolInfo, size and duration). Read in windows of --page-size;
    TotalMatches is not trusted alone (some servers report 0).
    """

    async def browsing() -> None:
        from upnpcm.aio.content import browse as listing
        from upnpcm.aio.content import search as searching
        from upnpcm.cli.render import didl_json, didl_row

        async with settings.control_point() as cp:
            device = await cp.load(await settings.locate(server))
            cd = device.service("ContentDirectory")
            if search is not None:
                objects = searching(cd, search, object_id, page_size=page_size, limit=limit)
            else:
                objects = listing(cd, object_id, start=start, page_size=page_size, limit=limit)
            count = 0
            async for obj in objects:
                count += 1
                if settings.json:
                    print_json(didl_json(obj))
                else:
                    click.echo(didl_row(obj))
        if not settings.json:
            click.echo(f"{count} object(s)", err=True)

    run(browsing())


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"play": play, "browse": browse}
