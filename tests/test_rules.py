"""Every rule a comment cites is defined in docs/rules.md, with a public source (docs/rules.md)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "rules.md"
SCANNED = [ROOT / "src", ROOT / "bench", ROOT / "scripts"]

TABLE_ROW = re.compile(r"^\|\s*([A-Z][0-9]{1,2})\s*\|(.*)\|(.*)\|\s*$")
#: Every family letter docs/rules.md defines (a new family is checked as soon as it is there).
FAMILIES = "".join(
    sorted({m.group(1)[0] for m in map(TABLE_ROW.match, RULES.read_text().splitlines()) if m})
)
#: A rule ID as the code writes it: a family letter and one or two digits.
RULE_ID = re.compile(rf"\b([{FAMILIES}])([0-9]{{1,2}})\b")
#: A range such as ``C1-C6`` or ``R1-R7``.
RULE_RANGE = re.compile(rf"\b([{FAMILIES}])([0-9]{{1,2}})\s*[-\u2013]\s*\1([0-9]{{1,2}})\b")
#: Tokens that look like IDs but are not: C0/C1 control characters, the PCM format L16,
#: the F0/F1 fraction of an AVTransport time.
NOT_RULES = re.compile(r"\bC[01](?:/C1)? control|\bL16\b|\bF0/F1\b")
#: Documents that are not in the repository, and issue numbers.
#: (``docs/security.md`` is the repository's own: its limits, defaults and answers.)
OUTSIDE_DOC = re.compile(
    r"(?<!docs/)\b(?:spec|security|design|peers)\.md\b|\bissue #\d+", re.IGNORECASE
)
MD_NAME = re.compile(r"\b([\w./-]+\.md)\b")
#: A public source: a standard's name and a section.
PUBLIC_SOURCE = re.compile(
    r"(UDA [12]\.[01]|CM:[123]|ContentDirectory:[1-4]|AVTransport:[1-3]|AVT:1|RCS:1|RFC \d+"
    r"|SOAP 1\.1|XML 1\.0|DLNA Guidelines)[^|]*?(§|\d+\.\d)"
)


def _texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring in ``path``."""
    source = path.read_text(encoding="utf-8")
    out: list[tuple[int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    # Docstrings, ``#:``-less attribute docs: every bare string expression.
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out.append((node.lineno, node.value.value))
    return sorted(set(out))


def _files() -> list[Path]:
    return sorted(p for d in SCANNED if d.is_dir() for p in d.rglob("*.py"))


def _defined() -> dict[str, str]:
    rules: dict[str, str] = {}
    for line in RULES.read_text(encoding="utf-8").splitlines():
        m = TABLE_ROW.match(line)
        if m:
            rules[m.group(1)] = m.group(3).strip()
    return rules


def _cited(text: str) -> set[str]:
    text = NOT_RULES.sub("", text)
    ids = {a + b for a, b in RULE_ID.findall(text)}
    for letter, lo, hi in RULE_RANGE.findall(text):
        ids.update(f"{letter}{n}" for n in range(int(lo), int(hi) + 1))
    return ids


def test_rules_file_exists() -> None:
    assert RULES.is_file()
    assert _defined()


def test_no_document_outside_the_repository() -> None:
    bad: list[str] = []
    for path in _files():
        for line, text in _texts(path):
            for m in OUTSIDE_DOC.finditer(text):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)}")
            for m in MD_NAME.finditer(text):
                name = m.group(1)
                if not any((base / name).exists() for base in (ROOT, ROOT / "docs", path.parent)):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not sorted(set(bad)), "\n".join(sorted(set(bad)))


def test_every_cited_rule_is_defined() -> None:
    defined = _defined()
    missing: list[str] = []
    for path in _files():
        for line, text in _texts(path):
            missing.extend(
                f"{path.relative_to(ROOT)}:{line}: {rule}"
                for rule in sorted(_cited(text))
                if rule not in defined
            )
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("rule", sorted(_defined()) if RULES.is_file() else [])
def test_every_rule_has_a_public_source(rule: str) -> None:
    source = _defined()[rule]
    assert PUBLIC_SOURCE.search(source), f"{rule}: no public section in {source!r}"


def test_rule_ids_are_unique() -> None:
    ids = [m.group(1) for m in map(TABLE_ROW.match, RULES.read_text().splitlines()) if m]
    assert len(ids) == len(set(ids))
