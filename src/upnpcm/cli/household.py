"""``household``: faults and speaker buttons for a running ``serve --profile sonos``."""

from __future__ import annotations

from typing import Any

import click

from upnpcm.cli.common import Settings, command, emit

__all__ = ["COMMANDS", "household"]

_PLAYER = click.argument("player", metavar="PLAYER")


def _send(ctx: click.Context, name: str, args: dict[str, Any]) -> None:
    """Send one command to the household and print its answer."""
    from upnpcm.cli.common import report
    from upnpcm.errors import CommandError
    from upnpcm.sonos.control import send_command

    settings = ctx.ensure_object(Settings)
    state_dir = ctx.find_root().meta.get("upnpcm.household.state_dir")
    try:
        result = send_command(_directory(state_dir), name, args)
    except CommandError as exc:
        report(settings, exc.exit_code, str(exc), exc.details)
    emit(settings, result, _text)


def _directory(state_dir: str | None) -> Any:
    from upnpcm.state import StateStore

    return StateStore(state_dir).directory


def _text(result: object) -> list[str]:
    """A player (or the household) as text lines."""
    if isinstance(result, dict) and "players" in result:
        return [f"household {result['household']}", *map(_player_line, result["players"])]
    if isinstance(result, dict) and "room" in result:
        return [_player_line(result)]
    if isinstance(result, dict):
        return [", ".join(f"{k}: {v}" for k, v in result.items())]
    return [str(result)]


def _player_line(player: dict[str, Any]) -> str:
    state = "online" if player["online"] else "offline"
    lead = "coordinator" if player["coordinator"] == player["uid"] else "member"
    return (
        f"{player['room']:<12} {player['address']}:{player['port']:<5} {state:<7} "
        f"BOOTID {player['bootId']:<3} {lead:<11} volume {player['volume']:<3} "
        f"{player['transport']}  {player['uid']}"
    )


@click.group(epilog="PLAYER is a room name (any case), a RINCON_ UUID or an address.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="The state directory `upnpcm serve --profile sonos` was given (default: the same as serve's).",
)
@click.pass_context
def household(ctx: click.Context, state_dir: str | None) -> None:
    """Inject faults into a Sonos household.

    Talks to the control endpoint that `upnpcm serve --profile sonos [--players N]`
    opens on 127.0.0.1 (its address and token are in the state directory).
    Output is JSON when piped, a line per player on a terminal.
    """
    ctx.find_root().meta["upnpcm.household.state_dir"] = state_dir


@household.command("list")
@command
@click.pass_context
def list_players(ctx: click.Context, settings: Settings) -> None:
    """Every player: room, address, BOOTID, group, volume, transport."""
    _send(ctx, "list", {})


@household.command()
@_PLAYER
@click.option(
    "--downtime", type=click.FloatRange(0, 60), default=0.0, help="Seconds it stays down."
)
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Come back on this port.")
@command
@click.pass_context
def reboot(
    ctx: click.Context, settings: Settings, player: str, downtime: float, port: int | None
) -> None:
    """Reboot: byebye, subscriptions forgotten (renewals get 412), BOOTID +1, alive."""
    _send(ctx, "reboot", {"player": player, "downtime": downtime, "port": port})


@household.command()
@_PLAYER
@click.option("--byebye", is_flag=True, help="Say ssdp:byebye first (default: vanish silently).")
@command
@click.pass_context
def offline(ctx: click.Context, settings: Settings, player: str, byebye: bool) -> None:
    """Take a player off the network (the others list it as vanished)."""
    _send(ctx, "offline", {"player": player, "byebye": byebye})


@household.command()
@_PLAYER
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Come back on this port.")
@command
@click.pass_context
def online(ctx: click.Context, settings: Settings, player: str, port: int | None) -> None:
    """Bring a player back (with the next BOOTID)."""
    _send(ctx, "online", {"player": player, "port": port})


@household.command()
@_PLAYER
@click.argument("port", type=click.IntRange(0, 65535))
@command
@click.pass_context
def move(ctx: click.Context, settings: Settings, player: str, port: int) -> None:
    """Serve a player on another port from now on (a restart there)."""
    _send(ctx, "move", {"player": player, "port": port})


@household.command()
@_PLAYER
@click.option(
    "--delay", type=click.FloatRange(0, 60), default=0.0, help="Seconds each NOTIFY waits."
)
@click.option("--fail", is_flag=True, help="Send no NOTIFY at all (each counts as refused).")
@command
@click.pass_context
def notify(ctx: click.Context, settings: Settings, player: str, delay: float, fail: bool) -> None:
    """Make a player's NOTIFYs slow or fail (no option: back to normal)."""
    _send(ctx, "notify", {"player": player, "delay": delay, "fail": fail})


@household.command("fail-next")
@_PLAYER
@click.argument("service")
@click.argument("action")
@click.argument("code", type=click.IntRange(100, 999))
@click.option("--times", type=click.IntRange(1, 1000), default=1, help="How many calls fail.")
@click.option("--description", default=None, help="The fault's errorDescription.")
@command
@click.pass_context
def fail_next(
    ctx: click.Context,
    settings: Settings,
    player: str,
    service: str,
    action: str,
    code: int,
    times: int,
    description: str | None,
) -> None:
    """The next call(s) of SERVICE's ACTION answer UPnP error CODE."""
    args = {"player": player, "service": service, "action": action, "code": code, "times": times}
    if description is not None:
        args["description"] = description
    _send(ctx, "fail-next", args)


@household.command()
@_PLAYER
@click.argument("level", type=click.IntRange(0, 100))
@command
@click.pass_context
def volume(ctx: click.Context, settings: Settings, player: str, level: int) -> None:
    """Turn the volume on the speaker itself (subscribers hear of it)."""
    _send(ctx, "volume", {"player": player, "volume": level})


@household.command()
@_PLAYER
@click.argument("state", type=click.Choice(["on", "off"]))
@command
@click.pass_context
def mute(ctx: click.Context, settings: Settings, player: str, state: str) -> None:
    """Mute or unmute on the speaker itself."""
    _send(ctx, "mute", {"player": player, "mute": state == "on"})


@household.command("play-pause")
@_PLAYER
@command
@click.pass_context
def play_pause(ctx: click.Context, settings: Settings, player: str) -> None:
    """Press the play/pause button (the group plays or pauses)."""
    _send(ctx, "play-pause", {"player": player})


@household.command("next")
@_PLAYER
@command
@click.pass_context
def next_track(ctx: click.Context, settings: Settings, player: str) -> None:
    """Skip to the next track of the queue."""
    _send(ctx, "next", {"player": player})


@household.command()
@_PLAYER
@click.argument("uri")
@command
@click.pass_context
def play(ctx: click.Context, settings: Settings, player: str, uri: str) -> None:
    """Play URI as if chosen in the Sonos app (a track change)."""
    _send(ctx, "play", {"player": player, "uri": uri})


@household.command()
@_PLAYER
@click.argument("coordinator")
@command
@click.pass_context
def join(ctx: click.Context, settings: Settings, player: str, coordinator: str) -> None:
    """Group PLAYER with COORDINATOR's group."""
    _send(ctx, "join", {"player": player, "coordinator": coordinator})


@household.command()
@_PLAYER
@command
@click.pass_context
def unjoin(ctx: click.Context, settings: Settings, player: str) -> None:
    """Take PLAYER out of its group."""
    _send(ctx, "unjoin", {"player": player})


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"household": household}
