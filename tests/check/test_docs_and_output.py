"""The checks as data: docs/checks.md is generated from them and current; the renderers."""

import json
import re
from pathlib import Path

from upnpcm.check import CHECKS, SUITES, Result, Status, Summary, select_checks
from upnpcm.check.output import (
    check_json,
    checks_markdown,
    checks_text,
    junit_xml,
    result_json,
    result_text,
)
from upnpcm.core.xml import children, local_name, parse_xml

ROOT = Path(__file__).resolve().parents[2]
RULE_ID = re.compile(r"\brules? ((?:[A-Z][0-9]{1,2}(?:, )?)+)")
PUBLIC = re.compile(r"(UDA [12]\.[01]|CM:1|RFC \d+|SOAP 1\.1|XML 1\.0|ISO/IEC 29341)[^;]*§")


def test_docs_page_is_generated_from_the_checks_and_current():
    page = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    assert page == checks_markdown(CHECKS), (
        "regenerate: python -m upnpcm.check.docs > docs/checks.md"
    )
    for check in CHECKS:
        assert f"`{check.id}`" in page


def test_every_check_is_a_complete_row():
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    assert [c.suite for c in CHECKS] == sorted((c.suite for c in CHECKS), key=SUITES.index)
    defined = set(
        re.findall(r"^\| ([A-Z][0-9]{1,2}) \|", (ROOT / "docs" / "rules.md").read_text(), re.M)
    )
    for check in CHECKS:
        assert check.title and check.requirement and check.run.__doc__, check.id
        assert PUBLIC.search(check.cite), f"{check.id}: no public section in {check.cite!r}"
        for group in RULE_ID.findall(check.cite):
            assert set(group.split(", ")) <= defined, f"{check.id} cites an unknown rule: {group}"


def test_only_and_skip_select_suites_and_ids():
    assert {c.suite for c in select_checks(["eventing"])} == {"eventing"}
    assert [c.id for c in select_checks(["cm.unknown-id", "desc.fetch"])] == [
        "desc.fetch",
        "cm.unknown-id",
    ]
    assert "discovery" not in {c.suite for c in select_checks(skip=["discovery"])}
    try:
        select_checks(["nonsense"])
    except ValueError as exc:
        assert "nonsense" in str(exc)
    else:
        raise AssertionError("an unknown name must be refused")


def _row(status: Status, **changes: object) -> Result:
    values = {
        "check": "cm.unknown-id", "suite": "cm", "status": status,
        "subject": "MediaRenderer/ConnectionManager",
        "sent": "GetCurrentConnectionInfo(ConnectionID=4711)",
        "received": "HTTP 200 ProtocolInfo=':::'", "required": "UPnP error 706",
        "cite": "CM:1 §2.4.5", "detail": "", "seconds": 0.01,
    }  # fmt: skip
    values.update(changes)
    return Result(**values)  # type: ignore[arg-type]


def test_text_rows_say_what_was_sent_got_and_required():
    assert result_text(_row(Status.PASS)).count("\n") == 0
    failed = result_text(_row(Status.FAIL, detail="like gmediarender"), width=100)
    assert "GetCurrentConnectionInfo(ConnectionID=4711)" in failed
    assert (
        "required: UPnP error 706 (CM:1 §2.4.5)" in failed and "note: like gmediarender" in failed
    )
    assert all(len(line) <= 100 for line in failed.splitlines())
    assert "skipped: why" in result_text(_row(Status.SKIP, detail="why"))


def test_json_rows_and_the_list():
    record = json.loads(result_json(_row(Status.FAIL)))
    assert record["status"] == "FAIL" and record["check"] == "cm.unknown-id"
    listed = [check_json(c) for c in CHECKS]
    assert {r["suite"] for r in listed} == set(SUITES)
    assert {"id", "severity", "requirement", "cite", "changesState"} <= set(listed[0])
    assert checks_text(CHECKS).count("\n") == len(CHECKS) + len(SUITES) - 1


def test_junit_xml_counts_failures_and_skips_per_suite():
    rows = [
        _row(Status.PASS),
        _row(Status.FAIL),
        _row(Status.SKIP, detail="n/a"),
        _row(Status.WARN, suite="eventing"),
    ]
    summary = Summary()
    for row in rows:
        summary.add(row)
    root = parse_xml(junit_xml(rows, summary, target="x"), max_bytes=100_000)
    assert local_name(root.tag) == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    suites = {s.get("name"): s for s in children(root, "testsuite")}
    assert set(suites) == {"connection manager", "eventing"}
    cases = children(suites["connection manager"], "testcase")
    assert [len(children(c, "failure")) for c in cases] == [0, 1, 0]
    assert children(cases[2], "skipped")[0].get("message") == "n/a"
    warn = children(suites["eventing"], "testcase")[0]
    assert (children(warn, "system-out")[0].text or "").startswith("WARN")
