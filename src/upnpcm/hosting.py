"""Build and host UPnP devices of your own: the public device-building API.

Everything a device needs is here (also exported by :mod:`upnpcm`)::

    from upnpcm.hosting import Device, DeviceHost, Service, StateVariable, action

* :class:`Service`, :class:`StateVariable`, :func:`action`, :class:`Instance`
  — a service: its SCPD (XML text or declarations) and its implementation
  (see :mod:`upnpcm.service` for the rules of names, arguments and state);
* :class:`ConnectionManagerService` — the ConnectionManager:1 of this project,
  ready to add to a device, with instance hooks for a renderer (rule R9);
* :class:`Device` — a root or embedded device composed from services;
* :class:`DeviceHost` — serves a :class:`Device` (HTTP, GENA, SSDP) and
  drives its services' clocks; :func:`device_spec` is what it hosts.

URL layout (each can be set per service): a root device's services answer at
``/<Name>/Control`` and ``/<Name>/Event``, an embedded device's at
``/<path>/<Name>/…`` (``path`` defaults to the device type's name, e.g.
``MediaRenderer``); SCPDs are served at ``/xml/<Name><version>.xml`` (the
Sonos layout), shared when identical.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from upnpcm.core.connection_manager import (
    CONNECTION_MANAGER_ID,
    CONNECTION_MANAGER_TYPE,
    ConnectionBinder,
    ConnectionInfo,
    ConnectionManager,
    ConnectionManagerConfig,
    StateVariablesChanged,
    connection_manager_scpd,
)
from upnpcm.core.description import Device as DeviceModel
from upnpcm.core.description import DeviceDescription, Icon, render_device_description
from upnpcm.core.description import Service as ServiceEntry
from upnpcm.core.device import HostedService
from upnpcm.errors import UPnPError
from upnpcm.service import Instance, Service, StateVariable, action

if TYPE_CHECKING:
    from upnpcm.host import DeviceHost
    from upnpcm.profiles import DeviceSpec
    from upnpcm.settings import DeviceSettings
    from upnpcm.state import StateStore

__all__ = [
    "ConnectionBinder",
    "ConnectionInfo",
    "ConnectionManagerService",
    "Device",
    "DeviceHost",
    "Icon",
    "Instance",
    "Service",
    "StateVariable",
    "UPnPError",
    "action",
    "device_spec",
]

_ROLES: Final = {"MediaRenderer": "renderer", "MediaServer": "server"}


def __getattr__(name: str) -> Any:
    if name == "DeviceHost":  # host.py imports this module: resolved on first use
        from upnpcm.host import DeviceHost

        return DeviceHost
    raise AttributeError(f"module 'upnpcm.hosting' has no attribute {name!r}")


class ConnectionManagerService(Service):
    """ConnectionManager:1 (rules R1-R9) as a service of a device of your own.

    Args:
        source, sink: SourceProtocolInfo / SinkProtocolInfo wire text.
        prepare_for_connection: offer PrepareForConnection/ConnectionComplete.
        max_connections, connection_idle_timeout: as in
            :class:`~upnpcm.core.connection_manager.ConnectionManagerConfig`.
        binder: makes the AVTransport/RenderingControl instances of each new
            connection and frees them when it ends (R9); a renderer's.
        config: a whole configuration instead of the keywords above.
        scpd: the SCPD to serve, as given (default: the standard's, rendered
            for ``prepare_for_connection``); it must list the actions offered.
    """

    service_type = CONNECTION_MANAGER_TYPE
    service_id = CONNECTION_MANAGER_ID

    def __init__(
        self,
        *,
        source: str = "",
        sink: str = "",
        prepare_for_connection: bool = True,
        max_connections: int = 16,
        connection_idle_timeout: float = 3600.0,
        binder: ConnectionBinder | None = None,
        config: ConnectionManagerConfig | None = None,
        scpd: str | bytes | None = None,
        **urls: str,
    ) -> None:
        config = config or ConnectionManagerConfig(
            source=source,
            sink=sink,
            prepare_for_connection=prepare_for_connection,
            max_connections=max_connections,
            connection_idle_timeout=connection_idle_timeout,
        )
        #: The ConnectionManager state machine behind this service.
        self.manager = ConnectionManager(config, binder=binder)
        given = scpd or connection_manager_scpd(
            prepare_for_connection=config.prepare_for_connection
        )
        super().__init__(scpd=given, **urls)
        self.cacheable_actions = self.manager.cacheable_actions

    @property
    def state_version(self) -> int:
        """The ConnectionManager's, plus this service's own steps (cached answers follow it)."""
        return self.manager.state_version + self._own_version

    @state_version.setter
    def state_version(self, value: int) -> None:
        """A step of this service's own (an injected fault); the manager's steps still count."""
        self._own_version = value - self.manager.state_version

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object]:
        """The ConnectionManager's answer (faults injected with fail_next come first)."""
        self._raise_injected(action)
        return self.manager.handle_action(action, arguments, now=now)

    def evented_state(self) -> dict[str, str]:
        """SourceProtocolInfo, SinkProtocolInfo, CurrentConnectionIDs (R7)."""
        return self.manager.evented_state()

    def events(self) -> list[StateVariablesChanged]:
        """The ConnectionManager's queued changes (R7)."""
        return self.manager.events()

    def expire_idle(self, now: float) -> Sequence[object]:
        """Drop idle connections (R8)."""
        return self.manager.expire_idle(now)

    def next_expiry(self) -> float | None:
        """When the next idle connection expires."""
        return self.manager.next_expiry()

    def set_protocol_info(self, *, source: str | None = None, sink: str | None = None) -> None:
        """Change the Source/Sink lists; subscribers get the change."""
        self.manager.set_protocol_info(source=source, sink=sink)
        if self._wake is not None:
            self._wake()


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A root or embedded device: its description fields, services and embedded devices.

    ``udn`` defaults to one kept in the host's state directory (root) or
    derived from the root's (embedded); ``path`` is the URL prefix of an
    embedded device's services (default: the name in its device type).
    ``extras`` are vendor elements of the description, as (name, text).
    """

    device_type: str
    friendly_name: str = "upnpcm device"
    services: Sequence[Service] = ()
    devices: Sequence[Device] = ()
    udn: str | None = None
    manufacturer: str = "upnpcm"
    manufacturer_url: str | None = None
    model_name: str = "upnpcm"
    model_number: str | None = None
    model_description: str | None = None
    model_url: str | None = None
    serial_number: str | None = None
    presentation_url: str | None = None
    icons: Sequence[Icon] = ()
    extras: Sequence[tuple[str, str]] = ()
    path: str | None = None

    def iter_services(self) -> list[Service]:
        """Every service of this device and its embedded devices, depth first."""
        found = list(self.services)
        for sub in self.devices:
            found.extend(sub.iter_services())
        return found


@dataclass(slots=True)
class _Layout:
    """URL choices made while a device tree is turned into its description."""

    hosted: list[HostedService] = field(default_factory=list)
    scpds: dict[str, bytes] = field(default_factory=dict)
    roles: dict[str, ConnectionManager] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


def _type_name(type_urn: str) -> str:
    parts = type_urn.split(":")
    return parts[-2] if len(parts) >= 3 else type_urn


def _version(type_urn: str) -> str:
    version = type_urn.rsplit(":", 1)[-1]
    return version if version.isdigit() else "1"


def _place(service: Service, prefix: str, layout: _Layout) -> ServiceEntry:
    if id(service) in layout.seen:
        raise ValueError(f"{service.service_type}: one Service object is hosted twice")
    layout.seen.add(id(service))
    base = f"{prefix}/{service.name}"
    scpd_url = service.scpd_url
    if scpd_url is None:
        scpd_url = f"/xml/{service.name}{_version(service.service_type)}.xml"
        if layout.scpds.get(scpd_url, service.scpd_xml) != service.scpd_xml:
            scpd_url = f"/xml{prefix}/{service.name}{_version(service.service_type)}.xml"
    layout.scpds[scpd_url] = service.scpd_xml
    service.scpd_url = scpd_url
    service.control_url = service.control_url or f"{base}/Control"
    service.event_sub_url = service.event_sub_url or f"{base}/Event"
    entry = ServiceEntry(
        service_type=service.service_type,
        service_id=service.service_id,
        scpd_url=scpd_url,
        control_url=service.control_url,
        event_sub_url=service.event_sub_url,
    )
    layout.hosted.append(
        HostedService(
            service=entry,
            scpd=service.description,
            scpd_xml=service.scpd_xml,
            handler=service,
            value_faults=dict(service.value_faults),
            event_merges=service.event_merges,
            ignore_extra_arguments=service.ignore_extra_arguments,
            type_aliases=tuple(service.type_aliases),
        )
    )
    return entry


def _model(
    device: Device, udn: str, prefix: str, root_uuid: uuid.UUID | None, layout: _Layout
) -> DeviceModel:
    entries = tuple(_place(service, prefix, layout) for service in device.services)
    role = _ROLES.get(_type_name(device.device_type))
    for service in device.services:
        if isinstance(service, ConnectionManagerService) and role is not None:
            layout.roles.setdefault(role, service.manager)
    subs = []
    used: set[str] = set()
    for sub in device.devices:
        path = (sub.path or _type_name(sub.device_type)).strip("/")
        if path in used:
            raise ValueError(f"two embedded devices at /{path}: give one a path")
        used.add(path)
        sub_udn = sub.udn or (
            f"uuid:{uuid.uuid5(root_uuid, path)}" if root_uuid is not None else f"{udn}_{path}"
        )
        subs.append(_model(sub, sub_udn, f"{prefix}/{path}", root_uuid, layout))
    return DeviceModel(
        device_type=device.device_type,
        udn=udn,
        friendly_name=device.friendly_name,
        manufacturer=device.manufacturer,
        manufacturer_url=device.manufacturer_url,
        model_description=device.model_description,
        model_name=device.model_name,
        model_number=device.model_number,
        model_url=device.model_url,
        serial_number=device.serial_number,
        presentation_url=device.presentation_url,
        icons=tuple(device.icons),
        services=entries,
        devices=tuple(subs),
        extras=tuple(device.extras),
    )


def device_spec(
    device: Device,
    settings: DeviceSettings,
    store: StateStore,
    *,
    profile: str = "custom",
    server_header: str | None = None,
    description_path: str = "/xml/device_description.xml",
    resources: Mapping[str, Any] | None = None,
    identity: str | None = None,
) -> DeviceSpec:
    """What :class:`DeviceHost` serves for ``device``: description, URLs, hosted services.

    A root without a UDN gets one kept in ``store`` under ``identity`` (by
    default a key made of its device type and friendly name).

    Raises:
        ValueError: a Service object used twice, or two embedded devices at one path.
        ConfigError: the settings' GENA limits are inconsistent.
    """
    from upnpcm.profiles import DeviceSpec, default_server_header, gena_policy

    udn = device.udn or settings.udn
    if udn is None:
        if identity is None:
            key = f"{device.device_type}|{device.friendly_name}".encode()
            identity = f"udn.{hashlib.sha256(key).hexdigest()[:16]}"
        udn = store.identity(identity)
    try:
        root_uuid: uuid.UUID | None = uuid.UUID(udn.removeprefix("uuid:"))
    except ValueError:
        root_uuid = None
    layout = _Layout()
    root = _model(device, udn, "", root_uuid, layout)
    description = DeviceDescription(device=root)
    return DeviceSpec(
        profile=profile,
        description=description,
        description_xml=render_device_description(description),
        services=tuple(layout.hosted),
        connection_managers=layout.roles,
        gena_policy=gena_policy(settings),
        description_path=description_path,
        resources=dict(resources or {}),
        server_header=default_server_header() if server_header is None else server_header,
    )
