"""Device and service descriptions (UDA 1.1 §2.3 device, §2.5 SCPD): models, parse, render.

Parsing is tolerant of what real devices serve (rule D2): element
order is free (Sonos puts the state table first), vendor elements are kept as
``extras``, text is stripped (mixed tabs), ``URLBase`` may be absent and
unreplaced ``#TOKEN#`` text is kept as it is. What a control point cannot work
without (``deviceType``, ``UDN``; an action's or variable's ``name``) raises
:class:`RemoteProtocolError`.

Trees are walked iteratively (never recursion over untrusted input).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from upnpcm.core.http import decimal, plain_ip
from upnpcm.core.xml import check_name, child, child_text, children, local_name, parse_xml
from upnpcm.errors import RemoteProtocolError

__all__ = [
    "DEVICE_NS",
    "SERVICE_NS",
    "Action",
    "AllowedValueRange",
    "Argument",
    "Device",
    "DeviceDescription",
    "Icon",
    "Service",
    "ServiceDescription",
    "StateVariable",
    "parse_device_description",
    "parse_scpd",
    "render_device_description",
    "render_scpd",
]

DEVICE_NS: Final = "urn:schemas-upnp-org:device-1-0"
SERVICE_NS: Final = "urn:schemas-upnp-org:service-1-0"
#: Largest description or SCPD a control point reads (rule B7).
MAX_DESCRIPTION_BYTES: Final = 1024 * 1024

_DEVICE_FIELDS: Final = (
    ("deviceType", "device_type"),
    ("friendlyName", "friendly_name"),
    ("manufacturer", "manufacturer"),
    ("manufacturerURL", "manufacturer_url"),
    ("modelDescription", "model_description"),
    ("modelName", "model_name"),
    ("modelNumber", "model_number"),
    ("modelURL", "model_url"),
    ("serialNumber", "serial_number"),
    ("UDN", "udn"),
    ("UPC", "upc"),
)
_KNOWN_DEVICE_CHILDREN: Final = frozenset(
    {name for name, _ in _DEVICE_FIELDS}
    | {"iconList", "serviceList", "deviceList", "presentationURL"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Icon:
    """One ``iconList/icon`` entry."""

    mimetype: str
    width: int
    height: int
    depth: int
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """One ``serviceList/service`` entry; URLs as written (maybe relative)."""

    service_type: str
    service_id: str
    scpd_url: str
    control_url: str
    event_sub_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A root or embedded device (UDA 1.1 §2.3)."""

    device_type: str
    udn: str
    friendly_name: str = ""
    manufacturer: str = ""
    manufacturer_url: str | None = None
    model_description: str | None = None
    model_name: str = ""
    model_number: str | None = None
    model_url: str | None = None
    serial_number: str | None = None
    upc: str | None = None
    presentation_url: str | None = None
    icons: tuple[Icon, ...] = ()
    services: tuple[Service, ...] = ()
    devices: tuple[Device, ...] = ()
    #: Vendor elements (``roomName``, ``softwareVersion``, …) as (name, text) pairs.
    extras: tuple[tuple[str, str], ...] = ()

    def iter_devices(self) -> Iterator[Device]:
        """This device and every embedded device, depth first, in document order."""
        stack: list[Device] = [self]
        while stack:
            device = stack.pop()
            yield device
            stack.extend(reversed(device.devices))

    def iter_services(self) -> Iterator[tuple[Device, Service]]:
        """Every (device, service) pair of this tree."""
        for device in self.iter_devices():
            for service in device.services:
                yield device, service


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDescription:
    """A parsed ``<root>`` document."""

    device: Device
    spec_version: tuple[int, int] = (1, 0)
    url_base: str | None = None

    def absolute_url(self, location: str, url: str) -> str:
        """Resolve ``url`` against URLBase if present, else against ``location``."""
        return urljoin(self.url_base or location, url)

    def foreign_urls(self, location: str) -> list[str]:
        """The URLs a control point would use that are not on ``location``'s host (rule D5).

        URLBase and every service's SCPDURL, controlURL and eventSubURL, as
        resolved, in document order, each once. A URL is foreign unless it is
        ``http``/``https`` on the same host as ``location`` (IP addresses
        compared as addresses, names case-insensitively; nothing is resolved)
        and on ``location``'s port or a port from 1024 up. A URL that does not
        parse is left to fail where it is used.
        """
        try:
            home = _origin(location)
        except ValueError:
            home = None
        urls = [self.url_base] if self.url_base else []
        for _, service in self.device.iter_services():
            urls += [service.scpd_url, service.control_url, service.event_sub_url]
        foreign: dict[str, None] = {}
        for url in urls:
            try:
                absolute = self.absolute_url(location, url)
                there = _origin(absolute)
            except ValueError:
                continue
            if home is None or there is None or not _same_host(home, there):
                foreign[absolute] = None
        return list(foreign)


