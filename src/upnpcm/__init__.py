"""upnpcm: UPnP AV ConnectionManager device and control point.

The protocol core is in :mod:`upnpcm.core` (sans-I/O); asyncio adapters are in
:mod:`upnpcm.aio`. Devices and services of one's own are built with the names
of :mod:`upnpcm.hosting` (``Device``, ``Service``, ``StateVariable``,
``action``, ``DeviceHost`` …), exported here too. Names below are imported
lazily, so ``import upnpcm`` is cheap.
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
    from upnpcm.hosting import ConnectionManagerService, Device
    from upnpcm.service import Instance, Service, StateVariable, action
    from upnpcm.settings import DeviceSettings

__all__ = [
    "ActionArgumentError",
    "CommandError",
    "ConfigError",
    "ConnectError",
    "ConnectionManager",
    "ConnectionManagerConfig",
    "ConnectionManagerService",
    "Device",
    "DeviceHost",
    "DeviceSettings",
    "ErrorCode",
    "HttpStatusError",
    "Instance",
    "LocalProtocolError",
    "NegotiationError",
    "PlaybackError",
    "ProtocolError",
    "ProtocolInfoError",
    "RemoteProtocolError",
    "Service",
    "StateVariable",
    "SubscriptionError",
    "TransportError",
    "UPnPError",
    "UpnpCmError",
    "UpnpTimeoutError",
    "__version__",
    "action",
]

_LAZY = {
    "ConnectionManager": "upnpcm.core.connection_manager",
    "ConnectionManagerConfig": "upnpcm.core.connection_manager",
    "ConnectionManagerService": "upnpcm.hosting",
    "Device": "upnpcm.hosting",
    "DeviceHost": "upnpcm.host",
    "DeviceSettings": "upnpcm.settings",
    "Instance": "upnpcm.service",
    "Service": "upnpcm.service",
    "StateVariable": "upnpcm.service",
    "action": "upnpcm.service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'upnpcm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
