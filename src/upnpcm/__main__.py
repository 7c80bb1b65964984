"""``python -m upnpcm``."""

from upnpcm.cli import main

main()
