"""``python -m upnpcm.cli``."""

from upnpcm.cli import main

main()
