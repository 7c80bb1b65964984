"""The ``upnpcm`` command line.

One module per command group, each with a ``COMMANDS`` mapping (name →
click command), named in ``_COMMANDS`` below:

- :mod:`~upnpcm.cli.serve`: ``serve``
- :mod:`~upnpcm.cli.devices`: ``discover``, ``describe``, ``call``
- :mod:`~upnpcm.cli.events`: ``eventlog`` (alias ``subscribe``)
- :mod:`~upnpcm.cli.protocolinfo`: ``protocolinfo parse`` / ``match``
- :mod:`~upnpcm.cli.connections`: ``negotiate``, ``disconnect``
- :mod:`~upnpcm.cli.play`: ``play``, ``browse``
- :mod:`~upnpcm.cli.check`: ``check`` (the conformance checker)
- :mod:`~upnpcm.cli.ui`: ``ui`` (a live control point in the browser)
- :mod:`~upnpcm.cli.household`: ``household`` (faults for ``serve --profile sonos``)

:mod:`~upnpcm.cli.common` holds the group, its options, target resolution and
the exit codes; :mod:`~upnpcm.cli.render` every JSON and text shape printed.

Imports are lazy: a command's module is imported when it runs, and it imports
what it needs then, so a one-shot command starts fast (bench/RESULTS.md).
``upnpcm call`` in its plain form does not even import click or asyncio
(:mod:`~upnpcm.cli.quick`); :mod:`~upnpcm.cli.plain` holds what it shares
with the click commands (exit codes, output, errors).

Output is JSON when stdout is not a terminal (NDJSON for streams), readable
text on a terminal; ``--json`` / ``--text`` choose explicitly, before or after
the command name. ``-D`` logs the calls made, ``-DD`` also the parsed
payloads, ``-DDD`` also the raw HTTP heads and XML, on stderr.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upnpcm.cli.common import _Group

__all__ = ["cli", "main"]

#: Every command: its name → the module of ``upnpcm.cli`` whose ``COMMANDS`` holds it
#: (and aliases in its ``ALIASES``). A module is imported when one of its commands
#: runs, or for the list in ``--help``: ``upnpcm call`` does not load the checker.
_COMMANDS = {
    "serve": "serve",
    "discover": "devices",
    "describe": "devices",
    "call": "devices",
    "eventlog": "events",
    "protocolinfo": "protocolinfo",
    "negotiate": "connections",
    "disconnect": "connections",
    "play": "play",
    "browse": "play",
    "check": "check",
    "ui": "ui",
    "household": "household",
}
#: Other names of a command, listed in ``--help`` (a module's ``ALIASES``).
_ALIASES = {"subscribe": "eventlog"}


def _group() -> _Group:
    """The ``upnpcm`` click group, its commands registered (click is imported here)."""
    from upnpcm.cli.common import cli

    cli.lazy.update(_COMMANDS)
    cli.aliases.update(_ALIASES)
    return cli


def __getattr__(name: str) -> Any:
    """``upnpcm.cli.cli``: the click group, imported when first asked for."""
    if name == "cli":
        return _group()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a plain ``call`` quickly, everything else through click."""
    from upnpcm.cli.quick import leave, plain_call, run_plain_call

    plan = plain_call(sys.argv[1:] if argv is None else list(argv))
    if plan is None:
        _group().main(args=argv, prog_name="upnpcm")  # exits
    # A one-shot process: what it allocates is freed by reference counting, and
    # collections would only walk the modules it imports (about 3 ms).
    gc.disable()
    try:
        code = run_plain_call(plan)
    finally:
        if argv is not None:  # called in-process: the caller's process goes on
            gc.enable()
    if argv is None:  # the console script: end the process without its teardown
        leave(code)
    if code:
        sys.exit(code)
