"""The pinned npm peers (tests/peers/npm): node-sonos-ts and hb-zp-tools' ``zp``.

``scripts/test`` installs them with ``npm ci`` from the committed lockfile; a
test that needs one calls :func:`require_npm_peer`, which fails under
``UPNPCM_REQUIRE_PEERS=1`` (CI) and skips with the reason otherwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.require import unavailable

NPM_DIR = Path(__file__).resolve().parents[1] / "peers" / "npm"
MODULES = NPM_DIR / "node_modules"
#: The node-sonos-ts driver script (tests/peers/npm/nst.js).
NST_SCRIPT = NPM_DIR / "nst.js"
ZP = MODULES / ".bin" / "zp"


def require_npm_peer(package: str) -> str:
    """The ``node`` executable, once ``package`` is installed under tests/peers/npm."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (scripts/test installs nodejs and npm from Debian)")
    if not (MODULES / package / "package.json").is_file():
        unavailable(
            f"{package} is not installed: npm ci --ignore-scripts --prefix tests/peers/npm "
            "(scripts/test does it)"
        )
    return node
