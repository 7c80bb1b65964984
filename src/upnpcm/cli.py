"""The ``upnpcm`` command line.

Imports are lazy: each command imports what it needs when it runs, so a
one-shot command such as ``upnpcm call`` starts fast (bench/RESULTS.md).

Output is JSON when stdout is not a terminal (NDJSON for streams), readable
text on a terminal; ``--json`` / ``--text`` choose explicitly. ``-D`` logs the
calls made, ``-DD`` also the parsed payloads, ``-DDD`` also the raw XML, on
stderr.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Final, NoReturn

import click

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_UPNP: Final = 1
EXIT_USAGE: Final = 2
EXIT_NETWORK: Final = 3
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: the reader of stdout went away

_EPILOG: Final = """\b
TARGET is an IP address or host name (port 1400 and /xml/device_description.xml
are assumed, as on a Sonos zone player), HOST:PORT, a description URL, or a UDN
(uuid:..., found by SSDP first).

\b
Exit codes: 0 ok; 1 UPnP error (the device answered with a fault);
2 usage error; 3 network error, timeout or an unusable reply.
"""


class Failure(Exception):
    """Leave with a message and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Settings:
    """Options shared by every command (the click context object)."""

    def __init__(self, debug: int, fmt: str | None, interfaces: tuple[str, ...] = ()) -> None:
        self.debug = debug
        self.json = fmt == "json" or (fmt is None and not sys.stdout.isatty())
        self.interfaces = interfaces


