"""The fenced code blocks of README.md and docs/*.md, as tests/netns/test_docs.py runs them.

How a block is run (DEVELOPERS.md says the same for writers):

- ``sh``/``bash``/``shell``: each line (a trailing ``\\`` continues it) is one
  command, run with ``bash -c`` in the page's working directory. A line ending
  in ``# exit N`` must exit with N, every other with 0. A line that runs
  ``upnpcm serve`` (or ``upnpcm ui``, a server too) is a device: it runs in
  the background until it says it is serving, and is stopped (Ctrl-C, exit 0
  expected) when the next device starts or the page ends.
- ``python``/``py``: run as a script.
- ``toml``: parsed and loaded by the settings loader, then saved as
  ``upnpcm.toml`` for the commands after it.
- ``json``: parsed; ``xml``: parsed by the project's safe XML parser.
- ``text``: not code (output, a layout): not run.

A block that must not run carries ``<!-- docs-test: not run: REASON -->`` on
the line before its fence; it is still checked (shell: ``bash -n``; Python:
compiled). Keep that rare, and the reason true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELL = frozenset({"sh", "bash", "shell"})
PYTHON = frozenset({"python", "py"})
LANGUAGES = SHELL | PYTHON | frozenset({"toml", "json", "xml", "text"})

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_NOT_RUN = re.compile(r"<!--\s*docs-test:\s*not run:\s*(.*?)\s*-->")
_EXPECT = re.compile(r"\s#\s*exit\s+(\d+)\b")
_SERVE = re.compile(r"(?:^|[\s/&;|(])upnpcm\s+(?:serve|ui)\b")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it is, its language, its text, and why it is not run (if so)."""

    page: Path
    line: int
    language: str
    text: str
    not_run: str | None = None

    @property
    def where(self) -> str:
        """``page.md:LINE``."""
        return f"{self.page.name}:{self.line}"


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a shell block."""

    line: int
    text: str
    expect: int = 0
    #: It runs ``upnpcm serve`` (or ``upnpcm ui``): it stays up while the next commands run.
    serves: bool = False


def pages(root: Path) -> list[Path]:
    """README.md and every page under docs/ (new pages are picked up by themselves)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order.

    Raises:
        ValueError: a fence that is never closed.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, language = opening.groups()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
            lines[index].strip().startswith(fence[0] * len(fence))
            and not lines[index].strip().strip(fence[0])
        ):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        if index >= len(lines):
            raise ValueError(f"{page.name}:{start + 1}: code block never closed")
        index += 1
        before = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        mark = _NOT_RUN.search(before)
        found.append(
            Block(
                page=page,
                line=start + 1,
                language=language.lower(),
                text="\n".join(body) + "\n",
                not_run=mark.group(1) if mark else None,
            )
        )
    return found


def commands(block: Block) -> list[Command]:
    """The commands of a shell block (continuations joined, blank and comment lines left out)."""
    out: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(block.text.splitlines()):
        if not pending:
            first = block.line + 1 + offset
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\"):
            pending.append(raw[:-1])
            continue
        text = " ".join([*pending, raw]).strip()
        pending = []
        expect = _EXPECT.search(text)
        out.append(
            Command(
                line=first,
                text=text,
                expect=int(expect.group(1)) if expect else 0,
                serves=bool(_SERVE.search(text)) and "--help" not in text,
            )
        )
    return out
