"""The ``sonos`` profile: a zone player's ConnectionManagers.

Rules in docs/rules.md, UDA 1.1 §2.3: a ``ZonePlayer:1`` root
``uuid:RINCON_<12 hex>01400`` with embedded ``…_MS`` MediaServer and ``…_MR``
MediaRenderer, the captured ``/xml/ConnectionManager1.xml`` byte for byte,
only the three mandatory actions, the lists and idle CurrentConnectionIDs
(``""``) a zone player reports, Sonos SSDP extras and GENA grants, a minimal
DeviceProperties (GetHouseholdID, GetZoneAttributes, GetZoneInfo: what Sonos
clients such as SoCo ask before subscribing) and ``/status``. The deviations
kept on purpose are listed in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from upnpcm._version import __version__
from upnpcm.core.connection_manager import (
    ConnectionManager,
    ConnectionManagerConfig,
    StateVariablesChanged,
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
from upnpcm.errors import ConfigError, UPnPError
from upnpcm.profiles.base import (
    DeviceSpec,
    Profile,
    check_device_texts,
    cm_service,
    gena_policy,
    option_list,
    option_text,
)
from upnpcm.settings import DeviceSettings
from upnpcm.state import StateStore

__all__ = [
    "PROFILE",
    "SONOS_GENA",
    "SONOS_OUIS",
    "SONOS_SERVER",
    "StaticService",
    "build",
    "sonos_sid",
]

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


#: OUIs of the MAC addresses zone players carry (IEEE registry: Sonos, Inc.). Each has
#: the multicast (I/G) and local (U/L) bits of its first octet clear, as a NIC's must.
SONOS_OUIS: Final = (
    "000E58",
    "5CAAFD",
    "48A6B8",
    "949F3E",
    "B8E937",
    "347E5C",
    "542A1B",
    "F0F6C1",
    "7828CA",
    "38420B",
    "C43875",
)


def _rincon() -> str:
    """A zone player's UDN: RINCON_, a unicast MAC under a Sonos OUI, then 01400."""
    import secrets

    return f"uuid:RINCON_{secrets.choice(SONOS_OUIS)}{secrets.token_hex(3).upper()}01400"


def _household() -> str:
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "Sonos_" + "".join(secrets.choice(alphabet) for _ in range(26))


def sonos_sid(entropy: int) -> str:
    """A Sonos-shaped SID (``uuid:RINCON_…_sub…``) whose tail is 20 random digits, not a counter."""
    return f"uuid:RINCON_{entropy >> 100:07X}01400_sub{entropy % 10**20:020d}"


#: An action's answer: fixed values, or a function of the address the request arrived on.
Answer = Mapping[str, object] | Callable[[str], Mapping[str, object]]


@dataclass(slots=True)
class StaticService:
    """A read-only service whose actions answer fixed values (Sonos DeviceProperties).

    An answer may depend on the address the request arrived on (GetZoneInfo's
    IPAddress), so the core passes it (``wants_local_address``).
    """

    answers: Mapping[str, Answer]
    wants_local_address: bool = True

    def handle_action(
        self,
        action: str,
        arguments: Mapping[str, object],
        *,
        now: float | None = None,
        local: str = "",
    ) -> Mapping[str, object]:
        """The answer of ``action`` for a request that arrived on ``local``.

        Raises:
            UPnPError: 401 for an action without an answer.
        """
        answer = self.answers.get(action)
        if answer is None:
            raise UPnPError(401, f"no action {action}")
        return answer(local) if callable(answer) else answer

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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Identity:
    """Who this zone player says it is (description, DeviceProperties, SSDP, /status)."""

    udn: str
    mac: str
    household: str
    room: str
    software: str
    model_number: str

    @property
    def serial(self) -> str:
        """A zone player's serial number is its MAC, then ":0"."""
        return f"{self.mac.replace(':', '-')}:0"


