"""``protocolinfo parse`` and ``protocolinfo match``: protocolInfo strings, no network."""

from __future__ import annotations

import sys
from typing import Any

import click

from upnpcm.cli.common import EXIT_UPNP, EXIT_USAGE, Settings, command, print_json

__all__ = ["COMMANDS", "protocolinfo"]


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


@click.group()
def protocolinfo() -> None:
    """Parse and match protocolInfo strings and lists (no network)."""


@protocolinfo.command(name="parse")
@click.argument("values", nargs=-1, required=True)
@command
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
    print_json(
        {"entries": [_info_json(e) for e in entries], "invalid": invalid}, pretty=not settings.json
    )
    if invalid and not entries:
        sys.exit(EXIT_USAGE)


@protocolinfo.command(name="match")
@click.argument("offer")
@click.argument("accept")
@command
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
    print_json(result, pretty=not settings.json)
    if not pairs:
        sys.exit(EXIT_UPNP)


#: Name → command, registered by :mod:`upnpcm.cli`.
COMMANDS: dict[str, click.Command] = {"protocolinfo": protocolinfo}
