"""The ``upnpcm`` command line.

One module per command group, each with a ``COMMANDS`` mapping (name →
click command) that is registered below:

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

Imports are lazy: each command imports what it needs when it runs, so a
one-shot command such as ``upnpcm call`` starts fast (bench/RESULTS.md).

Output is JSON when stdout is not a terminal (NDJSON for streams), readable
text on a terminal; ``--json`` / ``--text`` choose explicitly, before or after
the command name. ``-D`` logs the calls made, ``-DD`` also the parsed
payloads, ``-DDD`` also the raw HTTP heads and XML, on stderr.
"""

from __future__ import annotations

from upnpcm.cli import (
    check,
    connections,
    devices,
    events,
    household,
    play,
    protocolinfo,
    serve,
    ui,
)
from upnpcm.cli.common import cli

__all__ = ["cli", "main"]

#: Every command module; a new command group is one module and one entry here.
_MODULES = (serve, devices, events, protocolinfo, connections, play, check, ui, household)

for _module in _MODULES:
    for _name, _command in _module.COMMANDS.items():
        cli.add_command(_command, name=_name)
    cli.aliases.update(getattr(_module, "ALIASES", {}))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="upnpcm")
