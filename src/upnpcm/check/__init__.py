"""``upnpcm check``: a conformance checker for any UPnP device's ConnectionManager, GENA, SSDP and description.

::

    from upnpcm.check import CheckOptions, run_checks

    summary = await run_checks("http://192.0.2.7:1400/xml/device_description.xml",
                               CheckOptions(interfaces=("eth0",)), on_result=print)

The checks are data (:data:`CHECKS`, one :class:`~upnpcm.check.registry.Check`
row each: ID, suite, severity, what the standard requires and where); each
suite is one module (:mod:`~upnpcm.check.description`, :mod:`~upnpcm.check.control`,
:mod:`~upnpcm.check.cm`, :mod:`~upnpcm.check.eventing`, :mod:`~upnpcm.check.discovery`).
Rows are rendered by :mod:`~upnpcm.check.output` (text, NDJSON, JUnit XML,
the docs page).
"""

from upnpcm.check.context import CheckOptions
from upnpcm.check.registry import SUITES, Check, Result, Severity, Status
from upnpcm.check.runner import CHECKS, Summary, run_checks, select_checks

__all__ = [
    "CHECKS",
    "SUITES",
    "Check",
    "CheckOptions",
    "Result",
    "Severity",
    "Status",
    "Summary",
    "run_checks",
    "select_checks",
]
