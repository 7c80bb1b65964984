"""The household's control endpoint: inject faults into a running ``upnpcm serve --profile sonos``.

``serve`` starts an HTTP endpoint on 127.0.0.1 (a free port; loopback only)
and writes where it is, with a random token, to ``household.json`` in its
state directory (mode 0600: only its user can read the token).
``upnpcm household …`` reads that file and sends one command per request::

    POST /v1/<command>   Authorization: Bearer <token>   {"player": "Kitchen", …}

and prints the JSON answer: ``{"result": …}``, or ``{"error": "…"}`` with
status 400 (bad arguments), 401 (no or a wrong token) or 404 (no such
command or player). The commands (:data:`COMMANDS`) are those of
:class:`~upnpcm.sonos.household.HouseholdPlayer`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from upnpcm.errors import CommandError, UPnPError
from upnpcm.sonos.topology import TopologyError

if TYPE_CHECKING:
    from aiohttp import web

    from upnpcm.sonos.household import Household, HouseholdPlayer

__all__ = ["COMMANDS", "CONTROL_FILE", "ControlServer", "send_command"]

CONTROL_FILE: Final = "household.json"
_MAX_BODY: Final = 64 * 1024

Handler = Callable[["HouseholdPlayer", Mapping[str, Any]], Awaitable[object]]


def _number(args: Mapping[str, Any], key: str, kind: type = float, default: Any = None) -> Any:
    value = args.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return kind(value)


def _flag(args: Mapping[str, Any], key: str) -> bool:
    value = args.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _text(args: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


async def _reboot(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    await player.reboot(
        downtime=_number(args, "downtime", float, 0.0), port=_number(args, "port", int)
    )
    return player.describe()


async def _offline(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    await player.go_offline(byebye=_flag(args, "byebye"))
    return player.describe()


async def _online(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    await player.go_online(port=_number(args, "port", int))
    return player.describe()


async def _move(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    port = _number(args, "port", int)
    if port is None:
        raise ValueError("port is needed")
    await player.move(port)
    return player.describe()


async def _notify(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    delay = _number(args, "delay", float, 0.0)
    if delay < 0:
        raise ValueError("delay must not be negative")
    player.notify_faults(delay=delay, fail=_flag(args, "fail"))
    return {"delay": delay, "fail": _flag(args, "fail")}


async def _fail_next(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    code = _number(args, "code", int)
    if code is None:
        raise ValueError("code is needed")
    times = _number(args, "times", int, 1)
    description = args.get("description")
    if description is not None and not isinstance(description, str):
        raise ValueError("description must be a string")
    player.fail_next(_text(args, "service"), _text(args, "action"), code, description, times=times)
    return {"service": args["service"], "action": args["action"], "code": code, "times": times}


async def _volume(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    volume = _number(args, "volume", int)
    if volume is None:
        raise ValueError("volume is needed")
    player.press_volume(volume)
    return player.describe()


async def _mute(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    player.press_mute(_flag(args, "mute"))
    return player.describe()


async def _play_pause(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    return {"transport": player.press_play_pause()}


async def _next(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    player.press_next()
    return player.describe()


async def _play(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    player.play_uri(_text(args, "uri"), _text(args, "metadata", ""))
    return player.describe()


async def _join(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    player.join(_text(args, "coordinator"))
    return player.describe()


async def _unjoin(player: HouseholdPlayer, args: Mapping[str, Any]) -> object:
    player.unjoin()
    return player.describe()


#: Command name -> what it does to the player named by ``player``.
COMMANDS: Final[dict[str, Handler]] = {
    "reboot": _reboot,
    "offline": _offline,
    "online": _online,
    "move": _move,
    "notify": _notify,
    "fail-next": _fail_next,
    "volume": _volume,
    "mute": _mute,
    "play-pause": _play_pause,
    "next": _next,
    "play": _play,
    "join": _join,
    "unjoin": _unjoin,
}


class ControlServer:
    """The endpoint of one running household (module docstring)."""

    def __init__(self, household: Household, directory: Path | str) -> None:
        self.household = household
        self.path = Path(directory) / CONTROL_FILE
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port) and write the control file.

        Raises:
            OSError: no port could be bound, or the file could not be written.
        """
        from aiohttp import web

        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post("/v1/{command}", self._handle)
        app.router.add_get("/v1/list", self._list)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"url": self.url, "token": self.token, "pid": os.getpid()}
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        os.replace(temporary, self.path)

    async def stop(self) -> None:
        """Stop listening and remove the control file (if it is still ours)."""
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text(encoding="utf-8")).get("token") == self.token:
                self.path.unlink()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _list(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if not self._authorised(request):
            return web.json_response({"error": "no or a wrong token"}, status=401)
        return web.json_response({"result": self.describe()})

    def describe(self) -> dict[str, object]:
        """The household: its ID and every player as :meth:`HouseholdPlayer.describe` says."""
        return {
            "household": self.household.household_id,
            "players": [player.describe() for player in self.household.players],
        }

    async def _handle(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if not self._authorised(request):
            return web.json_response({"error": "no or a wrong token"}, status=401)
        name = request.match_info["command"]
        if name == "list":
            return web.json_response({"result": self.describe()})
        handler = COMMANDS.get(name)
        if handler is None:
            known = ", ".join(["list", *COMMANDS])
            return web.json_response({"error": f"no command {name!r} ({known})"}, status=404)
        try:
            args = await request.json()
        except ValueError:
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        if not isinstance(args, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            player = self.household.player(_text(args, "player"))
        except KeyError as exc:
            return web.json_response({"error": exc.args[0]}, status=404)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            result = await handler(player, args)
        except (ValueError, KeyError, TopologyError, UPnPError) as exc:
            # a refused join (an offline player), an empty URI: 400 with the reason, not a 500
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return web.json_response({"error": str(message)}, status=400)
        return web.json_response({"result": result})


def send_command(
    directory: Path | str,
    command: str,
    args: Mapping[str, Any] | None = None,
    *,
    timeout: float = 30.0,
) -> object:
    """Send ``command`` to the household whose state directory is ``directory``; its result.

    Raises:
        CommandError: no household runs there (exit 3), or it refused the command
            (exit 2, with its reason).
    """
    import urllib.error
    import urllib.request

    path = Path(directory) / CONTROL_FILE
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        url, token = str(found["url"]), str(found["token"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandError(
            3,
            f"no running household found ({path} is missing or unreadable): "
            "start one with `upnpcm serve --profile sonos --players N` (the same --state-dir)",
        ) from None
    if not url.startswith("http://127.0.0.1:"):
        raise CommandError(3, f"{path} names {url!r}, not a control endpoint on 127.0.0.1")
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only, checked above
        f"{url}/v1/{command}",
        data=json.dumps(dict(args or {})).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - 127.0.0.1 only
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise CommandError(2, f"the household refused {command}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise CommandError(3, f"the household at {url} did not answer: {exc}") from None
    return answer.get("result")