_HARDWARE: Final = "1.9.1.10-2.2"
_PROPERTIES_SERVICE: Final = Service(
    service_type="urn:schemas-upnp-org:service:DeviceProperties:1",
    service_id="urn:upnp-org:serviceId:DeviceProperties",
    scpd_url="/xml/DeviceProperties1.xml",
    control_url="/DeviceProperties/Control",
    event_sub_url="/DeviceProperties/Event",
)


def build(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """The zone player: identity, both ConnectionManagers, DeviceProperties, /status.

    Raises:
        ConfigError: a UDN not shaped like a zone player's, or a bad ``[profile_options]`` value.
    """
    options = dict(settings.profile_options)
    check_device_texts(settings)
    me = _identity(settings, store, options)
    cm_scpd_xml = _sonos_data("ConnectionManager1.xml")
    cm_scpd = parse_scpd(cm_scpd_xml)
    renderer_cm, server_cm = _connection_managers(options)
    properties_scpd = _device_properties_scpd()
    renderer_service, server_service = cm_service("MediaRenderer"), cm_service("MediaServer")
    description = DeviceDescription(device=_root_device(me, server_service, renderer_service))
    return DeviceSpec(
        profile="sonos",
        description=description,
        description_xml=render_device_description(description),
        services=(
            HostedService(
                service=_PROPERTIES_SERVICE,
                scpd=properties_scpd,
                scpd_xml=render_scpd(properties_scpd),
                handler=_device_properties(me),
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
        resources={
            "/status": Resource(content_type="text/plain; charset=utf-8", body=_status_page(me))
        },
        server_header=SONOS_SERVER,
        ssdp_headers={
            "X-RINCON-HOUSEHOLD": me.household,
            "X-RINCON-BOOTSEQ": "{boot_id}",
            "X-RINCON-WIFIMODE": "1",
            "X-RINCON-VARIANT": "2",
        },
        ssdp_config_id=False,
        cache_control="max-age = 1800",
        gena_headers=(("Connection", "close"),),
    )


def _identity(
    settings: DeviceSettings, store: StateStore, options: Mapping[str, object]
) -> _Identity:
    """The UDN (configured or kept in the state directory), MAC, household and names."""
    root_udn = settings.udn or store.identity("udn.sonos", _rincon)
    if not root_udn.startswith("uuid:RINCON_") or not root_udn.endswith("01400"):
        raise ConfigError(f"a Sonos UDN is uuid:RINCON_<12 hex>01400, not {root_udn!r}")
    mac_hex = root_udn.removeprefix("uuid:RINCON_").removesuffix("01400")
    household = option_text(options, "household", "") or store.identity(
        "household.sonos", _household
    )
    return _Identity(
        udn=root_udn,
        mac=":".join(mac_hex[i : i + 2] for i in range(0, len(mac_hex), 2)),
        household=household,
        room=option_text(options, "room_name", settings.friendly_name or "upnpcm"),
        software=option_text(options, "software_version", "85.0-64200"),
        model_number=option_text(options, "model_number", "S9"),
    )


def _connection_managers(
    options: Mapping[str, object],
) -> tuple[ConnectionManager, ConnectionManager]:
    """The MediaRenderer's (Sink list) and the MediaServer's (Source list) ConnectionManagers."""
    sink = option_list(options, "sink", _sonos_data("MediaRenderer-Sink.txt").decode("utf-8"))
    source = option_list(options, "source", SONOS_MS_SOURCE)
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
    return renderer_cm, server_cm


def _device_properties(me: _Identity) -> StaticService:
    """The fixed answers of DeviceProperties."""
    return StaticService(
        {
            "GetHouseholdID": {"CurrentHouseholdID": me.household},
            "GetZoneAttributes": {
                "CurrentZoneName": me.room,
                "CurrentIcon": "x-rincon-roomicon:living",
                "CurrentConfiguration": "1",
                "CurrentTargetRoomName": me.room,
            },
            "GetZoneInfo": lambda local: {
                "SerialNumber": me.serial,
                "SoftwareVersion": me.software,
                "DisplaySoftwareVersion": "16.3",
                "HardwareVersion": _HARDWARE,
                "IPAddress": local,  # the address this client reached us on
                "MACAddress": me.mac,
                "CopyrightInfo": "upnpcm sonos profile (an emulator, not Sonos software)",
                "ExtraInfo": "",
                "HTAudioIn": 0,
                "Flags": "0",
            },
        }
    )


def _root_device(me: _Identity, server_service: Service, renderer_service: Service) -> Device:
    """The ZonePlayer root with its embedded MediaServer (``…_MS``) and MediaRenderer (``…_MR``)."""
    return Device(
        device_type="urn:schemas-upnp-org:device:ZonePlayer:1",
        udn=me.udn,
        friendly_name=f"{me.room} - upnpcm ZonePlayer",
        manufacturer="Sonos, Inc.",
        manufacturer_url="http://www.sonos.com",
        model_number=me.model_number,
        model_description="upnpcm Sonos profile: a zone player's ConnectionManagers",
        model_name="upnpcm ZonePlayer",
        model_url="https://pypi.org/project/upnpcm/",
        extras=(
            ("softwareVersion", me.software),
            ("swGen", "2"),
            ("hardwareVersion", _HARDWARE),
            ("serialNum", me.serial),
            ("MACAddress", me.mac),
            ("roomName", me.room),
            ("displayName", "upnpcm"),
            ("zoneType", "10"),
            ("householdControlID", me.household),
        ),
        services=(_PROPERTIES_SERVICE,),
        devices=(
            Device(
                device_type="urn:schemas-upnp-org:device:MediaServer:1",
                udn=f"{me.udn}_MS",
                friendly_name=f"{me.room} - upnpcm ZonePlayer Media Server",
                manufacturer="Sonos, Inc.",
                model_name="upnpcm ZonePlayer",
                services=(server_service,),
            ),
            Device(
                device_type="urn:schemas-upnp-org:device:MediaRenderer:1",
                udn=f"{me.udn}_MR",
                friendly_name=f"{me.room} - upnpcm ZonePlayer Media Renderer",
                manufacturer="Sonos, Inc.",
                model_name="upnpcm ZonePlayer",
                services=(renderer_service,),
            ),
        ),
    )


def _status_page(me: _Identity) -> Callable[[], bytes]:
    """The body of ``/status``: who this is and how long it has been up."""
    started = _monotonic()

    def status() -> bytes:
        uptime = int(_monotonic() - started)
        lines = [
            f"upnpcm {__version__} - sonos profile",
            f"room: {me.room}",
            f"UDN: {me.udn}",
            f"household: {me.household}",
            f"software version (reported): {me.software}",
            f"uptime: {uptime} s",
            "services: DeviceProperties, MediaServer/ConnectionManager, MediaRenderer/ConnectionManager",
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")

    return status


def _monotonic() -> float:
    import time

    return time.monotonic()


PROFILE: Final = Profile(
    "sonos",
    build,
    "Sonos zone player: ZonePlayer root, MS + MR ConnectionManagers",
    options={
        "household": "The Sonos household ID, Sonos_... (default: generated once and kept "
        "in the state directory).",
        "room_name": 'The room name (default: [device].friendly_name, else "upnpcm").',
        "sink": "The MediaRenderer's Sink list, a string or a list of strings (default: "
        "what a zone player reports).",
        "source": "The MediaServer's Source list, a string or a list of strings (default: "
        "what a zone player reports).",
        "software_version": 'The software version reported (default "85.0-64200").',
        "model_number": 'The model number reported (default "S9").',
        "connection_info_faults": "true: GetCurrentConnectionInfo faults, as zone players "
        "are reported to (402 for connection 0, 706 otherwise); false: the standard answer "
        "for connection 0 (default true).",
    },
)
