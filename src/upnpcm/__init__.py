"""upnpcm: UPnP AV ConnectionManager device and control point.

The protocol core is in :mod:`upnpcm.core` (sans-I/O); asyncio adapters are in
:mod:`upnpcm.aio`. Names below are imported lazily, so ``import upnpcm`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from upnpcm._version import __version__
from upnpcm.errors import (
    ActionArgumentError,
    CommandError,
    ConfigError,
    ConnectError,
    ErrorCode,
    HttpStatusError,
    LocalProtocolError,
    NegotiationError,
    PlaybackError,
    ProtocolError,
    ProtocolInfoError,
    RemoteProtocolError,
    SubscriptionError,
    TransportError,
    UpnpCmError,
    UPnPError,
    UpnpTimeoutError,
)

if TYPE_CHECKING:
    from upnpcm.core.connection_manager import ConnectionManager, ConnectionManagerConfig
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

__all__ = [
    "ActionArgumentError",
    "CommandError",
    "ConfigError",
    "ConnectError",
    "ConnectionManager",
    "ConnectionManagerConfig",
    "DeviceHost",
    "DeviceSettings",
    "ErrorCode",
    "HttpStatusError",
    "LocalProtocolError",
    "NegotiationError",
    "PlaybackError",
    "ProtocolError",
    "ProtocolInfoError",
    "RemoteProtocolError",
    "SubscriptionError",
    "TransportError",
    "UPnPError",
    "UpnpCmError",
    "UpnpTimeoutError",
    "__version__",
]

_LAZY = {
    "ConnectionManager": "upnpcm.core.connection_manager",
    "ConnectionManagerConfig": "upnpcm.core.connection_manager",
    "DeviceHost": "upnpcm.host",
    "DeviceSettings": "upnpcm.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'upnpcm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
