"""What every profile shares.

:class:`DeviceSpec` (what the host runs), :class:`Profile` (a name and a
builder) and the helpers the builders use (texts checked for XML and SSDP,
``[profile_options]``, the ConnectionManager entry of an embedded device, the
merged GENA policy).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from upnpcm._version import __version__
from upnpcm.core.connection_manager import (
    CONNECTION_MANAGER_ID,
    CONNECTION_MANAGER_TYPE,
    ConnectionManager,
)
from upnpcm.core.description import DeviceDescription, Service
from upnpcm.core.device import HostedService, Resource
from upnpcm.core.gena import GenaPolicy
from upnpcm.errors import ConfigError
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.state import StateStore

__all__ = [
    "CM_SCPD_PATH",
    "DESCRIPTION_PATH",
    "Builder",
    "DeviceSpec",
    "Profile",
    "check_device_texts",
    "cm_service",
    "default_server_header",
    "friendly_name",
    "gena_policy",
    "option_list",
    "option_text",
]

CM_SCPD_PATH: Final = "/xml/ConnectionManager1.xml"
DESCRIPTION_PATH: Final = "/xml/device_description.xml"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSpec:
    """Everything needed to host a device: built by a profile, run by the host."""

    profile: str
    description: DeviceDescription
    description_xml: bytes
    services: tuple[HostedService, ...]
    #: The ConnectionManagers by role: ``"renderer"`` and/or ``"server"``.
    connection_managers: Mapping[str, ConnectionManager]
    gena_policy: GenaPolicy
    default_port: int = 1400
    description_path: str = DESCRIPTION_PATH
    resources: Mapping[str, Resource] = field(default_factory=dict)
    #: HTTP ``Server`` header (also SSDP ``SERVER``).
    server_header: str = ""
    #: Extra SSDP headers (name → value); a value may hold ``{boot_id}``.
    ssdp_headers: Mapping[str, str] = field(default_factory=dict)
    #: CACHE-CONTROL max-age of SSDP advertisements.
    max_age: int = 1800
    #: CACHE-CONTROL value as written (None: ``max-age=<max_age>``).
    cache_control: str | None = None
    #: Extra headers of every SUBSCRIBE/UNSUBSCRIBE answer (Sonos: ``Connection: close``).
    gena_headers: tuple[tuple[str, str], ...] = ()
    #: Whether SSDP messages carry CONFIGID.UPNP.ORG.
    ssdp_config_id: bool = True
    #: Seconds after which an unanswered initial NOTIFY is sent once more (rule T4; None: never).
    initial_event_retry: float | None = None
    #: Called with the host each time it has (re)started serving (its port and BOOTID known).
    on_up: Callable[[Any], None] | None = None

    @property
    def config_id(self) -> int:
        """CONFIGID.UPNP.ORG: 0..16777215, changes exactly when a description or SCPD does."""
        digest = hashlib.sha256(self.description_xml)
        for hosted in self.services:
            digest.update(hosted.scpd_xml)
        return int.from_bytes(digest.digest()[:3], "big")


Builder = Callable[[DeviceSettings, StateStore], DeviceSpec]


@dataclass(frozen=True, slots=True)
class Profile:
    """A named way of building a device.

    ``options`` names each ``[profile_options]`` key the builder reads, with
    what it means (docs/configuration.md lists them).
    """

    name: str
    build: Builder
    summary: str
    options: Mapping[str, str] = field(default_factory=dict)


def default_server_header() -> str:
    """``OS/version UPnP/1.1 upnpcm/version`` (UDA 1.1 §1.1.3)."""
    import platform

    system = platform.system() or "Unknown"
    release = (platform.release() or "0").split("-")[0]
    return f"{system}/{release} UPnP/1.1 upnpcm/{__version__}"


def friendly_name(settings: DeviceSettings) -> str:
    """The configured friendly name, else ``upnpcm on <host name>`` (checked for XML/SSDP)."""
    return check_text(
        settings.friendly_name or f"upnpcm on {socket.gethostname() or 'localhost'}",
        "[device].friendly_name",
    )


def check_device_texts(settings: DeviceSettings) -> None:
    """Names end up in XML and SSDP headers: no control characters (also for settings in code)."""
    for key in ("friendly_name", "manufacturer", "model_name", "model_number", "udn"):
        value = getattr(settings, key)
        if value is not None:
            check_text(value, f"[device].{key}")


def option_text(options: Mapping[str, object], key: str, default: str) -> str:
    """A ``[profile_options]`` string (``default`` when absent or empty)."""
    value = options.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ConfigError(f"[profile_options].{key} must be a string")
    return check_text(value, f"[profile_options].{key}")


def option_list(options: Mapping[str, object], key: str, default: str) -> str:
    """A protocol list option: a string served as written, or a list joined with ","."""
    value = options.get(key, default)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise ConfigError(f"[profile_options].{key} must be a string or a list of strings")
    return check_text(value, f"[profile_options].{key}")


def cm_service(prefix: str) -> Service:
    """The ConnectionManager entry of an embedded device at ``/<prefix>/ConnectionManager/…``."""
    return Service(
        service_type=CONNECTION_MANAGER_TYPE,
        service_id=CONNECTION_MANAGER_ID,
        scpd_url=CM_SCPD_PATH,
        control_url=f"/{prefix}/ConnectionManager/Control",
        event_sub_url=f"/{prefix}/ConnectionManager/Event",
    )


_GENA_KEYS: Final = (
    "min_timeout",
    "max_timeout",
    "default_timeout",
    "max_subscriptions",
    "max_per_peer",
)


def gena_policy(
    settings: DeviceSettings,
    *,
    defaults: Mapping[str, int] | None = None,
    **fixed: object,
) -> GenaPolicy:
    """The GENA policy: ``settings.gena`` over the profile's ``defaults``.

    Every value the user gave in ``[gena]`` wins; ``defaults`` fill only what
    was left out (and :class:`GenaPolicy`'s own defaults the rest). ``fixed``
    are profile choices that are no settings (SID format, XML declaration).

    Raises:
        ConfigError: the merged timeouts or caps are inconsistent.
    """
    gena = settings.gena
    base = GenaPolicy()
    merged: dict[str, int] = {key: getattr(base, key) for key in _GENA_KEYS}
    merged.update(defaults or {})
    given = {key: getattr(gena, key) for key in _GENA_KEYS if getattr(gena, key) is not None}
    merged.update(given)
    # A default the user did not choose yields to the bounds the user did choose
    # (e.g. max_timeout = 3600 under sonos also lowers its 86400 default grant).
    if "min_timeout" not in given:
        merged["min_timeout"] = min(
            merged["min_timeout"], given.get("default_timeout", merged["max_timeout"])
        )
        merged["min_timeout"] = min(merged["min_timeout"], merged["max_timeout"])
    if "max_timeout" not in given:
        merged["max_timeout"] = max(merged["max_timeout"], merged["min_timeout"])
        merged["max_timeout"] = max(merged["max_timeout"], given.get("default_timeout", 0))
    if "default_timeout" not in given:
        merged["default_timeout"] = max(
            merged["min_timeout"], min(merged["max_timeout"], merged["default_timeout"])
        )
    values: dict[str, object] = dict(merged)
    values["callback_scope"] = gena.callback_scope
    values.update(fixed)
    try:
        return GenaPolicy(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"[gena] with the {settings.profile} profile's defaults: {exc}") from None