def _origin(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL; None for another scheme or no host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port  # ValueError for a bad port: the caller's to handle
    ip = plain_ip(parts.hostname)
    host = str(ip) if ip is not None else parts.hostname.lower().rstrip(".")
    return host, port if port is not None else (443 if scheme == "https" else 80)


def _same_host(home: tuple[str, int], there: tuple[str, int]) -> bool:
    return there[0] == home[0] and (there[1] == home[1] or there[1] >= 1024)


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowedValueRange:
    """``allowedValueRange``; bounds as wire text, converted by the variable's type."""

    minimum: str
    maximum: str
    step: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateVariable:
    """One ``serviceStateTable/stateVariable``."""

    name: str
    data_type: str = "string"
    send_events: bool = True
    multicast: bool = False
    default_value: str | None = None
    allowed_values: tuple[str, ...] | None = None
    allowed_range: AllowedValueRange | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Argument:
    """One action argument; ``related_state_variable`` gives its type."""

    name: str
    direction: Literal["in", "out"]
    related_state_variable: str
    retval: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One ``actionList/action``; arguments in SCPD order."""

    name: str
    arguments: tuple[Argument, ...] = ()
    _in: tuple[Argument, ...] = field(init=False, repr=False, compare=False, hash=False)
    _out: tuple[Argument, ...] = field(init=False, repr=False, compare=False, hash=False)
    _in_by_name: dict[str, Argument] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        inputs = tuple(arg for arg in self.arguments if arg.direction == "in")
        object.__setattr__(self, "_in", inputs)
        object.__setattr__(self, "_out", tuple(a for a in self.arguments if a.direction == "out"))
        object.__setattr__(self, "_in_by_name", {arg.name: arg for arg in inputs})

    @property
    def in_arguments(self) -> tuple[Argument, ...]:
        """The ``in`` arguments, in SCPD order."""
        return self._in

    @property
    def out_arguments(self) -> tuple[Argument, ...]:
        """The ``out`` arguments, in SCPD order."""
        return self._out

    def in_argument(self, name: str) -> Argument | None:
        """The ``in`` argument called ``name``, or None."""
        return self._in_by_name.get(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDescription:
    """A parsed SCPD (UDA 1.1 §2.5)."""

    actions: tuple[Action, ...] = ()
    state_variables: tuple[StateVariable, ...] = ()
    spec_version: tuple[int, int] = (1, 0)
    _actions: dict[str, Action] = field(init=False, repr=False, compare=False)
    _variables: dict[str, StateVariable] = field(init=False, repr=False, compare=False)
    _typed: dict[int, dict[str, tuple[Argument, StateVariable]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_actions", {a.name: a for a in self.actions})
        object.__setattr__(self, "_variables", {v.name: v for v in self.state_variables})
        object.__setattr__(self, "_typed", {})

    def typed_arguments(self, action: Action) -> dict[str, tuple[Argument, StateVariable]]:
        """Each argument of ``action`` with the state variable that types it (cached).

        An argument whose ``relatedStateVariable`` is missing from the table is
        typed as a plain string.
        """
        typed = self._typed.get(id(action))
        if typed is None or action.name not in self._actions:
            typed = {
                arg.name: (
                    arg,
                    self._variables.get(arg.related_state_variable)
                    or StateVariable(name=arg.related_state_variable, data_type="string"),
                )
                for arg in action.arguments
            }
            if self._actions.get(action.name) is action:
                self._typed[id(action)] = typed
        return typed

    def action(self, name: str) -> Action | None:
        """The action called ``name``, or None."""
        return self._actions.get(name)

    def state_variable(self, name: str) -> StateVariable | None:
        """The state variable called ``name``, or None."""
        return self._variables.get(name)

    @property
    def evented_variables(self) -> tuple[StateVariable, ...]:
        """Variables with ``sendEvents="yes"``, in SCPD order."""
        return tuple(v for v in self.state_variables if v.send_events)


# --------------------------------------------------------------------------- parse


def _spec_version(root: Element) -> tuple[int, int]:
    spec = child(root, "specVersion")
    if spec is None:
        return (1, 0)
    return (
        decimal(child_text(spec, "major"), default=1),
        decimal(child_text(spec, "minor"), default=0),
    )


def _parse_service(elem: Element) -> Service:
    service_type = child_text(elem, "serviceType") or ""
    if not service_type:
        raise RemoteProtocolError("service without serviceType")
    fallback_id = "urn:upnp-org:serviceId:" + (
        service_type.split(":")[-2] if service_type.count(":") >= 2 else service_type
    )
    return Service(
        service_type=service_type,
        service_id=child_text(elem, "serviceId") or fallback_id,
        scpd_url=child_text(elem, "SCPDURL") or "",
        control_url=child_text(elem, "controlURL") or "",
        event_sub_url=child_text(elem, "eventSubURL") or "",
    )


def _parse_device_shallow(elem: Element, devices: tuple[Device, ...]) -> Device:
    values: dict[str, str | None] = {attr: child_text(elem, name) for name, attr in _DEVICE_FIELDS}
    if not values["device_type"]:
        raise RemoteProtocolError("device without deviceType")
    if not values["udn"]:
        raise RemoteProtocolError("device without UDN")
    icons: list[Icon] = []
    icon_list = child(elem, "iconList")
    if icon_list is not None:
        icons.extend(
            Icon(
                mimetype=child_text(icon, "mimetype") or "",
                width=decimal(child_text(icon, "width"), default=0),
                height=decimal(child_text(icon, "height"), default=0),
                depth=decimal(child_text(icon, "depth"), default=0),
                url=child_text(icon, "url") or "",
            )
            for icon in children(icon_list, "icon")
        )
    service_list = child(elem, "serviceList")
    services = (
        tuple(_parse_service(s) for s in children(service_list, "service"))
        if service_list is not None
        else ()
    )
    extras = tuple(
        (local_name(sub.tag), (sub.text or "").strip())
        for sub in elem
        if local_name(sub.tag) not in _KNOWN_DEVICE_CHILDREN
    )
    return Device(
        device_type=values["device_type"] or "",
        udn=values["udn"] or "",
        friendly_name=values["friendly_name"] or "",
        manufacturer=values["manufacturer"] or "",
        manufacturer_url=values["manufacturer_url"],
        model_description=values["model_description"],
        model_name=values["model_name"] or "",
        model_number=values["model_number"],
        model_url=values["model_url"],
        serial_number=values["serial_number"],
        upc=values["upc"],
        presentation_url=child_text(elem, "presentationURL"),
        icons=tuple(icons),
        services=services,
        devices=devices,
        extras=extras,
    )


def _count_tree(top: Element, max_devices: int | None, max_services: int | None) -> None:
    """Refuse a tree over the caps before anything is built from it (rule B11)."""
    devices = services = 0
    stack = [top]
    while stack:
        elem = stack.pop()
        devices += 1
        service_list = child(elem, "serviceList")
        if service_list is not None:
            services += len(children(service_list, "service"))
        if max_devices is not None and devices > max_devices:
            raise RemoteProtocolError(
                f"the description lists more than {max_devices} devices (limit max_devices)"
            )
        if max_services is not None and services > max_services:
            raise RemoteProtocolError(
                f"the description lists more than {max_services} services (limit max_services)"
            )
        device_list = child(elem, "deviceList")
        if device_list is not None:
            stack.extend(children(device_list, "device"))


def _parse_device_tree(top: Element) -> Device:
    # Iterative post-order: children are built before their parent.
    built: dict[int, Device] = {}
    stack: list[tuple[Element, bool]] = [(top, False)]
    while stack:
        elem, expanded = stack.pop()
        device_list = child(elem, "deviceList")
        subs = children(device_list, "device") if device_list is not None else []
        if not expanded:
            stack.append((elem, True))
            stack.extend((sub, False) for sub in subs)
            continue
        built[id(elem)] = _parse_device_shallow(elem, tuple(built.pop(id(sub)) for sub in subs))
    return built[id(top)]


def parse_device_description(
    data: bytes,
    *,
    max_bytes: int = MAX_DESCRIPTION_BYTES,
    max_devices: int | None = None,
    max_services: int | None = None,
) -> DeviceDescription:
    """Parse a device description document.

    Padding around the document (ASCII whitespace, NUL bytes) is tolerated:
    real devices send it (:func:`~upnpcm.core.xml.parse_xml`, ``strip_padding``).
    ``max_devices`` and ``max_services`` cap the tree (root included), checked
    before any model is built (rule B11).

    Raises:
        RemoteProtocolError: unsafe or malformed XML, no ``<root>``/``<device>``,
            a device without ``deviceType``/``UDN``, or more devices or services
            than allowed (the message names the limit).
    """
    root = parse_xml(data, max_bytes=max_bytes, strip_padding=True)
    if local_name(root.tag) != "root":
        raise RemoteProtocolError(
            f"device description root is <{local_name(root.tag)}>, not <root>"
        )
    device_elem = child(root, "device")
    if device_elem is None:
        raise RemoteProtocolError("device description has no <device>")
    _count_tree(device_elem, max_devices, max_services)
    return DeviceDescription(
        device=_parse_device_tree(device_elem),
        spec_version=_spec_version(root),
        url_base=child_text(root, "URLBase") or None,
    )


def _parse_argument(elem: Element) -> Argument:
    name = child_text(elem, "name")
    if not name:
        raise RemoteProtocolError("argument without name")
    direction = (child_text(elem, "direction") or "").lower()
    if direction not in ("in", "out"):
        raise RemoteProtocolError(f"argument {name!r} has direction {direction!r}")
    return Argument(
        name=name,
        direction="in" if direction == "in" else "out",
        related_state_variable=child_text(elem, "relatedStateVariable") or "",
        retval=child(elem, "retval") is not None,
    )


def _parse_state_variable(elem: Element) -> StateVariable:
    name = child_text(elem, "name")
    if not name:
        raise RemoteProtocolError("stateVariable without name")
    allowed_list = child(elem, "allowedValueList")
    allowed_values = (
        tuple((v.text or "").strip() for v in children(allowed_list, "allowedValue"))
        if allowed_list is not None
        else None
    )
    range_elem = child(elem, "allowedValueRange")
    allowed_range = None
    if range_elem is not None:
        allowed_range = AllowedValueRange(
            minimum=child_text(range_elem, "minimum") or "",
            maximum=child_text(range_elem, "maximum") or "",
            step=child_text(range_elem, "step"),
        )
    data_type = child_text(elem, "dataType") or "string"
    return StateVariable(
        name=name,
        data_type=data_type,
        send_events=(elem.get("sendEvents", "yes").strip().lower() != "no"),
        multicast=(elem.get("multicast", "no").strip().lower() == "yes"),
        default_value=child_text(elem, "defaultValue"),
        allowed_values=allowed_values,
        allowed_range=allowed_range,
    )


def parse_scpd(data: bytes, *, max_bytes: int = MAX_DESCRIPTION_BYTES) -> ServiceDescription:
    """Parse a service description (SCPD) document.

    Padding around the document (ASCII whitespace, NUL bytes) is tolerated:
    real devices send it (:func:`~upnpcm.core.xml.parse_xml`, ``strip_padding``).

    Raises:
        RemoteProtocolError: unsafe or malformed XML, a root other than
            ``<scpd>``, or a nameless action/argument/variable.
    """
    root = parse_xml(data, max_bytes=max_bytes, strip_padding=True)
    if local_name(root.tag) != "scpd":
        raise RemoteProtocolError(f"SCPD root is <{local_name(root.tag)}>, not <scpd>")
    actions: list[Action] = []
    action_list = child(root, "actionList")
    if action_list is not None:
        for action_elem in children(action_list, "action"):
            name = child_text(action_elem, "name")
            if not name:
                raise RemoteProtocolError("action without name")
            argument_list = child(action_elem, "argumentList")
            arguments = (
                tuple(_parse_argument(a) for a in children(argument_list, "argument"))
                if argument_list is not None
                else ()
            )
            actions.append(Action(name=name, arguments=arguments))
    variables: list[StateVariable] = []
    table = child(root, "serviceStateTable")
    if table is not None:
        variables.extend(_parse_state_variable(v) for v in children(table, "stateVariable"))
    return ServiceDescription(
        actions=tuple(actions), state_variables=tuple(variables), spec_version=_spec_version(root)
    )


# --------------------------------------------------------------------------- render


def _text(parent: Element, tag: str, text: str | None) -> None:
    if text is not None:
        SubElement(parent, tag).text = text


def _spec(parent: Element, version: tuple[int, int]) -> None:
    spec = SubElement(parent, "specVersion")
    _text(spec, "major", str(version[0]))
    _text(spec, "minor", str(version[1]))


def _serialize(root: Element) -> bytes:
    indent(root, space="  ")
    body = tostring(root, encoding="unicode", short_empty_elements=False)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def _render_device(device: Device) -> Element:
    # Iterative pre-order: each device element is attached to its parent's deviceList.
    top = Element("device")
    stack: list[tuple[Device, Element]] = [(device, top)]
    while stack:
        current, elem = stack.pop()
        values = {
            "device_type": current.device_type,
            "friendly_name": current.friendly_name,
            "manufacturer": current.manufacturer,
            "manufacturer_url": current.manufacturer_url,
            "model_description": current.model_description,
            "model_name": current.model_name,
            "model_number": current.model_number,
            "model_url": current.model_url,
            "serial_number": current.serial_number,
            "udn": current.udn,
            "upc": current.upc,
        }
        for tag, attr in _DEVICE_FIELDS:
            _text(elem, tag, values[attr])
        for name, text in current.extras:
            _text(elem, check_name(name), text)
        if current.icons:
            icon_list = SubElement(elem, "iconList")
            for icon in current.icons:
                icon_elem = SubElement(icon_list, "icon")
                _text(icon_elem, "mimetype", icon.mimetype)
                _text(icon_elem, "width", str(icon.width))
                _text(icon_elem, "height", str(icon.height))
                _text(icon_elem, "depth", str(icon.depth))
                _text(icon_elem, "url", icon.url)
        if current.services:
            service_list = SubElement(elem, "serviceList")
            for service in current.services:
                service_elem = SubElement(service_list, "service")
                _text(service_elem, "serviceType", service.service_type)
                _text(service_elem, "serviceId", service.service_id)
                _text(service_elem, "controlURL", service.control_url)
                _text(service_elem, "eventSubURL", service.event_sub_url)
                _text(service_elem, "SCPDURL", service.scpd_url)
        if current.devices:
            device_list = SubElement(elem, "deviceList")
            pairs = [(sub, SubElement(device_list, "device")) for sub in current.devices]
            stack.extend(reversed(pairs))
        _text(elem, "presentationURL", current.presentation_url)
    return top


def render_device_description(description: DeviceDescription) -> bytes:
    """Render a device description as UTF-8 XML (UDA 1.1 §2.3)."""
    root = Element("root", {"xmlns": DEVICE_NS})
    _spec(root, description.spec_version)
    _text(root, "URLBase", description.url_base)
    root.append(_render_device(description.device))
    return _serialize(root)


def render_scpd(scpd: ServiceDescription) -> bytes:
    """Render an SCPD as UTF-8 XML (UDA 1.1 §2.5): actionList, then serviceStateTable."""
    root = Element("scpd", {"xmlns": SERVICE_NS})
    _spec(root, scpd.spec_version)
    action_list = SubElement(root, "actionList")
    for action in scpd.actions:
        action_elem = SubElement(action_list, "action")
        _text(action_elem, "name", action.name)
        if action.arguments:
            argument_list = SubElement(action_elem, "argumentList")
            for arg in action.arguments:
                arg_elem = SubElement(argument_list, "argument")
                _text(arg_elem, "name", arg.name)
                _text(arg_elem, "direction", arg.direction)
                if arg.retval:
                    SubElement(arg_elem, "retval")
                _text(arg_elem, "relatedStateVariable", arg.related_state_variable)
    table = SubElement(root, "serviceStateTable")
    for var in scpd.state_variables:
        attrs = {"sendEvents": "yes" if var.send_events else "no"}
        if var.multicast:
            attrs["multicast"] = "yes"
        var_elem = SubElement(table, "stateVariable", attrs)
        _text(var_elem, "name", var.name)
        _text(var_elem, "dataType", var.data_type)
        _text(var_elem, "defaultValue", var.default_value)
        if var.allowed_values is not None:
            allowed = SubElement(var_elem, "allowedValueList")
            for value in var.allowed_values:
                _text(allowed, "allowedValue", value)
        if var.allowed_range is not None:
            value_range = SubElement(var_elem, "allowedValueRange")
            _text(value_range, "minimum", var.allowed_range.minimum)
            _text(value_range, "maximum", var.allowed_range.maximum)
            _text(value_range, "step", var.allowed_range.step)
    return _serialize(root)
