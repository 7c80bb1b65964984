"""Fuzz targets: every parser of peer input, bounded (hypothesis).

In CI each target runs a short, fixed number of examples. On demand, longer:

    UPNPCM_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/fuzz -q -p no:cacheprovider

The invariant of every target: the parser returns a value or raises our
protocol error (``RemoteProtocolError``, ``UPnPError``, ``SubscriptionError``,
``ProtocolInfoError``), never any other exception. Inputs are structure-aware
(real messages with parts replaced by long digit runs, huge sizes, duplicated
elements and headers, control characters), not only random bytes.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("UPNPCM_FUZZ_EXAMPLES", "150"))

settings.register_profile(
    "upnpcm-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("upnpcm-fuzz")
