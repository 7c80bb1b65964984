"""``eventlog`` (also ``subscribe``): stream a device's events until interrupted."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import click

from upnpcm.cli.common import (
    EPILOG,
    EXIT_BROKEN_PIPE,
    EXIT_NETWORK,
    EXIT_USAGE,
    Settings,
    command,
    discard_stdout,
    foreign_urls_option,
    interface_option,
    print_json,
    run,
    timeout_option,
)
from upnpcm.errors import CommandError

if TYPE_CHECKING:
    import asyncio

    from upnpcm.aio.control_point import RemoteDevice, RemoteService
    from upnpcm.aio.events import EventListener
    from upnpcm.core.subscription import SubscriptionEvent

__all__ = ["ALIASES", "COMMANDS", "eventlog"]


class _Options(NamedTuple):
    """What the user asked of ``eventlog`` (see its options)."""

    target: str
    services: tuple[str, ...]
    requested: int
    duration: float | None
    bind_host: str | None
    bind_port: int
    advertise_host: str | None
    advertise_port: int | None
    watch_ssdp: bool


@click.command(epilog=EPILOG)
@click.argument("target")
@click.argument("services", nargs=-1, metavar="[SERVICE]...")
@click.option(
    "--lease",
    "requested",
    type=click.IntRange(1, 86400),
    default=1800,
    show_default=True,
    metavar="SECONDS",
    help="Subscription length to ask for (the TIMEOUT header); renewed before it ends.",
)
@click.option(
    "--duration",
    type=click.FloatRange(0.1),
    default=None,
    help="Stop after this many seconds (default: until interrupted).",
)
@click.option(
    "--bind",
    "bind_host",
    default=None,
    metavar="ADDR",
    help="Address the NOTIFY listener binds (default: every IPv4 and IPv6 address, one port).",
)
@click.option(
    "--port", "bind_port", type=click.IntRange(0, 65535), default=0, help="Port it binds (0: any)."
)
@click.option(
    "--callback-host",
    "--advertise",
    "advertise_host",
    default=None,
    metavar="ADDR",
    help="Address the device is told to send events to (default: the --bind address, "
    "else the one that routes to the device; set it behind NAT or in Docker).",
)
@click.option(
    "--callback-port",
    "--advertise-port",
    "advertise_port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port the device is told to send events to (default: the bound port).",
)
@click.option(
    "--watch-ssdp",
    is_flag=True,
    help="Listen to SSDP and resubscribe at once when the device reboots (BOOTID) or comes back.",
)
@timeout_option
@foreign_urls_option
@interface_option
@command
def eventlog(
    settings: Settings,
    target: str,
    services: tuple[str, ...],
    requested: int,
    duration: float | None,
    bind_host: str | None,
    bind_port: int,
    advertise_host: str | None,
    advertise_port: int | None,
    watch_ssdp: bool,
) -> None:
    """Print a device's events as they come, until stopped.

    SERVICEs are those named (default: every evented one). One line per event or subscription change (NDJSON when the output is
    JSON). Subscriptions renew themselves at about half the granted lease and
    start over after a refusal (412), a gap in SEQ or a failure (with backoff);
    every subscription is ended on exit. Also available as "upnpcm subscribe".

    The first Ctrl-C or SIGTERM (or the end of --duration) unsubscribes and
    leaves; a second one during that ends the process at once. When the reader
    of stdout goes away (as with "| head -n 1"), it unsubscribes and leaves
    quietly with status 141, as if killed by SIGPIPE.
    """
    options = _Options(
        target,
        services,
        requested,
        duration,
        bind_host,
        bind_port,
        advertise_host,
        advertise_port,
        watch_ssdp,
    )
    log = _EventLog(settings, options)
    run(log.run(), listens=True)
    if log.broken_pipe:
        sys.exit(EXIT_BROKEN_PIPE)


class _EventLog:
    """One run of ``eventlog``: subscribe, print each event, stop on a signal or a gone reader."""

    def __init__(self, settings: Settings, options: _Options) -> None:
        import asyncio

        self.settings = settings
        self.options = options
        self.stop = asyncio.Event()
        #: The reader of stdout went away: leave quietly with EXIT_BROKEN_PIPE.
        self.broken_pipe = False

    async def run(self) -> None:
        """Load the device, subscribe to the chosen services and print until told to stop."""
        from upnpcm.aio.events import EventListener, specific_address

        options, interfaces = self.options, self.settings.interfaces
        if options.watch_ssdp:
            from upnpcm.aio.ssdp import resolve_interfaces

            try:
                resolve_interfaces(interfaces)
            except ValueError as exc:
                raise CommandError(EXIT_USAGE, f"--watch-ssdp: {exc}") from None

        # Requests come from the address the listener is bound to, so a device that
        # checks the CALLBACK against the subscriber's address (as ours do) accepts it.
        source = specific_address(options.bind_host)
        async with self.settings.control_point(source_address=source) as cp:
            device = await cp.load(await self.settings.locate(options.target))
            chosen = _chosen_services(device, options.services)
            listener = EventListener(
                cp.http,
                timeout=cp.timeout,
                bind_host=options.bind_host,
                bind_port=options.bind_port,
                advertise_host=options.advertise_host,
                advertise_port=options.advertise_port,
                requested_timeout=options.requested,
            )
            with self._signal_handlers():
                failure = await self._listen(listener, chosen)
            if failure is not None:
                raise failure

    async def _listen(
        self, listener: EventListener, chosen: list[RemoteService]
    ) -> CommandError | None:
        """Subscribe, wait for the stop (or --duration, or --watch-ssdp failing), unsubscribe."""
        import asyncio

        failure: CommandError | None = None
        async with listener:
            for remote in chosen:
                await listener.subscribe(remote, on_event=self._printer(remote))
            helpers = [asyncio.create_task(self._watch_stdout())] if _stdout_is_pipe() else []
            watcher = (
                asyncio.create_task(listener.watch_ssdp(interfaces=self.settings.interfaces))
                if self.options.watch_ssdp
                else None
            )
            waiting: list[asyncio.Task[object]] = [asyncio.create_task(self.stop.wait())]
            if watcher is not None:
                waiting.append(watcher)
            await asyncio.wait(
                waiting, timeout=self.options.duration, return_when="FIRST_COMPLETED"
            )
            self._begin_shutdown()
            if watcher is not None and watcher.done() and not watcher.cancelled():
                failure = _watch_failure(watcher.exception())
            for task in [*waiting, *helpers]:
                task.cancel()
            await asyncio.gather(*waiting, *helpers, return_exceptions=True)
        return failure

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        """SIGINT/SIGTERM begin the shutdown; the previous handlers come back afterwards."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.getsignal(sig) for sig in signals}
        for sig in signals:
            loop.add_signal_handler(sig, self._begin_shutdown)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
                if previous[sig] is not None:
                    signal.signal(sig, previous[sig])

    def _begin_shutdown(self) -> None:
        """Stop, and let a second signal end the process at once."""
        import asyncio
        import signal

        self.stop.set()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL)

    def _pipe_broke(self) -> None:
        self.broken_pipe = True
        discard_stdout()
        self.stop.set()

    def _printer(self, remote: RemoteService) -> Callable[[SubscriptionEvent], None]:
        """What prints ``remote``'s events (NDJSON or one text line each)."""
        from upnpcm.cli.render import event_json, event_text

        def show(event: SubscriptionEvent) -> None:
            if self.broken_pipe:
                return
            record = event_json(remote, event)
            try:
                if self.settings.json:
                    print_json(record)
                else:
                    click.echo(event_text(record))
                sys.stdout.flush()
            except BrokenPipeError:
                self._pipe_broke()

        return show

    async def _watch_stdout(self) -> None:
        """A reader that left is noticed even while no event comes (bounded by stop)."""
        import asyncio

        while not self.stop.is_set():
            if _stdout_gone():
                self._pipe_broke()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.5)


