"""Profiles: what a hosted device looks like and how it behaves.

A profile turns :class:`~upnpcm.settings.DeviceSettings` and the persisted
identity into a :class:`DeviceSpec`: the description layout, the SCPDs, the
ConnectionManager behaviour switches, GENA grants and SSDP extras. Every
profile runs on the same core; only the configuration differs.

``standard``
    A ``Basic:1`` root device with an embedded MediaRenderer (Sink list) and
    MediaServer (Source list), laid out as a Sonos zone player lays them out,
    each with a full ConnectionManager:1 (PrepareForConnection on by default).

``sonos``
    A zone player's ConnectionManagers (rules in docs/rules.md, UDA 1.1 §2.3): a ``ZonePlayer:1`` root
    ``uuid:RINCON_<12 hex>01400`` with embedded ``…_MS`` MediaServer and ``…_MR``
    MediaRenderer, the captured ``/xml/ConnectionManager1.xml`` byte for byte,
    only the three mandatory actions, the lists and idle CurrentConnectionIDs
    (``""``) a zone player reports, Sonos SSDP extras and GENA grants, a minimal
    DeviceProperties (GetHouseholdID, GetZoneAttributes, GetZoneInfo: what Sonos
    clients such as SoCo ask before subscribing) and ``/status``. The deviations
    kept on purpose are listed in the README.
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
    StateVariablesChanged,
    connection_manager_scpd,
)
from upnpcm.core.description import (
    Action,
    Argument,
    Device,
    DeviceDescription,
    Service,
    ServiceDescription,
    StateVariable,
    parse_scpd,
    render_device_description,
    render_scpd,
)
from upnpcm.core.device import HostedService, Resource
from upnpcm.core.gena import GenaPolicy
from upnpcm.errors import UPnPError
from upnpcm.settings import ConfigError, DeviceSettings, check_text
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
    #: Extra headers of every SUBSCRIBE/UNSUBSCRIBE answer (Sonos: ``Connection: close``).
    gena_headers: tuple[tuple[str, str], ...] = ()
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
    return check_text(
        settings.friendly_name or f"upnpcm on {socket.gethostname() or 'localhost'}",
        "[device].friendly_name",
    )


def _check_device_texts(settings: DeviceSettings) -> None:
    """Names end up in XML and SSDP headers: no control characters (also for settings in code)."""
    for key in ("friendly_name", "manufacturer", "model_name", "model_number", "udn"):
        value = getattr(settings, key)
        if value is not None:
            check_text(value, f"[device].{key}")


def _option_text(options: Mapping[str, object], key: str, default: str) -> str:
    """A ``[profile_options]`` string (``default`` when absent or empty)."""
    value = options.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ConfigError(f"[profile_options].{key} must be a string")
    return check_text(value, f"[profile_options].{key}")


def _option_list(options: Mapping[str, object], key: str, default: str) -> str:
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


def _build_standard(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    if not (settings.renderer or settings.server):
        raise ConfigError("enable at least one of [renderer] and [server]")
    _check_device_texts(settings)
    for key in ("renderer_sink", "renderer_source", "server_source", "server_sink"):
        check_text(getattr(settings, key), key)
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
                connection_idle_timeout=settings.connection_idle_timeout,
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


# ---------------------------------------------------------------------- sonos

SONOS_SERVER: Final = "Linux UPnP/1.0 Sonos/85.0-64200 (ZPS29)"
#: GENA grants of a zone player (32 subscriptions per service, homebridge-zp#180); the
#: per-peer cap stays at rule B5's 8. Any [gena] value the user gives wins.
SONOS_GENA: Final[Mapping[str, int]] = {
    "min_timeout": 60,
    "max_timeout": 86400,
    "default_timeout": 86400,
    "max_subscriptions": 32,
    "max_per_peer": 8,
}
#: The MediaServer's Source list a zone player is reported to serve (CM:1 §2.2.1).
SONOS_MS_SOURCE: Final = (
    "file:*:audio/mpegurl:*,x-file-cifs:*:*:*,x-rincon:*:*:*,x-rincon-mp3radio:*:*:*,"
    "x-rincon-playlist:*:*:*,x-rincon-queue:*:*:*,x-rincon-stream:*:*:*"
)


def _sonos_data(name: str) -> bytes:
    from importlib.resources import files

    return files("upnpcm.data").joinpath("sonos", name).read_bytes()


def _rincon() -> str:
    import secrets

    return f"uuid:RINCON_{secrets.token_hex(6).upper()}01400"


def _household() -> str:
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "Sonos_" + "".join(secrets.choice(alphabet) for _ in range(26))


def sonos_sid(entropy: int) -> str:
    """A Sonos-shaped SID (``uuid:RINCON_…_sub…``) whose tail is 20 random digits, not a counter."""
    return f"uuid:RINCON_{entropy >> 100:07X}01400_sub{entropy % 10**20:020d}"


@dataclass(slots=True)
class StaticService:
    """A read-only service whose actions answer fixed values (Sonos DeviceProperties)."""

    answers: Mapping[str, Mapping[str, object]]

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object]:
        """The fixed answer of ``action`` (``now`` is not needed).

        Raises:
            UPnPError: 401 for an action without an answer.
        """
        answer = self.answers.get(action)
        if answer is None:
            raise UPnPError(401, f"no action {action}")
        return answer

    def evented_state(self) -> dict[str, str]:
        """Nothing is evented."""
        return {}

    def events(self) -> list[StateVariablesChanged]:
        """Nothing changes."""
        return []


def _device_properties_scpd() -> ServiceDescription:
    def out(name: str, var: str) -> Argument:
        return Argument(name=name, direction="out", related_state_variable=var)

    zone_info = (
        "SerialNumber",
        "SoftwareVersion",
        "DisplaySoftwareVersion",
        "HardwareVersion",
        "IPAddress",
        "MACAddress",
        "CopyrightInfo",
        "ExtraInfo",
        "HTAudioIn",
        "Flags",
    )
    return ServiceDescription(
        actions=(
            Action(
                name="GetHouseholdID", arguments=(out("CurrentHouseholdID", "A_ARG_TYPE_String"),)
            ),
            Action(
                name="GetZoneAttributes",
                arguments=(
                    out("CurrentZoneName", "ZoneName"),
                    out("CurrentIcon", "Icon"),
                    out("CurrentConfiguration", "Configuration"),
                    out("CurrentTargetRoomName", "A_ARG_TYPE_String"),
                ),
            ),
            Action(
                name="GetZoneInfo",
                arguments=tuple(
                    out(name, "HTAudioIn" if name == "HTAudioIn" else "A_ARG_TYPE_String")
                    for name in zone_info
                ),
            ),
        ),
        state_variables=(
            StateVariable(name="ZoneName", send_events=False),
            StateVariable(name="Icon", send_events=False),
            StateVariable(name="Configuration", send_events=False),
            StateVariable(name="HTAudioIn", data_type="ui4", send_events=False),
            StateVariable(name="A_ARG_TYPE_String", send_events=False),
        ),
    )


def _build_sonos(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    options = dict(settings.profile_options)
    _check_device_texts(settings)
    root_udn = settings.udn or store.identity("udn.sonos", _rincon)
    if not root_udn.startswith("uuid:RINCON_") or not root_udn.endswith("01400"):
        raise ConfigError(f"a Sonos UDN is uuid:RINCON_<12 hex>01400, not {root_udn!r}")
    rincon = root_udn.removeprefix("uuid:")
    mac_hex = rincon.removeprefix("RINCON_").removesuffix("01400")
    mac = ":".join(mac_hex[i : i + 2] for i in range(0, len(mac_hex), 2))
    household = _option_text(options, "household", "") or store.identity(
        "household.sonos", _household
    )
    room = _option_text(options, "room_name", settings.friendly_name or "upnpcm")
    software = _option_text(options, "software_version", "85.0-64200")
    model_number = _option_text(options, "model_number", "S9")
    serial = f"{mac.replace(':', '-')}:0"  # a zone player's serial is its MAC, then ":0"
    hardware = "1.9.1.10-2.2"
    cm_scpd_xml = _sonos_data("ConnectionManager1.xml")
    cm_scpd = parse_scpd(cm_scpd_xml)
    sink = _option_list(options, "sink", _sonos_data("MediaRenderer-Sink.txt").decode("utf-8"))
    source = _option_list(options, "source", SONOS_MS_SOURCE)
    faults = options.get("connection_info_faults", True)
    if not isinstance(faults, bool):
        raise ConfigError("[profile_options].connection_info_faults must be true or false")
    renderer_cm, server_cm = (
        ConnectionManager(
            ConnectionManagerConfig(
                source=lists[0],
                sink=lists[1],
                prepare_for_connection=False,
                idle_connection_ids="",
                connection_info_faults=faults,
            )
        )
        for lists in (("", sink), (source, ""))
    )
    properties_service = Service(
        service_type="urn:schemas-upnp-org:service:DeviceProperties:1",
        service_id="urn:upnp-org:serviceId:DeviceProperties",
        scpd_url="/xml/DeviceProperties1.xml",
        control_url="/DeviceProperties/Control",
        event_sub_url="/DeviceProperties/Event",
    )
    properties_scpd = _device_properties_scpd()
    properties = StaticService(
        {
            "GetHouseholdID": {"CurrentHouseholdID": household},
            "GetZoneAttributes": {
                "CurrentZoneName": room,
                "CurrentIcon": "x-rincon-roomicon:living",
                "CurrentConfiguration": "1",
                "CurrentTargetRoomName": room,
            },
            "GetZoneInfo": {
                "SerialNumber": serial,
                "SoftwareVersion": software,
                "DisplaySoftwareVersion": "16.3",
                "HardwareVersion": hardware,
                "IPAddress": "",
                "MACAddress": mac,
                "CopyrightInfo": "upnpcm sonos profile (an emulator, not Sonos software)",
                "ExtraInfo": "",
                "HTAudioIn": 0,
                "Flags": "0",
            },
        }
    )
    renderer_service, server_service = cm_service("MediaRenderer"), cm_service("MediaServer")
    root = Device(
        device_type="urn:schemas-upnp-org:device:ZonePlayer:1",
        udn=root_udn,
        friendly_name=f"{room} - upnpcm ZonePlayer",
        manufacturer="Sonos, Inc.",
        manufacturer_url="http://www.sonos.com",
        model_number=model_number,
        model_description="upnpcm Sonos profile: a zone player's ConnectionManagers",
        model_name="upnpcm ZonePlayer",
        model_url="https://pypi.org/project/upnpcm/",
        extras=(
            ("softwareVersion", software),
            ("swGen", "2"),
            ("hardwareVersion", hardware),
            ("serialNum", serial),
            ("MACAddress", mac),
            ("roomName", room),
            ("displayName", "upnpcm"),
            ("zoneType", "10"),
            ("householdControlID", household),
        ),
        services=(properties_service,),
        devices=(
            Device(
                device_type="urn:schemas-upnp-org:device:MediaServer:1",
                udn=f"{root_udn}_MS",
                friendly_name=f"{room} - upnpcm ZonePlayer Media Server",
                manufacturer="Sonos, Inc.",
                model_name="upnpcm ZonePlayer",
                services=(server_service,),
            ),
            Device(
                device_type="urn:schemas-upnp-org:device:MediaRenderer:1",
                udn=f"{root_udn}_MR",
                friendly_name=f"{room} - upnpcm ZonePlayer Media Renderer",
                manufacturer="Sonos, Inc.",
                model_name="upnpcm ZonePlayer",
                services=(renderer_service,),
            ),
        ),
    )
    description = DeviceDescription(device=root)
    started = _monotonic()

    def status() -> bytes:
        uptime = int(_monotonic() - started)
        lines = [
            f"upnpcm {__version__} - sonos profile",
            f"room: {room}",
            f"UDN: {root_udn}",
            f"household: {household}",
            f"software version (reported): {software}",
            f"uptime: {uptime} s",
            "services: DeviceProperties, MediaServer/ConnectionManager, MediaRenderer/ConnectionManager",
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")

    return DeviceSpec(
        profile="sonos",
        description=description,
        description_xml=render_device_description(description),
        services=(
            HostedService(
                service=properties_service,
                scpd=properties_scpd,
                scpd_xml=render_scpd(properties_scpd),
                handler=properties,
            ),
            HostedService(
                service=server_service, scpd=cm_scpd, scpd_xml=cm_scpd_xml, handler=server_cm
            ),
            HostedService(
                service=renderer_service, scpd=cm_scpd, scpd_xml=cm_scpd_xml, handler=renderer_cm
            ),
        ),
        connection_managers={"renderer": renderer_cm, "server": server_cm},
        gena_policy=gena_policy(
            settings,
            defaults=SONOS_GENA,
            sid_format=sonos_sid,
            xml_declaration=False,
        ),
        default_port=1400,
        resources={"/status": Resource(content_type="text/plain; charset=utf-8", body=status)},
        server_header=SONOS_SERVER,
        ssdp_headers={
            "X-RINCON-HOUSEHOLD": household,
            "X-RINCON-BOOTSEQ": "{boot_id}",
            "X-RINCON-WIFIMODE": "1",
            "X-RINCON-VARIANT": "2",
        },
        ssdp_config_id=False,
        cache_control="max-age = 1800",
        gena_headers=(("Connection", "close"),),
    )


def _monotonic() -> float:
    import time

    return time.monotonic()


PROFILES: Final[dict[str, Profile]] = {
    "sonos": Profile(
        "sonos", _build_sonos, "Sonos zone player: ZonePlayer root, MS + MR ConnectionManagers"
    ),
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
