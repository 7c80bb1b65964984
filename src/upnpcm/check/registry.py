"""The checks as data: what a check is, what it finds, and what a run reports.

A :class:`Check` is one table row: an ID, its suite, its severity, what it
checks, what the standard requires and where, and the small async function
that does it. The function yields :class:`Finding` values (one per subject: a
service, an action, a search target …); the runner turns each into a
:class:`Result` row with a :class:`Status`:

* a finding that holds → PASS;
* a violation → FAIL for a *must* check, WARN for a *should* check, and WARN
  for a violation the check marks ``tolerated`` (a deviation real devices ship
  and control points live with, said in the row);
* a finding that could not be judged (nothing to check, a step it needs
  failed, ``--no-changes``) → SKIP, with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from upnpcm.check.context import CheckContext

__all__ = [
    "SUITES",
    "SUITE_TITLES",
    "Check",
    "CheckFn",
    "Finding",
    "Result",
    "Severity",
    "Status",
    "failed",
    "passed",
    "skipped",
    "suite_rows",
]


class Status(StrEnum):
    """The outcome of one row."""

    PASS = "PASS"  # noqa: S105 - a status, not a password
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


class Severity(StrEnum):
    """What a violation of a check means: FAIL (must) or WARN (should)."""

    MUST = "must"
    SHOULD = "should"


#: The suites, in the order they run.
SUITES: Final = ("description", "control", "cm", "eventing", "discovery")
SUITE_TITLES: Final = {
    "description": "description",
    "control": "control",
    "cm": "connection manager",
    "eventing": "eventing",
    "discovery": "discovery",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What a check found about one subject.

    ``ok`` is True (holds), False (violated) or None (not judged: skipped).
    ``sent`` and ``received`` say what went to the device and what came back,
    ``detail`` anything else worth knowing (the reason for a skip, what a
    tolerated deviation is).
    """

    subject: str
    ok: bool | None
    sent: str = ""
    received: str = ""
    detail: str = ""
    tolerated: bool = False


def passed(subject: str, *, sent: str = "", received: str = "", detail: str = "") -> Finding:
    """The check holds for ``subject``."""
    return Finding(subject=subject, ok=True, sent=sent, received=received, detail=detail)


def failed(
    subject: str, *, sent: str = "", received: str = "", detail: str = "", tolerated: bool = False
) -> Finding:
    """The check is violated for ``subject`` (a WARN whatever the severity when ``tolerated``)."""
    return Finding(
        subject=subject, ok=False, sent=sent, received=received, detail=detail, tolerated=tolerated
    )


def skipped(subject: str, reason: str) -> Finding:
    """The check could not be judged for ``subject``, and why."""
    return Finding(subject=subject, ok=None, detail=reason)


CheckFn = Callable[["CheckContext"], AsyncIterator[Finding]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One check: a row of the table ``upnpcm check --list`` prints."""

    id: str
    suite: str
    severity: Severity
    #: What is checked, in a few words.
    title: str
    #: What the standard requires (shown with every violation).
    requirement: str
    #: The sections it comes from (UDA, ISO/IEC 29341-x, RFC) and the rule IDs of docs/rules.md.
    cite: str
    run: CheckFn
    #: It calls actions that change the device's state (skipped with ``--no-changes``).
    changes_state: bool = False

    def status(self, finding: Finding) -> Status:
        """The row status of ``finding`` under this check's severity."""
        if finding.ok is None:
            return Status.SKIP
        if finding.ok:
            return Status.PASS
        if finding.tolerated or self.severity is Severity.SHOULD:
            return Status.WARN
        return Status.FAIL


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One row of a run."""

    check: str
    suite: str
    status: Status
    subject: str
    sent: str
    received: str
    required: str
    cite: str
    detail: str
    seconds: float

    @classmethod
    def of(cls, check: Check, finding: Finding, seconds: float) -> Result:
        """The row for ``finding`` of ``check``."""
        return cls(
            check=check.id,
            suite=check.suite,
            status=check.status(finding),
            subject=finding.subject,
            sent=finding.sent,
            received=finding.received,
            required=check.requirement,
            cite=check.cite,
            detail=finding.detail,
            seconds=seconds,
        )

    def as_json(self) -> dict[str, object]:
        """The row as one NDJSON record."""
        return {
            "check": self.check,
            "suite": self.suite,
            "status": str(self.status),
            "subject": self.subject,
            "sent": self.sent,
            "received": self.received,
            "required": self.required,
            "cite": self.cite,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


def suite_rows(suite: str) -> Callable[..., Check]:
    """The row maker of one suite's ``CHECKS`` table.

    ``row(id, title, requirement, cite, run, severity=MUST, changes_state=False)``.
    """

    def row(
        id_: str,
        title: str,
        requirement: str,
        cite: str,
        run: CheckFn,
        severity: Severity = Severity.MUST,
        *,
        changes_state: bool = False,
    ) -> Check:
        return Check(
            id=id_,
            suite=suite,
            severity=severity,
            title=title,
            requirement=requirement,
            cite=cite,
            run=run,
            changes_state=changes_state,
        )

    return row
