"""Browsing a ContentDirectory and choosing what a renderer can play (rules W1-W3, F1-F3).

W1  Browse and Search are read in windows of ``RequestedCount`` objects; the
    next window starts after the objects actually received.
W2  ``TotalMatches`` is never trusted alone (0 means "not known", and servers
    report 0 with results, or too few): the listing ends on an empty window,
    or on a short window once ``TotalMatches`` is reached.
W3  A listing is bounded: at most ``limit`` objects and :data:`MAX_PAGES` windows.
F1  A ``res`` is playable when its protocolInfo matches an entry of the
    renderer's Sink list (rules P1-P4); the rest are kept with the reason.
F2  Playable resources rank: the server's original before a conversion
    (``DLNA.ORG_CI=1``), then the match score, then the renderer's Sink order,
    then the server's ``res`` order.
F3  Without an item (a Source list only), audio and video formats rank before
    image profiles, and those before raw PCM (``audio/L16``, ``LPCM``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from upnpcm.core.didl import Resource
from upnpcm.core.protocol_info import Pair, ProtocolInfo, best_pairs, match

__all__ = [
    "MAX_PAGES",
    "ListComparison",
    "Pager",
    "ResourceChoice",
    "closest_sinks",
    "compare_lists",
    "format_rank",
    "rank_pairs",
    "rank_resources",
    "split_title_path",
]

#: Most windows one listing asks for (rule W3).
MAX_PAGES: Final = 1000
#: Window size when none is given.
DEFAULT_PAGE: Final = 100
_RAW_PCM: Final = frozenset({"audio/l16", "audio/l8", "audio/l20", "audio/l24", "audio/lpcm"})


class Pager:
    """Which window to ask for next, from what the previous ones held (W1-W3)."""

    def __init__(
        self, *, start: int = 0, page_size: int = DEFAULT_PAGE, limit: int | None = None
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.start = start
        self.page_size = page_size
        self.limit = limit
        self.received = 0
        self.pages = 0
        self.total_matches: int | None = None
        self.done = limit == 0

    def request(self) -> tuple[int, int] | None:
        """``(StartingIndex, RequestedCount)`` of the next window, or None when done."""
        if self.done:
            return None
        count = self.page_size
        if self.limit is not None:
            count = min(count, self.limit - self.received)
        return self.start, count

    def on_page(self, objects: int, total_matches: int) -> None:
        """A window came back with ``objects`` objects and this ``TotalMatches``."""
        asked = self.request()
        requested = asked[1] if asked else 0
        self.pages += 1
        self.start += objects
        self.received += objects
        self.total_matches = total_matches if total_matches > 0 else None
        if (
            objects == 0
            or self.pages >= MAX_PAGES
            or (self.limit is not None and self.received >= self.limit)
        ):
            self.done = True
        elif objects < requested and self.start >= total_matches:
            # Short window and TotalMatches (0 = unknown) says nothing more: the end (W2).
            self.done = True


def split_title_path(path: str) -> list[str]:
    r"""``Music/Album/Track`` → its titles; ``\/`` is a slash inside a title, ``\\`` a backslash."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(path)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == "/":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part != ""]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChoice:
    """One ``res`` of an item judged against a Sink list (rules F1, F2)."""

    resource: Resource
    index: int
    sink: ProtocolInfo | None
    score: int
    converted: bool
    #: Why it cannot be played (empty when it can).
    reasons: tuple[str, ...] = ()
    sink_index: int = -1

    @property
    def playable(self) -> bool:
        """Whether a Sink entry accepts it."""
        return self.sink is not None


def _converted(info: ProtocolInfo) -> bool:
    dlna = info.dlna
    return bool(dlna and dlna.converted)


def _unplayable(resource: Resource, index: int, converted: bool, why: str) -> ResourceChoice:
    return ResourceChoice(
        resource=resource, index=index, sink=None, score=0, converted=converted, reasons=(why,)
    )


