"""How a run is shown: a text table, NDJSON, JUnit XML; the check list; the docs page.

Each renderer is a plain function of results (or of the checks), so the CLI,
the docs generator and the tests share them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Final
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from upnpcm.check.registry import SUITE_TITLES, SUITES, Check, Result, Status
from upnpcm.check.runner import Summary

__all__ = [
    "check_json",
    "checks_markdown",
    "checks_text",
    "junit_xml",
    "result_json",
    "result_text",
    "suite_heading",
]

#: Width of the check ID column (the longest ID).
_ID: Final = 28
_SUBJECT: Final = 44


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def suite_heading(suite: str) -> str:
    """The line that opens a suite's rows in the text table."""
    return f"── {SUITE_TITLES.get(suite, suite)} " + "─" * max(
        0, 60 - len(SUITE_TITLES.get(suite, suite))
    )


def result_text(result: Result, *, width: int = 120) -> str:
    """One row of the text table.

    One line for PASS and SKIP; WARN and FAIL also say what was sent, what came
    back, what the standard requires and where, and any note.
    """
    head = (
        f"{result.status.value:4} {result.check:{_ID}} {_cut(result.subject, _SUBJECT):{_SUBJECT}}"
    )
    if result.status is Status.SKIP:
        return _cut(f"{head} skipped: {result.detail}", width).rstrip()
    if result.status is Status.PASS:
        body = " → ".join(part for part in (result.sent, result.received) if part)
        return _cut(f"{head} {body}", width).rstrip()
    pad = " " * 5
    lines = [head.rstrip()]
    if result.sent:
        lines.append(f"{pad}sent: {result.sent}")
    if result.received:
        lines.append(f"{pad}got: {result.received}")
    lines.append(f"{pad}required: {result.required} ({result.cite})")
    if result.detail:
        lines.append(f"{pad}note: {result.detail}")
    return "\n".join(_cut(line, width) for line in lines)


def result_json(result: Result) -> str:
    """One NDJSON line."""
    return json.dumps(result.as_json(), ensure_ascii=False)


def junit_xml(results: Sequence[Result], summary: Summary, *, target: str) -> bytes:
    """JUnit XML (one testsuite per suite, one testcase per row) for CI systems.

    FAIL is a ``<failure>``, SKIP ``<skipped>``; a WARN passes, its note in
    ``<system-out>``.
    """
    root = Element(
        "testsuites",
        {
            "name": f"upnpcm check {target}",
            "tests": str(len(results)),
            "failures": str(sum(r.status is Status.FAIL for r in results)),
            "skipped": str(sum(r.status is Status.SKIP for r in results)),
            "time": f"{summary.seconds:.3f}",
        },
    )
    for suite in SUITES:
        rows = [r for r in results if r.suite == suite]
        if not rows:
            continue
        element = SubElement(
            root,
            "testsuite",
            {
                "name": SUITE_TITLES[suite],
                "tests": str(len(rows)),
                "failures": str(sum(r.status is Status.FAIL for r in rows)),
                "errors": "0",
                "skipped": str(sum(r.status is Status.SKIP for r in rows)),
                "time": f"{sum(r.seconds for r in rows):.3f}",
            },
        )
        for row in rows:
            case = SubElement(
                element,
                "testcase",
                {
                    "classname": f"upnpcm.check.{suite}",
                    "name": f"{row.check} [{row.subject}]",
                    "time": f"{row.seconds:.3f}",
                },
            )
            text = (
                f"sent: {row.sent}\nreceived: {row.received}\n"
                f"required: {row.required} ({row.cite})"
                + (f"\nnote: {row.detail}" if row.detail else "")
            )
            if row.status is Status.FAIL:
                SubElement(
                    case,
                    "failure",
                    {"message": _cut(row.received or row.detail, 200), "type": "FAIL"},
                ).text = text
            elif row.status is Status.SKIP:
                SubElement(case, "skipped", {"message": row.detail})
            elif row.status is Status.WARN:
                SubElement(case, "system-out").text = "WARN\n" + text
    indent(root, space="  ")
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def check_json(check: Check) -> dict[str, object]:
    """One check as an NDJSON record (``--list``)."""
    return {
        "id": check.id,
        "suite": check.suite,
        "severity": check.severity.value,
        "title": check.title,
        "requirement": check.requirement,
        "cite": check.cite,
        "changesState": check.changes_state,
    }


def checks_text(checks: Iterable[Check]) -> str:
    """``--list`` on a terminal: one line per check, grouped by suite."""
    lines: list[str] = []
    suite = ""
    for check in checks:
        if check.suite != suite:
            suite = check.suite
            lines.append(suite_heading(suite))
        flag = " (changes state)" if check.changes_state else ""
        lines.append(f"{check.id:{_ID}} {check.severity.value:6} {check.title}{flag}")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def checks_markdown(checks: Sequence[Check]) -> str:
    """docs/checks.md: every check, generated from the checks themselves."""
    lines = [
        "# Conformance checks (`upnpcm check`)",
        "",
        "Generated from the checks themselves (`src/upnpcm/check/`, one module per suite); "
        "`tests/check/test_docs.py` fails when this page is out of date. Regenerate it with:",
        "",
        "```sh",
        "python -m upnpcm.check.docs > docs/checks.md",
        "```",
        "",
        "Every row of a run is PASS, WARN, FAIL or SKIP. A violation of a *must* check is a FAIL, "
        "of a *should* check a WARN; a violation a check knows real devices ship and control "
        "points tolerate (said in the row's note) is a WARN too. SKIP says why nothing could be "
        "judged. Checks marked *changes state* call actions that change the device "
        "(PrepareForConnection, ConnectionComplete) and are skipped with `--no-changes`; every "
        "connection and subscription a run makes is undone before it ends. Rule IDs refer to "
        "[rules.md](rules.md).",
        "",
    ]
    for suite in SUITES:
        rows = [c for c in checks if c.suite == suite]
        if not rows:
            continue
        lines += [
            f"## {SUITE_TITLES[suite]} (`{suite}`)",
            "",
            "| ID | severity | what | the standard requires | source |",
            "|---|---|---|---|---|",
        ]
        for check in rows:
            severity = check.severity.value + (", changes state" if check.changes_state else "")
            lines.append(
                f"| `{check.id}` | {severity} | {_md(check.title)} | {_md(check.requirement)} | {_md(check.cite)} |"
            )
        lines.append("")
    return "\n".join(lines)
