"""Print docs/checks.md, generated from the checks: ``python -m upnpcm.check.docs > docs/checks.md``."""

from __future__ import annotations

import sys

from upnpcm.check.output import checks_markdown
from upnpcm.check.runner import CHECKS


def main() -> None:
    """Write the page to stdout."""
    sys.stdout.write(checks_markdown(CHECKS))


if __name__ == "__main__":
    main()
