r"""protocolInfo: parse, format, decode DLNA parameters, and match (rules P1-P4).

A protocolInfo is ``<protocol>:<network>:<contentFormat>:<additionalInfo>``,
exactly four fields, split as ``split(":", 3)`` so that additionalInfo may hold
colons; ``*`` is a wildcard in any field (ConnectionManager:1 §2.5.2).

Lists (``SourceProtocolInfo``, ``SinkProtocolInfo``) are comma-separated; a
comma inside an entry is written ``\\,`` and a backslash ``\\\\``. Real devices
are sloppy, so :func:`parse_list` trims whitespace, skips empty entries (Sonos
ends its Sink list with a comma) and re-joins the unescaped commas of a
``DLNA.ORG_PS=`` speed list; an entry that still lacks four fields is
*reported* in :attr:`ProtocolInfoList.invalid`, never silently dropped.

Matching (:func:`match`) follows GUPnP-AV's ``is_compatible`` plus MIME aliases:

1. protocol: either side ``*`` or equal ignoring case; for ``internal`` the
   network fields must be equal too;
2. contentFormat: either side ``*``, or the same MIME type after alias
   normalisation (``audio/mp3`` = ``audio/mpeg``); a bare type matches one with
   parameters (``audio/L16`` ~ ``audio/L16;rate=44100``) but a parameter both
   sides give must agree;
3. ``DLNA.ORG_PN``: absent on either side, ``*``, or equal ignoring case.
   OP, PS, CI and FLAGS never make a pair incompatible.

Every rule is symmetric, so ``match(a, b).compatible == match(b, a).compatible``
and the scores are equal too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Final

from upnpcm.errors import ProtocolInfoError

__all__ = [
    "MIME_ALIASES",
    "DlnaFlags",
    "DlnaInfo",
    "InvalidEntry",
    "MatchResult",
    "MimeType",
    "Pair",
    "ProtocolInfo",
    "ProtocolInfoList",
    "best_pairs",
    "canonical_mime",
    "format_list",
    "match",
    "matches_any",
    "parse_list",
]

WILDCARD: Final = "*"

#: MIME aliases → one canonical type. Each group is an equivalence class.
MIME_ALIASES: Final[dict[str, str]] = {
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-mpeg3": "audio/mpeg",
    "audio/mpg": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-aiff": "audio/aiff",
    "audio/aif": "audio/aiff",
    "audio/x-aif": "audio/aiff",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/wma": "audio/x-ms-wma",
    "audio/x-ogg": "audio/ogg",
    "audio/x-aac": "audio/aac",
    "audio/aacp": "audio/aac",
    "audio/x-mpegurl": "audio/mpegurl",
    "application/x-mpegurl": "application/vnd.apple.mpegurl",
    "video/x-mkv": "video/x-matroska",
    "video/mkv": "video/x-matroska",
    "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
}


def canonical_mime(essence: str) -> str:
    """Lower-case ``type/subtype`` mapped through :data:`MIME_ALIASES`."""
    lowered = essence.strip().lower()
    return MIME_ALIASES.get(lowered, lowered)


@dataclass(frozen=True, slots=True, kw_only=True)
class MimeType:
    """A contentFormat read as a MIME type: ``type/subtype;key=value;…``."""

    essence: str
    parameters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> MimeType:
        """Split off parameters; keys are lower-cased, values unquoted (never raises)."""
        head, *params = text.split(";")
        pairs: list[tuple[str, str]] = []
        for param in params:
            key, _, value = param.partition("=")
            if key.strip():
                pairs.append((key.strip().lower(), value.strip().strip('"')))
        return cls(essence=head.strip(), parameters=tuple(pairs))

    @property
    def canonical(self) -> str:
        """The alias-normalised, lower-case essence."""
        return canonical_mime(self.essence)


class DlnaFlags(IntFlag):
    """The primary ``DLNA.ORG_FLAGS`` bits (DLNA 7.4.1.3.24; rule P4)."""

    LOP_CLEARTEXT_BYTESEEK = 1 << 14
    CLEARTEXT_BYTESEEK_FULL = 1 << 15
    LINK_PROTECTED_CONTENT = 1 << 16
    DLNA_V15 = 1 << 20
    CONNECTION_STALL = 1 << 21
    BACKGROUND_TRANSFER_MODE = 1 << 22
    INTERACTIVE_TRANSFER_MODE = 1 << 23
    STREAMING_TRANSFER_MODE = 1 << 24
    RTSP_PAUSE = 1 << 25
    SN_INCREASING = 1 << 26
    S0_INCREASING = 1 << 27
    PLAY_CONTAINER = 1 << 28
    LOP_BYTE_SEEK = 1 << 29
    LOP_TIME_SEEK = 1 << 30
    SENDER_PACED = 1 << 31


@dataclass(frozen=True, slots=True, kw_only=True)
class DlnaInfo:
    """The DLNA parameters of an additionalInfo field, decoded."""

    profile: str | None = None
    time_seek: bool = False
    byte_seek: bool = False
    play_speeds: tuple[str, ...] = ()
    converted: bool | None = None
    flags: DlnaFlags | None = None
    #: Parameters that are not DLNA.ORG_PN/OP/PS/CI/FLAGS, in order.
    other: tuple[tuple[str, str], ...] = ()
    #: Problems found while decoding (a bad OP or FLAGS value), for diagnostics.
    problems: tuple[str, ...] = ()

    @property
    def flag_names(self) -> tuple[str, ...]:
        """Names of the set primary flag bits, lowest bit first."""
        if self.flags is None:
            return ()
        return tuple(flag.name or "" for flag in DlnaFlags if flag in self.flags)


def _decode_dlna(additional_info: str) -> DlnaInfo | None:
    if additional_info.strip() in ("", WILDCARD):
        return None
    values: dict[str, str] = {}
    other: list[tuple[str, str]] = []
    for param in additional_info.split(";"):
        key, sep, value = param.partition("=")
        key = key.strip()
        if not key:
            continue
        if key.upper() in (
            "DLNA.ORG_PN",
            "DLNA.ORG_OP",
            "DLNA.ORG_PS",
            "DLNA.ORG_CI",
            "DLNA.ORG_FLAGS",
        ):
            values[key.upper()] = value.strip()
        else:
            other.append((key, value.strip() if sep else ""))
    if not values:
        return DlnaInfo(other=tuple(other)) if other else None
    problems: list[str] = []
    op = values.get("DLNA.ORG_OP", "")
    if op and (len(op) != 2 or set(op) - {"0", "1"}):
        problems.append(f"DLNA.ORG_OP {op!r} is not two 0/1 digits")
        op = ""
    flags: DlnaFlags | None = None
    flags_text = values.get("DLNA.ORG_FLAGS")
    if flags_text is not None:
        try:
            if len(flags_text) != 32:
                raise ValueError(flags_text)
            flags = DlnaFlags(int(flags_text[:8], 16) & sum(DlnaFlags))
        except ValueError:
            problems.append(f"DLNA.ORG_FLAGS {flags_text!r} is not 32 hex digits")
    ci = values.get("DLNA.ORG_CI")
    speeds = values.get("DLNA.ORG_PS")
    return DlnaInfo(
        profile=values.get("DLNA.ORG_PN") or None,
        time_seek=op[:1] == "1",
        byte_seek=op[1:2] == "1",
        play_speeds=tuple(s.strip() for s in speeds.split(",") if s.strip()) if speeds else (),
        converted=None if ci is None else ci.strip() == "1",
        flags=flags,
        other=tuple(other),
        problems=tuple(problems),
    )


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    """One protocolInfo value. Create with :meth:`parse` or the four fields."""

    protocol: str
    network: str
    content_format: str
    additional_info: str

    @classmethod
    def parse(cls, text: str) -> ProtocolInfo:
        """Parse one protocolInfo (a DIDL ``res@protocolInfo`` or one list entry).

        Raises:
            ProtocolInfoError: not exactly four ``:``-separated fields.
        """
        fields = text.strip().split(":", 3)
        if len(fields) != 4:
            raise ProtocolInfoError(
                f"protocolInfo {text.strip()[:80]!r} has {len(fields)} field(s), needs 4"
            )
        return cls(*(part.strip() for part in fields))

    def __str__(self) -> str:
        return f"{self.protocol}:{self.network}:{self.content_format}:{self.additional_info}"

    @property
    def mime(self) -> MimeType:
        """The contentFormat as a :class:`MimeType`."""
        return MimeType.parse(self.content_format)

    @property
    def dlna(self) -> DlnaInfo | None:
        """The decoded DLNA parameters, or None when additionalInfo has none."""
        return _decode_dlna(self.additional_info)


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidEntry:
    """A list entry that is not a protocolInfo: where, what, and why."""

    index: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolInfoList:
    """The result of :func:`parse_list`: good entries in order, and the bad ones."""

    entries: tuple[ProtocolInfo, ...] = ()
    invalid: tuple[InvalidEntry, ...] = field(default=())
    #: Positions of the empty entries that were skipped (a trailing comma is the last one, P2).
    empty: tuple[int, ...] = ()
    #: How many comma-separated parts the list had (empty ones included).
    parts: int = 0

    @property
    def trailing_comma(self) -> bool:
        """Whether the list ends with a comma (Sonos does that)."""
        return bool(self.empty) and self.empty[-1] == self.parts - 1 and self.parts > 1

    def __iter__(self) -> Iterator[ProtocolInfo]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def _split_escaped(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            if nxt in (",", "\\"):
                current.append(nxt)
            else:  # a lone backslash is kept as written (lenient)
                current.append("\\" + nxt)
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _ends_in_speed_list(entry: str) -> bool:
    last_param = entry.rsplit(";", 1)[-1].rsplit(":", 1)[-1]
    return last_param.strip().upper().startswith("DLNA.ORG_PS=")


def parse_list(text: str, *, strict: bool = False) -> ProtocolInfoList:
    """Parse a comma-separated protocolInfo list (GetProtocolInfo Source/Sink).

    Args:
        text: the list as received.
        strict: raise on the first invalid entry instead of reporting it.

    Raises:
        ProtocolInfoError: only with ``strict``, for an entry without 4 fields.
    """
    raw_parts = _split_escaped(text)
    merged: list[str] = []
    for part in raw_parts:
        # An unescaped comma inside DLNA.ORG_PS=-2,-1/2,… leaves colon-free
        # fragments behind; glue them back onto the entry they came from.
        if merged and part.strip() and ":" not in part and _ends_in_speed_list(merged[-1]):
            merged[-1] += "," + part
        else:
            merged.append(part)
    entries: list[ProtocolInfo] = []
    invalid: list[InvalidEntry] = []
    empty: list[int] = []
    for index, part in enumerate(merged):
        if not part.strip():
            if len(merged) > 1:  # "" is the empty list, not an empty entry
                empty.append(index)
            continue
        try:
            entries.append(ProtocolInfo.parse(part))
        except ProtocolInfoError as exc:
            if strict:
                raise
            invalid.append(InvalidEntry(index=index, text=part.strip(), reason=str(exc)))
    return ProtocolInfoList(
        entries=tuple(entries), invalid=tuple(invalid), empty=tuple(empty), parts=len(merged)
    )


def format_list(entries: Iterable[ProtocolInfo | str]) -> str:
    r"""Join protocolInfo values into a list, escaping ``\`` and ``,`` in each."""
    return ",".join(str(entry).replace("\\", "\\\\").replace(",", "\\,") for entry in entries)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    """Whether an offer and an accepting entry fit, how well, and why (not).

    ``reasons`` names each failed rule as ``"<rule>: <detail>"`` where rule is
    one of ``protocol``, ``network``, ``mime``, ``parameters``, ``dlna_profile``.
    ``notes`` (only with ``match(..., explain=True)``) says, in the same form,
    how each rule was met: equal fields, a wildcard, a MIME alias, a DLNA
    profile only one side names.
    """

    compatible: bool
    score: int
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.compatible

    @property
    def explanation(self) -> tuple[str, ...]:
        """What met each rule (``notes``), then what failed (``reasons``)."""
        return (*self.notes, *self.reasons)


def _wild(value: str) -> bool:
    return value.strip() == WILDCARD


def match(offer: ProtocolInfo, accept: ProtocolInfo, *, explain: bool = False) -> MatchResult:
    """Check one protocolInfo against another (rules in the module docstring; rule P3).

    The score ranks compatible pairs: exact fields beat aliases beat wildcards;
    an agreeing DLNA profile and agreeing MIME parameters add to it. With
    ``explain`` the result also says how each rule that held was met
    (:attr:`MatchResult.notes`), for a person reading why a pair fits.
    """
    reasons: list[str] = []
    notes: list[str] | None = [] if explain else None
    score = 0
    # 1. protocol (and network for internal)
    if _wild(offer.protocol) or _wild(accept.protocol):
        score += 5
        if notes is not None:
            notes.append(f"protocol: {offer.protocol} ~ {accept.protocol} (wildcard)")
    elif offer.protocol.lower() == accept.protocol.lower():
        score += 20
        if offer.protocol.lower() == "internal" and not (
            _wild(offer.network) or _wild(accept.network) or offer.network == accept.network
        ):
            reasons.append(f"network: {offer.network} ≠ {accept.network} (internal)")
        elif notes is not None:
            notes.append(f"protocol: {offer.protocol} = {accept.protocol}")
    else:
        reasons.append(f"protocol: {offer.protocol} ≠ {accept.protocol}")
    # 2. contentFormat
    if _wild(offer.content_format) or _wild(accept.content_format):
        score += 10
        if notes is not None:
            notes.append(f"mime: {offer.content_format} ~ {accept.content_format} (wildcard)")
    else:
        mime_a, mime_b = offer.mime, accept.mime
        if mime_a.canonical != mime_b.canonical:
            reasons.append(f"mime: {mime_a.essence} ≠ {mime_b.essence}")
        else:
            same = mime_a.essence.lower() == mime_b.essence.lower()
            score += 40 if same else 35
            if notes is not None:
                notes.append(
                    f"mime: {mime_a.essence} = {mime_b.essence}"
                    if same
                    else f"mime: {mime_a.essence} ~ {mime_b.essence} (aliases of {mime_a.canonical})"
                )
            params_b = dict(mime_b.parameters)
            for key, value in mime_a.parameters:
                if key in params_b:
                    if params_b[key].lower() != value.lower():
                        reasons.append(f"parameters: {key}={value} ≠ {key}={params_b[key]}")
                    else:
                        score += 2
                        if notes is not None:
                            notes.append(f"parameters: {key}={value} = {key}={params_b[key]}")
    # 3. DLNA.ORG_PN
    dlna_a, dlna_b = offer.dlna, accept.dlna
    pn_a = dlna_a.profile if dlna_a else None
    pn_b = dlna_b.profile if dlna_b else None
    if pn_a and pn_b and not (_wild(pn_a) or _wild(pn_b)):
        if pn_a.lower() == pn_b.lower():
            score += 15
            if notes is not None:
                notes.append(f"dlna_profile: {pn_a} = {pn_b}")
        else:
            reasons.append(f"dlna_profile: {pn_a} ≠ {pn_b}")
    elif notes is not None and (pn_a or pn_b):
        notes.append(
            f"dlna_profile: {pn_a or 'none'} ~ {pn_b or 'none'} (checked only when both name one)"
        )
    compatible = not reasons
    return MatchResult(
        compatible=compatible,
        score=score if compatible else 0,
        reasons=tuple(reasons),
        notes=tuple(notes or ()),
    )


def matches_any(value: ProtocolInfo, candidates: Iterable[ProtocolInfo]) -> bool:
    """True if ``value`` is compatible with at least one of ``candidates``."""
    return any(match(value, candidate).compatible for candidate in candidates)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """A compatible (source, sink) pair and its score."""

    source: ProtocolInfo
    sink: ProtocolInfo
    score: int


def best_pairs(
    sources: Sequence[ProtocolInfo] | ProtocolInfoList,
    sinks: Sequence[ProtocolInfo] | ProtocolInfoList,
) -> list[Pair]:
    """Every compatible (source, sink) pair, best first.

    Ties keep the server's Source order, then the renderer's Sink order (both
    lists are conventionally written most-preferred first).
    """
    source_entries = sources.entries if isinstance(sources, ProtocolInfoList) else tuple(sources)
    sink_entries = sinks.entries if isinstance(sinks, ProtocolInfoList) else tuple(sinks)
    ranked: list[tuple[int, int, int, Pair]] = []
    for i, source in enumerate(source_entries):
        for j, sink in enumerate(sink_entries):
            result = match(source, sink)
            if result.compatible:
                ranked.append(
                    (-result.score, i, j, Pair(source=source, sink=sink, score=result.score))
                )
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]