def _chosen_services(device: RemoteDevice, services: tuple[str, ...]) -> list[RemoteService]:
    """The services named, or every evented one."""
    chosen = (
        [device.service(s) for s in services]
        if services
        else [r for r in device.services if r.scpd.evented_variables]
    )
    if not chosen:
        raise CommandError(EXIT_USAGE, "this device has no evented service")
    return chosen


def _watch_failure(exc: BaseException | None) -> CommandError:
    """Why --watch-ssdp stopped, as a CommandError (it runs until cancelled otherwise)."""
    if isinstance(exc, ValueError):
        return CommandError(EXIT_USAGE, f"--watch-ssdp: {exc}")
    if isinstance(exc, OSError):
        return CommandError(EXIT_NETWORK, f"--watch-ssdp: {exc.strerror or exc}")
    return CommandError(EXIT_NETWORK, f"--watch-ssdp stopped: {exc or 'no reason given'}")


def _stdout_is_pipe() -> bool:
    """True when stdout is a pipe or socket (a reader that can go away)."""
    import os
    import stat

    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError, AttributeError):  # closed, or replaced (click's test runner)
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has closed it (poll: POLLERR/POLLHUP)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)  # errors and hang-ups are always reported
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"eventlog": eventlog}
#: Other names a command answers to (not listed; its help says so).
ALIASES: dict[str, str] = {"subscribe": "eventlog"}
