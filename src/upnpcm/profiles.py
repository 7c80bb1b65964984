"""Profiles: what a hosted device looks like and how it behaves.

A profile turns :class:`~upnpcm.settings.DeviceSettings` and the persisted
identity into a :class:`DeviceSpec`: the description layout, the SCPDs, the
ConnectionManager behaviour switches, GENA grants and SSDP extras. Every
profile runs on the same core; only the configuration differs.

``standard``
    A ``Basic:1`` root device with an embedded MediaRenderer (Sink list) and
    MediaServer (Source list), laid out as a Sonos zone player lays them out,
    each with a full ConnectionManager:1 (PrepareForConnection on by default).
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from upnpcm._version import __version__
from upnpcm.core.connection_manager import (
    CONNECTION_MANAGER_ID,
    CONNECTION_MANAGER_TYPE,
    ConnectionManager,
    ConnectionManagerConfig,
    connection_manager_scpd,
)
from upnpcm.core.description import (
    Device,
    DeviceDescription,
    Service,
    render_device_description,
    render_scpd,
)
from upnpcm.core.device import HostedService, Resource
from upnpcm.core.gena import GenaPolicy
from upnpcm.settings import ConfigError, DeviceSettings
from upnpcm.state import StateStore

__all__ = ["PROFILES", "DeviceSpec", "Profile", "build_device_spec"]

MEDIA_RENDERER: Final = "urn:schemas-upnp-org:device:MediaRenderer:1"
MEDIA_SERVER: Final = "urn:schemas-upnp-org:device:MediaServer:1"
BASIC_DEVICE: Final = "urn:schemas-upnp-org:device:Basic:1"
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
    #: Whether SSDP messages carry CONFIGID.UPNP.ORG.
    ssdp_config_id: bool = True

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
    """A named way of building a device."""

    name: str
    build: Builder
    summary: str


def default_server_header() -> str:
    """``OS/version UPnP/1.1 upnpcm/version`` (UDA 1.1 §1.1.3)."""
    import platform

    system = platform.system() or "Unknown"
    release = (platform.release() or "0").split("-")[0]
    return f"{system}/{release} UPnP/1.1 upnpcm/{__version__}"


def _friendly_name(settings: DeviceSettings) -> str:
    return settings.friendly_name or f"upnpcm on {socket.gethostname() or 'localhost'}"


def cm_service(prefix: str) -> Service:
    """The ConnectionManager entry of an embedded device at ``/<prefix>/ConnectionManager/…``."""
    return Service(
        service_type=CONNECTION_MANAGER_TYPE,
        service_id=CONNECTION_MANAGER_ID,
        scpd_url=CM_SCPD_PATH,
        control_url=f"/{prefix}/ConnectionManager/Control",
        event_sub_url=f"/{prefix}/ConnectionManager/Event",
    )


def gena_policy(settings: DeviceSettings, **overrides: object) -> GenaPolicy:
    """The GENA policy configured in ``settings`` (``overrides`` win)."""
    gena = settings.gena
    values: dict[str, object] = {
        "min_timeout": gena.min_timeout,
        "max_timeout": gena.max_timeout,
        "default_timeout": gena.default_timeout,
        "max_subscriptions": gena.max_subscriptions,
        "max_per_peer": gena.max_per_peer,
        "callback_scope": gena.callback_scope,
    }
    values.update(overrides)
    return GenaPolicy(**values)  # type: ignore[arg-type]


def _build_standard(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    if not (settings.renderer or settings.server):
        raise ConfigError("enable at least one of [renderer] and [server]")
    root_udn = settings.udn or store.identity("udn.standard")
    try:
        root_uuid = uuid.UUID(root_udn.removeprefix("uuid:"))
    except ValueError:
        raise ConfigError(f"UDN {root_udn!r} is not uuid:<RFC 4122 UUID>") from None
    scpd = connection_manager_scpd(prepare_for_connection=settings.prepare_for_connection)
    scpd_xml = render_scpd(scpd)
    name = _friendly_name(settings)
    embedded: list[Device] = []
    hosted: list[HostedService] = []
    managers: dict[str, ConnectionManager] = {}
    roles = [
        (
            "renderer",
            settings.renderer,
            "MediaRenderer",
            MEDIA_RENDERER,
            settings.renderer_source,
            settings.renderer_sink,
        ),
        (
            "server",
            settings.server,
            "MediaServer",
            MEDIA_SERVER,
            settings.server_source,
            settings.server_sink,
        ),
    ]
    for role, enabled, prefix, device_type, source, sink in roles:
        if not enabled:
            continue
        manager = ConnectionManager(
            ConnectionManagerConfig(
                source=source,
                sink=sink,
                prepare_for_connection=settings.prepare_for_connection,
                max_connections=settings.max_connections,
            )
        )
        service = cm_service(prefix)
        managers[role] = manager
        hosted.append(HostedService(service=service, scpd=scpd, scpd_xml=scpd_xml, handler=manager))
        embedded.append(
            Device(
                device_type=device_type,
                udn=f"uuid:{uuid.uuid5(root_uuid, prefix)}",
                friendly_name=f"{name} - {prefix}",
                manufacturer=settings.manufacturer,
                model_name=settings.model_name,
                model_number=settings.model_number,
                services=(service,),
            )
        )
    root = Device(
        device_type=BASIC_DEVICE,
        udn=f"uuid:{root_uuid}",
        friendly_name=name,
        manufacturer=settings.manufacturer,
        manufacturer_url="https://pypi.org/project/upnpcm/",
        model_description="UPnP AV ConnectionManager host",
        model_name=settings.model_name,
        model_number=settings.model_number or __version__,
        devices=tuple(embedded),
    )
    description = DeviceDescription(device=root)
    return DeviceSpec(
        profile="standard",
        description=description,
        description_xml=render_device_description(description),
        services=tuple(hosted),
        connection_managers=managers,
        gena_policy=gena_policy(settings),
        server_header=default_server_header(),
    )


PROFILES: Final[dict[str, Profile]] = {
    "standard": Profile(
        "standard",
        _build_standard,
        "Basic root + MediaRenderer + MediaServer, full ConnectionManager:1",
    ),
}


def build_device_spec(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """Build the device ``settings.profile`` describes.

    Raises:
        ConfigError: unknown profile, or settings the profile cannot use.
    """
    profile = PROFILES.get(settings.profile)
    if profile is None:
        raise ConfigError(f"unknown profile {settings.profile!r} (known: {', '.join(PROFILES)})")
    return profile.build(settings, store)
