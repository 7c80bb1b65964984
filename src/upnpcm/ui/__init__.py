"""``upnpcm ui``: a live control point in the browser.

::

    async with UiServer(UiApp(interfaces=("eth0",)), port=8400) as server:
        print(server.url)           # open it: devices appear as they announce themselves

- :mod:`upnpcm.ui.app`: the UPnP work, all of it done by the library
  (discovery and presence, loading, calls with their exact bytes,
  subscriptions, the protocolInfo matrix, negotiation, ``check``);
- :mod:`upnpcm.ui.model`: what is kept, every table bounded, and its JSON;
- :mod:`upnpcm.ui.hub`: live updates to the pages (server-sent events);
- :mod:`upnpcm.ui.server`: the aiohttp server, its API and its guards;
- ``static/``: the page, its script and style (hand-written, no build step,
  nothing loaded from the internet).
"""

from upnpcm.ui.app import UiApp, UiError
from upnpcm.ui.model import UiLimits
from upnpcm.ui.server import UiServer

__all__ = ["UiApp", "UiError", "UiLimits", "UiServer"]
