"""The ``standard`` profile.

A ``Basic:1`` root device with an embedded MediaRenderer (Sink list) and
MediaServer (Source list), laid out as a Sonos zone player lays them out,
each with a full ConnectionManager:1 (PrepareForConnection on by default).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Final

from upnpcm._version import __version__
from upnpcm.core.connection_manager import (
    ConnectionManager,
    ConnectionManagerConfig,
    connection_manager_scpd,
)
from upnpcm.core.description import (
    Device,
    DeviceDescription,
    render_device_description,
    render_scpd,
)
from upnpcm.core.device import HostedService
from upnpcm.errors import ConfigError
from upnpcm.profiles.base import (
    DeviceSpec,
    Profile,
    check_device_texts,
    cm_service,
    default_server_header,
    friendly_name,
    gena_policy,
)
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.state import StateStore

__all__ = ["BASIC_DEVICE", "MEDIA_RENDERER", "MEDIA_SERVER", "PROFILE", "build"]

MEDIA_RENDERER: Final = "urn:schemas-upnp-org:device:MediaRenderer:1"
MEDIA_SERVER: Final = "urn:schemas-upnp-org:device:MediaServer:1"
BASIC_DEVICE: Final = "urn:schemas-upnp-org:device:Basic:1"
#: The specVersion of our descriptions, the version SERVER names (UPnP/1.1).
UDA_VERSION: Final = (1, 1)


def build(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """The standard device: a Basic root with the enabled MediaRenderer and MediaServer.

    Raises:
        ConfigError: neither role enabled, a bad UDN, or a text with control characters.
    """
    if not (settings.renderer or settings.server):
        raise ConfigError("enable at least one of [renderer] and [server]")
    check_device_texts(settings)
    for key in ("renderer_sink", "renderer_source", "server_source", "server_sink"):
        check_text(getattr(settings, key), key)
    root_uuid = _root_uuid(settings, store)
    # UDA 1.1 throughout: SERVER says UPnP/1.1, and BOOTID/CONFIGID are what 1.1 adds.
    scpd = replace(
        connection_manager_scpd(prepare_for_connection=settings.prepare_for_connection),
        spec_version=UDA_VERSION,
    )
    scpd_xml = render_scpd(scpd)
    name = friendly_name(settings)
    embedded: list[Device] = []
    hosted: list[HostedService] = []
    managers: dict[str, ConnectionManager] = {}
    roles = [
        ("renderer", settings.renderer, "MediaRenderer", MEDIA_RENDERER),
        ("server", settings.server, "MediaServer", MEDIA_SERVER),
    ]
    for role, enabled, prefix, device_type in roles:
        if not enabled:
            continue
        manager = _connection_manager(settings, role)
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
    description = DeviceDescription(device=root, spec_version=UDA_VERSION)
    return DeviceSpec(
        profile="standard",
        description=description,
        description_xml=render_device_description(description),
        services=tuple(hosted),
        connection_managers=managers,
        gena_policy=gena_policy(settings),
        server_header=default_server_header(),
    )


def _root_uuid(settings: DeviceSettings, store: StateStore) -> uuid.UUID:
    """The root device's UUID: configured, or generated once and kept in the state directory."""
    root_udn = settings.udn or store.identity("udn.standard")
    try:
        return uuid.UUID(root_udn.removeprefix("uuid:"))
    except ValueError:
        raise ConfigError(f"UDN {root_udn!r} is not uuid:<RFC 4122 UUID>") from None


def _connection_manager(settings: DeviceSettings, role: str) -> ConnectionManager:
    """The ConnectionManager of ``role`` ("renderer" or "server") with its lists and limits."""
    source, sink = (
        (settings.renderer_source, settings.renderer_sink)
        if role == "renderer"
        else (settings.server_source, settings.server_sink)
    )
    return ConnectionManager(
        ConnectionManagerConfig(
            source=source,
            sink=sink,
            prepare_for_connection=settings.prepare_for_connection,
            max_connections=settings.max_connections,
            connection_idle_timeout=settings.connection_idle_timeout,
        )
    )


PROFILE: Final = Profile(
    "standard", build, "Basic root + MediaRenderer + MediaServer, full ConnectionManager:1"
)
