"""What a test does when a third-party peer or a facility it needs is missing.

``scripts/test`` (what CI runs) installs every pinned peer and sets
``UPNPCM_REQUIRE_PEERS=1``: there a missing peer is a failure, never a quiet
skip. A developer running pytest by hand without the peers gets a skip that
says what is missing.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def required() -> bool:
    """Whether missing peers fail the run (``UPNPCM_REQUIRE_PEERS=1``)."""
    return os.environ.get("UPNPCM_REQUIRE_PEERS", "") == "1"


def unavailable(what: str) -> NoReturn:
    """Skip with ``what`` as the reason, or fail when peers are required."""
    if required():
        pytest.fail(f"{what} (peers are required here: UPNPCM_REQUIRE_PEERS=1)", pytrace=False)
    pytest.skip(what)
