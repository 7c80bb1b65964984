"""``protocolinfo parse`` and ``protocolinfo match``: protocolInfo strings, no network."""

from __future__ import annotations

import sys

import click

from upnpcm.cli.common import EXIT_UPNP, EXIT_USAGE, Settings, command, emit

__all__ = ["COMMANDS", "protocolinfo"]


@click.group()
def protocolinfo() -> None:
    """Parse and match protocolInfo strings and lists (no network)."""


@protocolinfo.command(name="parse")
@click.argument("values", nargs=-1, required=True)
@command
def protocolinfo_parse(settings: Settings, values: tuple[str, ...]) -> None:
    r"""Decode protocolInfo strings and lists.

    Each VALUE is one protocolInfo or a comma-separated list (\, escapes a
    comma). Exit status 2 if no entry is valid.
    """
    from upnpcm.cli.render import protocol_list_json, protocol_list_text
    from upnpcm.core.protocol_info import InvalidEntry, ProtocolInfo, parse_list

    entries: list[ProtocolInfo] = []
    invalid: list[InvalidEntry] = []
    for value in values:
        parsed = parse_list(value)
        entries.extend(parsed.entries)
        invalid.extend(parsed.invalid)
    emit(settings, protocol_list_json(entries, invalid), protocol_list_text)
    if invalid and not entries:
        sys.exit(EXIT_USAGE)


@protocolinfo.command(name="match")
@click.argument("offer")
@click.argument("accept")
@command
def protocolinfo_match(settings: Settings, offer: str, accept: str) -> None:
    """Check what a source offers against what a sink accepts.

    OFFER is a Source protocolInfo or list, ACCEPT a Sink one. Prints every compatible pair, best first, with its score; when nothing
    matches, the reasons each pair failed (protocol, network, mime,
    parameters, dlna_profile). Exit status 1 when nothing matches.
    """
    from upnpcm.cli.render import match_json, match_text
    from upnpcm.core.protocol_info import best_pairs, parse_list

    offers, accepts = parse_list(offer), parse_list(accept)
    bad = [*offers.invalid, *accepts.invalid]
    if bad:
        raise click.UsageError("; ".join(f"{b.text!r}: {b.reason}" for b in bad))
    pairs = best_pairs(offers, accepts)
    emit(settings, match_json(pairs, offers, accepts), match_text)
    if not pairs:
        sys.exit(EXIT_UPNP)


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"protocolinfo": protocolinfo}