def _setup_logging(debug: int, verbose: int = 0) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    levels = [("upnpcm.calls", 1), ("upnpcm.events", 1), ("upnpcm.payloads", 2), ("upnpcm.raw", 3)]
    for name, level in levels:
        logging.getLogger(name).setLevel(logging.INFO if debug >= level else logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def _print_json(obj: object, *, pretty: bool = False) -> None:
    import json

    text = json.dumps(obj, indent=2 if pretty else None, ensure_ascii=False, default=str)
    click.echo(text)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run a command's coroutine; map our errors to exit codes."""
    import asyncio

    from upnpcm.errors import (
        ActionArgumentError,
        LocalProtocolError,
        RemoteProtocolError,
        TransportError,
        UPnPError,
    )

    try:
        asyncio.run(coro)
    except Failure as exc:
        _fail(exc.code, str(exc))
    except UPnPError as exc:
        _fail(
            EXIT_UPNP,
            f"UPnP error {exc.code}" + (f": {exc.description}" if exc.description else ""),
        )
    except ActionArgumentError as exc:
        _fail(EXIT_USAGE, f"{exc} (a device would answer {exc.code})")
    except (LookupError, LocalProtocolError, ValueError) as exc:
        _fail(EXIT_USAGE, _message(exc))
    except (TransportError, RemoteProtocolError, OSError) as exc:
        _fail(EXIT_NETWORK, str(exc) or type(exc).__name__)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        _fail(130, "interrupted")


def _message(exc: BaseException) -> str:
    """An exception's message as written: ``str(KeyError("x"))`` is ``"'x'"``."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"upnpcm: {message}", err=True)
    sys.exit(code)


async def _location(target: str, *, timeout: float = 3.0, interfaces: tuple[str, ...] = ()) -> str:
    """Turn a TARGET into a description URL (see the epilog)."""
    target = target.strip()
    if target.lower().startswith(("http://", "https://")):
        return target
    if target.lower().startswith("uuid:"):
        from upnpcm.aio.discovery import discover

        skipped = 0
        async for found in discover(target, timeout=timeout, interfaces=interfaces):
            location = _reply_location(target, found.udn, found.location, found.source[0])
            if location is not None:
                return location
            if found.udn == target and found.location:
                skipped += 1  # for that device, but its LOCATION points elsewhere
        why = f" ({skipped} replies skipped: LOCATION host is not the sender)" if skipped else ""
        raise Failure(
            EXIT_NETWORK, f"no device {target} answered a search within {timeout:g} s{why}"
        )
    if "/" in target:  # host[:port]/path
        return f"http://{target}"
    if target.startswith("["):  # [v6]:port
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":") or "1400"
        return f"http://[{host}]:{port}/xml/device_description.xml"
    if target.count(":") == 1:
        host, port = target.split(":")
        return f"http://{host}:{port}/xml/device_description.xml"
    if ":" in target:
        return f"http://[{target}]:1400/xml/device_description.xml"
    return f"http://{target}:1400/xml/device_description.xml"


def _reply_location(udn: str, reply_udn: str, location: str | None, source_ip: str) -> str | None:
    """The LOCATION of a search reply for ``udn`` that may be fetched, else None.

    A reply counts only when it is for ``udn``, has a LOCATION, and that
    LOCATION's host is the address the reply came from (rule D1:
    anyone can answer a search with a URL pointing elsewhere).
    """
    from upnpcm.core.ssdp import location_matches_source

    if reply_udn != udn or not location:
        return None
    return location if location_matches_source(location, source_ip) else None


def _parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.UsageError(f"arguments are Name=Value, not {pair!r}")
        if name in values:
            raise click.UsageError(f"argument {name} given twice")
        values[name] = value
    return values


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    return click.pass_obj(fn)


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="upnpcm", prog_name="upnpcm")
@click.option(
    "-D",
    "debug",
    count=True,
    help="Log calls (-D), parsed payloads (-DD), raw XML (-DDD) on stderr.",
)
@click.option(
    "--json",
    "fmt",
    flag_value="json",
    help="JSON output (the default when stdout is not a terminal).",
)
@click.option(
    "--text", "fmt", flag_value="text", help="Readable text output (the default on a terminal)."
)
@click.option(
    "--interface",
    "interfaces",
    multiple=True,
    metavar="IF",
    help="Interface name or address for SSDP (finding a uuid: TARGET; discover). Repeatable.",
)
@click.pass_context
def cli(ctx: click.Context, debug: int, fmt: str | None, interfaces: tuple[str, ...]) -> None:
    """UPnP AV ConnectionManager: host one, or talk to any UPnP device."""
    ctx.obj = Settings(debug, fmt, interfaces)
    if ctx.invoked_subcommand != "serve":
        _setup_logging(debug)


# ----------------------------------------------------------------------- discover


@cli.command(epilog=_EPILOG)
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
@_command
def discover(
    settings: Settings, st: str, timeout: float, interfaces: tuple[str, ...], passive: bool
) -> None:
    """Search for devices; one line (NDJSON) per reply as it arrives."""

    async def run() -> None:
        from upnpcm.aio.discovery import discover as search
        from upnpcm.render import discovered_json

        count = 0
        chosen = interfaces or settings.interfaces
        async for found in search(st, timeout=timeout, interfaces=chosen, passive=passive):
            count += 1
            record = discovered_json(found)
            if settings.json:
                _print_json(record)
            else:
                click.echo(f"{found.kind:8s} {found.usn}  {found.location or ''}")
                click.echo(f"\r{count} found…", err=True, nl=False)
        if not settings.json:
            click.echo(f"\r{count} found in {timeout:g} s", err=True)

    _run(run())


# ----------------------------------------------------------------------- describe


@cli.command(epilog=_EPILOG)
@click.argument("target")
@click.option("-S", "--scpd", "with_scpd", is_flag=True, help="Include every service description.")
@_command
def describe(settings: Settings, target: str, with_scpd: bool) -> None:
    """Print the device tree (and with -S every SCPD) as JSON."""

    async def run() -> None:
        from upnpcm.aio.control_point import ControlPoint
        from upnpcm.render import device_json

        async with ControlPoint() as cp:
            device = await cp.load(await _location(target, interfaces=settings.interfaces))
        data = device_json(device, with_scpd=with_scpd)
        if settings.json:
            _print_json(data)
        else:
            _print_json(data, pretty=True)

    _run(run())


# --------------------------------------------------------------------------- call


@cli.command(epilog=_EPILOG)
@click.argument("target")
@click.argument("service")
@click.argument("action")
@click.argument("arguments", nargs=-1, metavar="[NAME=VALUE]...")
@_command
def call(
    settings: Settings, target: str, service: str, action: str, arguments: tuple[str, ...]
) -> None:
    """Call ACTION of SERVICE with its in-arguments; print the out-arguments.

    SERVICE is a short type (AVTransport), Device/Service
    (MediaServer/ConnectionManager), a serviceId or a full service type.
    Arguments are checked against the service description before sending.
    """
    values = _parse_assignments(arguments)

    async def run() -> None:
        from upnpcm.aio.control_point import ControlPoint
        from upnpcm.core.datatypes import json_value as jsonable

        async with ControlPoint() as cp:
            device = await cp.load(await _location(target, interfaces=settings.interfaces))
            result = await device.service(service).call(action, **values)
        if settings.json:
            _print_json(jsonable(result))
        else:
            for name, value in result.items():
                click.echo(f"{name}: {jsonable(value)}")

    _run(run())


# ---------------------------------------------------------------------- subscribe


@cli.command(epilog=_EPILOG)
@click.argument("target")
@click.argument("services", nargs=-1, metavar="[SERVICE]...")
@click.option(
    "--timeout",
    "requested",
    type=click.IntRange(1, 86400),
    default=1800,
    show_default=True,
    help="TIMEOUT to ask for, in seconds.",
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
    help="Address the NOTIFY listener binds (default: every IPv4 and IPv6 address, one port).",
)
@click.option(
    "--port", "bind_port", type=click.IntRange(0, 65535), default=0, help="Port it binds (0: any)."
)
@click.option(
    "--advertise", "advertise_host", default=None, help="Address to put in CALLBACK (Docker/NAT)."
)
@click.option(
    "--advertise-port", type=click.IntRange(1, 65535), default=None, help="Port to put in CALLBACK."
)
@click.option(
    "--watch-ssdp",
    is_flag=True,
    help="Listen to SSDP and resubscribe at once when the device reboots (BOOTID) or comes back.",
)
@_command
def subscribe(
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
    """Stream the events of SERVICEs (default: every evented one) until interrupted.

    Subscriptions renew themselves at about half the granted TIMEOUT and start
    over on 412, a SEQ gap or a failure (with backoff); every SID is
    unsubscribed on exit. One NDJSON record per event or state change.

    The first SIGINT/SIGTERM (or the end of --duration) unsubscribes and
    leaves; a second signal during that ends the process at once. When the
    reader of stdout goes away (``| head -n 1``), the command unsubscribes
    and leaves quietly with status 141, as if killed by SIGPIPE.
    """
    outcome: dict[str, bool] = {"broken_pipe": False}

    async def run() -> None:
        import asyncio
        import signal

        from upnpcm.aio.control_point import ControlPoint
        from upnpcm.aio.events import EventListener
        from upnpcm.render import event_json, event_text

        if watch_ssdp:
            from upnpcm.aio.ssdp import resolve_interfaces

            try:
                resolve_interfaces(settings.interfaces)
            except ValueError as exc:
                raise Failure(EXIT_USAGE, f"--watch-ssdp: {exc}") from None

        async with ControlPoint() as cp:
            device = await cp.load(await _location(target, interfaces=settings.interfaces))
            chosen = (
                [device.service(s) for s in services]
                if services
                else [r for r in device.services if r.scpd.evented_variables]
            )
            if not chosen:
                raise Failure(EXIT_USAGE, "this device has no evented service")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.getsignal(sig) for sig in signals}

            def begin_shutdown() -> None:
                """Stop, and let a second signal end the process at once."""
                stop.set()
                for sig in signals:
                    loop.remove_signal_handler(sig)
                    signal.signal(sig, signal.SIG_DFL)

            def pipe_broke() -> None:
                outcome["broken_pipe"] = True
                _discard_stdout()
                stop.set()

            def printer(remote: Any) -> Callable[[Any], None]:
                def show(event: Any) -> None:
                    if outcome["broken_pipe"]:
                        return
                    record = event_json(remote, event)
                    try:
                        if settings.json:
                            _print_json(record)
                        else:
                            click.echo(event_text(record))
                        sys.stdout.flush()
                    except BrokenPipeError:
                        pipe_broke()

                return show

            async def watch_stdout() -> None:
                """A reader that left is noticed even while no event comes (bounded by stop)."""
                while not stop.is_set():
                    if _stdout_gone():
                        pipe_broke()
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)

            listener = EventListener(
                cp.http,
                bind_host=bind_host,
                bind_port=bind_port,
                advertise_host=advertise_host,
                advertise_port=advertise_port,
                requested_timeout=requested,
            )
            for sig in signals:
                loop.add_signal_handler(sig, begin_shutdown)
            failure: Failure | None = None
            try:
                async with listener:
                    for remote in chosen:
                        await listener.subscribe(remote, on_event=printer(remote))
                    helpers = [asyncio.create_task(watch_stdout())] if _stdout_is_pipe() else []
                    watcher = (
                        asyncio.create_task(listener.watch_ssdp(interfaces=settings.interfaces))
                        if watch_ssdp
                        else None
                    )
                    waiting: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
                    if watcher is not None:
                        waiting.append(watcher)
                    await asyncio.wait(waiting, timeout=duration, return_when="FIRST_COMPLETED")
                    begin_shutdown()
                    if watcher is not None and watcher.done() and not watcher.cancelled():
                        failure = _watch_failure(watcher.exception())
                    for task in [*waiting, *helpers]:
                        task.cancel()
                    await asyncio.gather(*waiting, *helpers, return_exceptions=True)
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)
                    if previous[sig] is not None:
                        signal.signal(sig, previous[sig])
            if failure is not None:
                raise failure

    _run(run())
    if outcome["broken_pipe"]:
        sys.exit(EXIT_BROKEN_PIPE)


def _watch_failure(exc: BaseException | None) -> Failure:
    """Why --watch-ssdp stopped, as a Failure (it runs until cancelled otherwise)."""
    if isinstance(exc, ValueError):
        return Failure(EXIT_USAGE, f"--watch-ssdp: {exc}")
    if isinstance(exc, OSError):
        return Failure(EXIT_NETWORK, f"--watch-ssdp: {exc.strerror or exc}")
    return Failure(EXIT_NETWORK, f"--watch-ssdp stopped: {exc or 'no reason given'}")


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


def _discard_stdout() -> None:
    """Point stdout at /dev/null: nothing more can be written, and the exit flush stays quiet."""
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


cli.add_command(subscribe, name="eventlog")


# ------------------------------------------------------------------ protocolinfo


def _info_json(entry: Any) -> dict[str, Any]:
    mime = entry.mime
    out: dict[str, Any] = {
        "protocolInfo": str(entry),
        "protocol": entry.protocol,
        "network": entry.network,
        "contentFormat": entry.content_format,
        "additionalInfo": entry.additional_info,
        "mime": {
            "essence": mime.essence,
            "canonical": mime.canonical,
            "parameters": dict(mime.parameters),
        },
    }
    dlna = entry.dlna
    if dlna is not None:
        out["dlna"] = {
            "profile": dlna.profile,
            "timeSeek": dlna.time_seek,
            "byteSeek": dlna.byte_seek,
            "playSpeeds": list(dlna.play_speeds),
            "converted": dlna.converted,
            "flags": None if dlna.flags is None else f"{int(dlna.flags):08x}",
            "flagNames": list(dlna.flag_names),
            "other": dict(dlna.other),
            "problems": list(dlna.problems),
        }
    return out


@cli.group()
def protocolinfo() -> None:
    """Parse and match protocolInfo strings and lists (no network)."""


@protocolinfo.command(name="parse")
@click.argument("values", nargs=-1, required=True)
@_command
def protocolinfo_parse(settings: Settings, values: tuple[str, ...]) -> None:
    r"""Decode each VALUE: one protocolInfo or a comma-separated list (\, escapes a comma)."""
    from upnpcm.core.protocol_info import parse_list

    entries: list[Any] = []
    invalid: list[dict[str, Any]] = []
    for value in values:
        parsed = parse_list(value)
        entries.extend(parsed.entries)
        invalid.extend(
            {"index": bad.index, "text": bad.text, "reason": bad.reason} for bad in parsed.invalid
        )
    _print_json(
        {"entries": [_info_json(e) for e in entries], "invalid": invalid}, pretty=not settings.json
    )
    if invalid and not entries:
        sys.exit(EXIT_USAGE)


@protocolinfo.command(name="match")
@click.argument("offer")
@click.argument("accept")
@_command
def protocolinfo_match(settings: Settings, offer: str, accept: str) -> None:
    """Check OFFER (a Source entry or list) against ACCEPT (a Sink entry or list).

    Prints every compatible pair, best first, with its score; when nothing
    matches, the reasons each pair failed (protocol, network, mime,
    parameters, dlna_profile). Exit status 1 when nothing matches.
    """
    from upnpcm.core.protocol_info import best_pairs, match, parse_list

    offers, accepts = parse_list(offer), parse_list(accept)
    bad = [*offers.invalid, *accepts.invalid]
    if bad:
        raise click.UsageError("; ".join(f"{b.text!r}: {b.reason}" for b in bad))
    pairs = best_pairs(offers, accepts)
    result: dict[str, Any] = {
        "compatible": bool(pairs),
        "pairs": [{"source": str(p.source), "sink": str(p.sink), "score": p.score} for p in pairs],
    }
    if not pairs:
        result["reasons"] = [
            {"source": str(o), "sink": str(a), "reasons": list(match(o, a).reasons)}
            for o in offers
            for a in accepts
        ]
    _print_json(result, pretty=not settings.json)
    if not pairs:
        sys.exit(EXIT_UPNP)


# -------------------------------------------------------------- negotiate / disconnect


async def _connection_managers(
    server: str,
    renderer: str,
    server_service: str | None,
    renderer_service: str | None,
    interfaces: tuple[str, ...],
) -> tuple[Any, Any, Any]:
    from upnpcm.aio.control_point import ControlPoint

    cp = ControlPoint()
    server_device = await cp.load(await _location(server, interfaces=interfaces))
    renderer_device = await cp.load(await _location(renderer, interfaces=interfaces))

    def pick(device: Any, preferred: str, given: str | None) -> Any:
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


@cli.command(epilog=_EPILOG)
@click.argument("server")
@click.argument("renderer")
@click.option(
    "--mime",
    default=None,
    help="Only consider this content format (aliases count: audio/mp3 = audio/mpeg).",
)
@click.option("--protocol", default=None, help="Only consider this protocol (e.g. http-get).")
@_cm_options
@_command
def negotiate(
    settings: Settings,
    server: str,
    renderer: str,
    mime: str | None,
    protocol: str | None,
    server_service: str | None,
    renderer_service: str | None,
) -> None:
    """Choose the best protocolInfo and call PrepareForConnection on both ends.

    Prints both ConnectionIDs, AVTransportID and RcsID as JSON. A side without
    PrepareForConnection falls back to connection 0 (said in "note"). If a side
    refuses (701, 702, 704, …), what was set up is torn down and the JSON says
    which side refused and why (exit status 1).
    """

    async def run() -> None:
        from upnpcm.negotiation import NegotiationError
        from upnpcm.negotiation import negotiate as do_negotiate

        cp, server_cm, renderer_cm = await _connection_managers(
            server, renderer, server_service, renderer_service, settings.interfaces
        )
        try:
            result = await do_negotiate(server_cm, renderer_cm, mime=mime, protocol=protocol)
        except NegotiationError as exc:
            _print_json(exc.as_json(), pretty=not settings.json)
            raise Failure(EXIT_UPNP, str(exc)) from None
        finally:
            await cp.close()
        _print_json(result.as_json(), pretty=not settings.json)

    _run(run())


@cli.command(epilog=_EPILOG)
@click.argument("server")
@click.argument("renderer")
@click.option("--server-connection", type=int, required=True, help="The server's ConnectionID.")
@click.option("--renderer-connection", type=int, required=True, help="The renderer's ConnectionID.")
@_cm_options
@_command
def disconnect(
    settings: Settings,
    server: str,
    renderer: str,
    server_connection: int,
    renderer_connection: int,
    server_service: str | None,
    renderer_service: str | None,
) -> None:
    """Call ConnectionComplete on both ends of a negotiated connection (0 is skipped)."""

    async def run() -> None:
        from upnpcm.negotiation import disconnect as do_disconnect

        cp, server_cm, renderer_cm = await _connection_managers(
            server, renderer, server_service, renderer_service, settings.interfaces
        )
        try:
            result = await do_disconnect(
                server_cm, server_connection, renderer_cm, renderer_connection
            )
        finally:
            await cp.close()
        _print_json(result, pretty=not settings.json)
        if any(side.get("completed") is False for side in result.values()):
            raise Failure(EXIT_UPNP, "a side refused ConnectionComplete")

    _run(run())


# -------------------------------------------------------------------------- serve


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
@_command
def serve(
    settings: Settings,
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

    _setup_logging(settings.debug, verbose)
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
    if interfaces:
        updates["interfaces"] = interfaces
    device_settings = replace(device_settings, **updates)
    import asyncio

    from upnpcm.serve import run_forever

    try:
        code = asyncio.run(run_forever(device_settings, state_dir=state_dir))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="upnpcm")


if __name__ == "__main__":  # pragma: no cover
    main()
