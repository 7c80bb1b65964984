"""A pytest plugin for the run inside the namespace: each test's outcome as JSON lines.

``tests/test_netns.py`` loads it with ``-p tests.netns_report`` and reads the
file named by ``UPNPCM_NETNS_REPORT``: one line per test phase that decides an
outcome (a failed setup, the call, a failed teardown), so the outer run can
report every inner test, skip reasons included.
"""

from __future__ import annotations

import json
import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("UPNPCM_NETNS_REPORT")
    if not path:
        return
    if report.when != "call" and report.outcome == "passed":
        return
    if report.skipped and isinstance(report.longrepr, tuple):
        detail = str(report.longrepr[2])
    else:
        detail = report.longreprtext
    line = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
    line["detail"] = detail[-8000:]
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
