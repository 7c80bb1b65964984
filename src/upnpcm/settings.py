"""Settings of a hosted device, and the TOML file they are read from.

Every key, with its type, default and meaning, is in docs/configuration.md,
which is generated from this module (``python -m upnpcm.settings_doc``): the
``#:`` comment above a field is what the page says it means. A new key is a
field here (with its comment) and its place in the tables below (or a
dataclass field of its own section, as [gena] is).

A protocolInfo list may be written as a list (joined with
:func:`~upnpcm.core.protocol_info.format_list`, commas inside an entry
escaped) or as one string, served exactly as written.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from upnpcm.aio.http_server import HttpLimits
from upnpcm.core.connection_manager import ConnectionManagerConfig
from upnpcm.core.delivery import DeliveryPolicy
from upnpcm.core.gena import policy_problem
from upnpcm.core.protocol_info import ProtocolInfo, format_list, parse_list
from upnpcm.errors import ConfigError, ProtocolInfoError

__all__ = [
    "DEFAULT_SINK",
    "DEFAULT_SOURCE",
    "ConfigError",
    "DeviceSettings",
    "GenaSettings",
    "HttpSettings",
    "check_text",
    "load_settings",
]

#: A renderer's Sink list: common audio formats, with DLNA profiles where they exist.
DEFAULT_SINK: Final = format_list(
    [
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3",
        "http-get:*:audio/mpeg:*",
        "http-get:*:audio/mp4:DLNA.ORG_PN=AAC_ISO_320",
        "http-get:*:audio/mp4:*",
        "http-get:*:audio/aac:*",
        "http-get:*:audio/flac:*",
        "http-get:*:audio/ogg:*",
        "http-get:*:audio/wav:*",
        "http-get:*:audio/L16;rate=44100;channels=2:DLNA.ORG_PN=LPCM",
        "http-get:*:audio/L16;rate=48000;channels=2:DLNA.ORG_PN=LPCM",
        "http-get:*:audio/x-ms-wma:*",
        "http-get:*:audio/aiff:*",
    ]
)
#: A server's Source list: what a typical music library streams.
DEFAULT_SOURCE: Final = format_list(
    [
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01;DLNA.ORG_FLAGS=01700000000000000000000000000000",
        "http-get:*:audio/flac:DLNA.ORG_OP=01;DLNA.ORG_FLAGS=01700000000000000000000000000000",
        "http-get:*:audio/mp4:DLNA.ORG_PN=AAC_ISO_320;DLNA.ORG_OP=01;DLNA.ORG_FLAGS=01700000000000000000000000000000",
        "http-get:*:audio/L16;rate=44100;channels=2:DLNA.ORG_PN=LPCM;DLNA.ORG_OP=01",
        "http-get:*:audio/wav:DLNA.ORG_OP=01",
        "http-get:*:audio/ogg:DLNA.ORG_OP=01",
    ]
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GenaSettings:
    """Eventing limits (see :class:`~upnpcm.core.gena.GenaPolicy`).

    ``None`` leaves a value to the profile (standard: the
    :class:`~upnpcm.core.gena.GenaPolicy` defaults; sonos: zone-player
    grants); a value given here always wins over the profile's.
    """

    #: The shortest subscription granted, in seconds: a shorter TIMEOUT asked for is raised
    #: to it (default: the profile's; standard 1800, sonos 60).
    min_timeout: int | None = None
    #: The longest subscription granted, in seconds (default: the profile's; standard 3600,
    #: sonos 86400).
    max_timeout: int | None = None
    #: The subscription granted when none is asked for, in seconds (default: the profile's;
    #: standard 1800, sonos 86400).
    default_timeout: int | None = None
    #: Subscriptions one service holds at most; one more is refused with 503 (default: the
    #: profile's; 32).
    max_subscriptions: int | None = None
    #: Subscriptions one control point (one address) holds per service at most (default: the
    #: profile's; 8).
    max_per_peer: int | None = None
    #: Where events may be sent: "peer" (only to the subscriber's own address) or "subnet"
    #: (to any address in a network of this device).
    callback_scope: str = "peer"
    #: Seconds between two NOTIFYs to one subscriber at least (changes in between are
    #: sent together).
    min_interval: float = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """The device's HTTP connection caps and timeouts (``[http]``; docs/security.md).

    ``None`` keeps the default of :class:`~upnpcm.aio.http_server.HttpLimits`.
    Checked once, by :class:`HttpLimits` itself: every value positive and
    finite, the per-peer cap not above the global one.
    """

    #: TCP connections the device keeps open at once; one more is answered 503 and closed
    #: (default: 64).
    max_connections: int | None = None
    #: Connections one address keeps open at once, so that one host cannot take them all; one
    #: more is answered 503 (default: 8, or max_connections when that is lower).
    max_connections_per_peer: int | None = None
    #: Seconds a client has to send a request head before the connection is closed (default: 10).
    header_timeout: float | None = None
    #: Seconds a client has to send the rest of a request body (default: 30).
    body_timeout: float | None = None
    #: Seconds an idle kept-alive connection stays open (default: 15).
    keepalive_timeout: float | None = None

    def overrides(self) -> dict[str, Any]:
        """What :class:`HttpLimits` should change: the values given, by name.

        A global cap under the default per-peer cap lowers the per-peer cap with it.
        """
        values = {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        if self.max_connections is not None and self.max_connections_per_peer is None:
            default = HttpLimits().max_connections_per_peer
            values["max_connections_per_peer"] = min(default, self.max_connections)
        return values


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSettings:
    """Everything that shapes a hosted device. Defaults work with no file at all."""

    #: What the device looks like: "standard" (a MediaRenderer and a MediaServer),
    #: "sonos" (a zone player's ConnectionManagers) or "renderer" (a whole MediaRenderer:
    #: AVTransport, RenderingControl, ConnectionManager). Also `upnpcm serve --profile`.
    profile: str = "standard"
    #: Addresses to listen on (default: every address). Also `--host`.
    host: tuple[str, ...] = ()
    #: The HTTP port (default: the profile's, 1400). Also `--port`; 0 picks a free one.
    port: int | None = None
    #: Advertise the device and answer searches (SSDP). Also `--no-ssdp`.
    ssdp: bool = True
    #: Interfaces (names or addresses) SSDP runs on (default: every one but loopback, or
    #: loopback alone when there is no other). Also `--interface`.
    interfaces: tuple[str, ...] = ()
    #: Serve /status: the device, its connections, subscriptions and latest events, as
    #: HTML, JSON or text (the Sonos profile keeps its own text). Also `--no-status-page`.
    status_page: bool = True
    #: Host header values accepted besides this device's own IP:port (a name, as
    #: "speaker.local:1400"); others are refused with 400 against DNS rebinding.
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds an async action of a hosted service may take; past it the answer is 501.
    action_timeout: float = 25.0
    #: The name control points show (default: "upnpcm on <host name>").
    friendly_name: str | None = None
    #: The manufacturer in the device description.
    manufacturer: str = "upnpcm"
    #: The model name in the device description.
    model_name: str = "upnpcm ConnectionManager"
    #: The model number in the device description (default: the upnpcm version).
    model_number: str | None = None
    #: The device's UDN, "uuid:..." (default: generated once and kept in the state directory).
    udn: str | None = None
    #: Offer PrepareForConnection and ConnectionComplete (false: connection 0 only).
    prepare_for_connection: bool = True
    #: Connections each ConnectionManager holds at most; one more is refused with 704.
    max_connections: int = 16
    #: Seconds a connection may go unused by any action before it is dropped; 0: never.
    connection_idle_timeout: float = 3600.0
    #: Host the MediaRenderer's ConnectionManager.
    renderer: bool = True
    #: What the renderer accepts (its Sink list).
    renderer_sink: str = DEFAULT_SINK
    #: What the renderer offers (its Source list; usually empty).
    renderer_source: str = ""
    #: Host the MediaServer's ConnectionManager.
    server: bool = True
    #: What the server offers (its Source list).
    server_source: str = DEFAULT_SOURCE
    #: What the server accepts (its Sink list; usually empty).
    server_sink: str = ""
    #: Eventing limits.
    gena: GenaSettings = field(default_factory=GenaSettings)
    #: Connection caps and timeouts of the device's HTTP server.
    http: HttpSettings = field(default_factory=HttpSettings)
    #: Settings of the chosen profile, kept as given (see each profile's options).
    profile_options: Mapping[str, Any] = field(default_factory=dict)


def check_text(value: str, where: str) -> str:
    """``value`` if it holds no control character (XML and SSDP headers cannot carry them).

    Raises:
        ConfigError: a C0/C1 control character (tab and newline included), a
            surrogate, U+FFFE or U+FFFF.
    """
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
            raise ConfigError(f"{where} contains the control character U+{ord(char):04X}")
    return value


def _protocol_list(value: object, where: str) -> str:
    if isinstance(value, str):
        parsed = parse_list(value)
        if parsed.invalid:
            bad = parsed.invalid[0]
            raise ConfigError(f"{where}: entry {bad.text!r} is not a protocolInfo ({bad.reason})")
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        for item in value:
            try:
                ProtocolInfo.parse(item)
            except ProtocolInfoError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return format_list(value)
    raise ConfigError(f"{where} must be a string or a list of strings")


def _expect(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table[key]
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise ConfigError(f"{where}.{key} must be a number, not a boolean")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key} must be {names}")
    return value


_SECTIONS: Final[dict[str, dict[str, tuple[str, type | tuple[type, ...]]]]] = {
    "network": {
        "port": ("port", int),
        "ssdp": ("ssdp", bool),
        "status_page": ("status_page", bool),
        "action_timeout": ("action_timeout", (int, float)),
    },
    "device": {
        "friendly_name": ("friendly_name", str),
        "manufacturer": ("manufacturer", str),
        "model_name": ("model_name", str),
        "model_number": ("model_number", str),
        "udn": ("udn", str),
    },
    "connection_manager": {
        "prepare_for_connection": ("prepare_for_connection", bool),
        "max_connections": ("max_connections", int),
        "connection_idle_timeout": ("connection_idle_timeout", (int, float)),
    },
    "renderer": {"enabled": ("renderer", bool)},
    "server": {"enabled": ("server", bool)},
}
_LIST_KEYS: Final = {
    ("network", "host"): "host",
    ("network", "interfaces"): "interfaces",
    ("network", "allowed_hosts"): "allowed_hosts",
}
_PROTOCOL_KEYS: Final = {
    ("renderer", "sink"): "renderer_sink",
    ("renderer", "source"): "renderer_source",
    ("server", "source"): "server_source",
    ("server", "sink"): "server_sink",
}


def settings_from_mapping(
    data: Mapping[str, Any], *, base: DeviceSettings | None = None
) -> DeviceSettings:
    """Build settings from a parsed TOML document.

    Raises:
        ConfigError: an unknown section or key, or a value of the wrong type.
    """
    updates: dict[str, Any] = {}
    profile_options: dict[str, Any] = {}
    for section, table in data.items():
        if section == "profile":
            if not isinstance(table, str):
                raise ConfigError("profile must be a string")
            updates["profile"] = table
            continue
        if section == "profile_options":
            if not isinstance(table, dict):
                raise ConfigError("[profile_options] must be a table")
            profile_options.update(table)
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"unknown top-level key {section!r}")
        if section == "gena":
            updates["gena"] = _gena(table)
            continue
        if section == "http":
            updates["http"] = _http(table)
            continue
        known = _SECTIONS.get(section)
        if known is None:
            raise ConfigError(f"unknown section [{section}]")
        for key in table:
            where = f"[{section}]"
            if key in known:
                attr, kind = known[key]
                updates[attr] = _expect(table, key, kind, where)
                if isinstance(updates[attr], str):
                    check_text(updates[attr], f"{where}.{key}")
            elif (section, key) in _LIST_KEYS:
                value = table[key]
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{where}.{key} must be a string or a list of strings")
                updates[_LIST_KEYS[(section, key)]] = tuple(value)
            elif (section, key) in _PROTOCOL_KEYS:
                updates[_PROTOCOL_KEYS[(section, key)]] = _protocol_list(
                    table[key], f"{where}.{key}"
                )
            else:
                raise ConfigError(f"unknown key {key!r} in {where}")
    cm_values: dict[str, Any] = {
        k: updates[k] for k in ("max_connections", "connection_idle_timeout") if k in updates
    }
    _check("[connection_manager]", ConnectionManagerConfig, cm_values)
    if "action_timeout" in updates and not updates["action_timeout"] > 0:
        raise ConfigError("[network].action_timeout must be more than 0 seconds")
    if "port" in updates and not 0 <= updates["port"] < 65536:
        raise ConfigError("[network].port must be 0..65535")
    if profile_options:
        updates["profile_options"] = profile_options
    return replace(base or DeviceSettings(), **updates)


def _gena(table: Mapping[str, Any]) -> GenaSettings:
    known = {f.name: f for f in fields(GenaSettings)}
    values: dict[str, Any] = {}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in [gena]")
        kind: type | tuple[type, ...] = (
            str if key == "callback_scope" else (int, float) if key == "min_interval" else int
        )
        values[key] = _expect(table, key, kind, "[gena]")
    gena = GenaSettings(**values)
    if gena.callback_scope not in ("peer", "subnet"):
        raise ConfigError('[gena].callback_scope must be "peer" or "subnet"')
    # What the file gives must agree with itself (the core's own check); the
    # profile's defaults fill the rest, and the whole is checked again when the
    # device is built.
    problem = policy_problem(
        min_timeout=gena.min_timeout,
        default_timeout=gena.default_timeout,
        max_timeout=gena.max_timeout,
        max_subscriptions=gena.max_subscriptions,
        max_per_peer=gena.max_per_peer,
    )
    if problem:
        raise ConfigError(f"[gena] {problem}")
    _check("[gena]", DeliveryPolicy, {"min_interval": gena.min_interval})
    return gena


def _check(where: str, model: Callable[..., object], values: Mapping[str, Any]) -> None:
    """Build ``model(**values)`` to run its own checks; its ValueError becomes a ConfigError."""
    try:
        model(**values)
    except ValueError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _http(table: Mapping[str, Any]) -> HttpSettings:
    known = {f.name for f in fields(HttpSettings)}
    values: dict[str, Any] = {}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in [http]")
        kind: type | tuple[type, ...] = int if key.startswith("max_") else (int, float)
        values[key] = _expect(table, key, kind, "[http]")
    http = HttpSettings(**values)
    _check("[http]", HttpLimits, http.overrides())
    return http


def load_settings(path: Path | str, *, base: DeviceSettings | None = None) -> DeviceSettings:
    """Read a TOML settings file.

    Raises:
        ConfigError: unreadable, not TOML, or invalid (the message says where).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return settings_from_mapping(data, base=base)