def rank_resources(
    resources: Sequence[Resource], sinks: Sequence[ProtocolInfo]
) -> list[ResourceChoice]:
    """Every ``res``, playable ones first in rank order (F2), then the rest in ``res`` order."""
    choices: list[ResourceChoice] = []
    for index, resource in enumerate(resources):
        info = resource.info
        if info is None:
            why = f"protocolInfo {resource.protocol_info!r} is not four fields"
            choices.append(_unplayable(resource, index, False, why))
            continue
        best: tuple[int, int, ProtocolInfo] | None = None
        for sink_index, sink in enumerate(sinks):
            result = match(info, sink)
            if result.compatible and (best is None or result.score > best[0]):
                best = (result.score, sink_index, sink)
        if best is None:
            why = f"no Sink entry accepts {info.content_format}"
            choices.append(_unplayable(resource, index, _converted(info), why))
        else:
            choices.append(
                ResourceChoice(
                    resource=resource,
                    index=index,
                    sink=best[2],
                    score=best[0],
                    converted=_converted(info),
                    sink_index=best[1],
                )
            )
    return sorted(
        choices,
        key=lambda c: (
            not c.playable,
            c.playable and c.converted,
            -c.score,
            c.sink_index,
            c.index,
        ),
    )


def closest_sinks(
    info: ProtocolInfo, sinks: Sequence[ProtocolInfo], *, count: int = 3
) -> list[tuple[ProtocolInfo, tuple[str, ...]]]:
    """The Sink entries that come nearest to ``info`` (fewest failed rules, same media type first)."""
    major = info.mime.canonical.split("/", 1)[0]
    ranked: list[tuple[int, int, int, ProtocolInfo, tuple[str, ...]]] = []
    for position, sink in enumerate(sinks):
        result = match(info, sink)
        same_type = sink.mime.canonical.split("/", 1)[0] == major
        ranked.append((len(result.reasons), 0 if same_type else 1, position, sink, result.reasons))
    ranked.sort(key=lambda item: item[:3])
    return [(sink, reasons) for _, _, _, sink, reasons in ranked[:count]]


def format_rank(info: ProtocolInfo) -> int:
    """0 audio/video, 1 anything else, 2 an image, 3 raw PCM (rule F3)."""
    dlna = info.dlna
    profile = (dlna.profile or "").upper() if dlna else ""
    essence = info.mime.canonical
    if essence in _RAW_PCM or profile == "LPCM":
        return 3
    if essence.startswith("image/") or profile.startswith(("JPEG", "PNG", "GIF")):
        return 2
    if essence.startswith(("audio/", "video/")):
        return 0
    return 1


def rank_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """Pairs from :func:`~upnpcm.core.protocol_info.best_pairs` re-ranked by format (rule F3)."""
    return sorted(pairs, key=lambda pair: format_rank(pair.source))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListComparison:
    """What a server's Source list and a renderer's Sink list have in common.

    ``best`` is the pair a negotiation without an item would choose (rules
    P3, F3), ``pairs`` how many pairs match in all; ``explanation`` says why,
    in the matcher's words: how each rule of the best pair was met, or, when
    nothing matches, each Source entry's closest Sink entry and what failed.
    """

    best: Pair | None
    pairs: int
    sources: int
    sinks: int
    explanation: tuple[str, ...]

    @property
    def compatible(self) -> bool:
        """Whether any pair matches."""
        return self.best is not None


def compare_lists(
    sources: Sequence[ProtocolInfo], sinks: Sequence[ProtocolInfo], *, limit: int = 8
) -> ListComparison:
    """Compare a Source list with a Sink list (P3, F3); at most ``limit`` lines of explanation."""
    ranked = rank_pairs(best_pairs(sources, sinks))
    if ranked:
        best = ranked[0]
        lines = [f"best: {best.source} → {best.sink} (score {best.score})"]
        lines += match(best.source, best.sink, explain=True).notes
        lines.append(f"{len(ranked)} of {len(sources) * len(sinks)} (Source, Sink) pairs match")
        return ListComparison(
            best=best,
            pairs=len(ranked),
            sources=len(sources),
            sinks=len(sinks),
            explanation=tuple(lines[:limit]),
        )
    if not sources or not sinks:
        empty = "the Source list is empty" if not sources else "the Sink list is empty"
        lines = [f"nothing to match: {empty}"]
    else:
        lines = []
        for source in sources[:limit]:
            near = closest_sinks(source, sinks, count=1)
            sink, reasons = near[0]
            lines.append(f"{source}: closest {sink} ({'; '.join(reasons)})")
    return ListComparison(
        best=None, pairs=0, sources=len(sources), sinks=len(sinks), explanation=tuple(lines)
    )
