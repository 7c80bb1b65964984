"""What a valid device description and SCPD are (UDA 1.1 §2.3, §2.5), as pure judgements.

The parsers in :mod:`upnpcm.core.description` are tolerant on purpose (rule
D2): a control point must work with what real devices serve. This module
says what the standard requires instead, for a conformance checker. Every
function returns the list of problems found (empty: conformant), each a short
sentence naming the element; nothing here raises on bad input.

Rules
-----
Q1  A description's root is ``<root>`` in ``urn:schemas-upnp-org:device-1-0``
    with a ``specVersion`` (major 1 or 2, minor a number) and one
    ``<device>``; an SCPD's root is ``<scpd>`` in
    ``urn:schemas-upnp-org:service-1-0`` with a ``specVersion``.
Q2  Every device has deviceType, friendlyName, manufacturer, modelName and
    UDN, each non-empty; every service serviceType, serviceId, SCPDURL and
    controlURL, and an eventSubURL element (empty only when nothing is
    evented).
Q3  A UDN is ``uuid:`` and a UUID, in RFC 4122 form from UDA 1.1 on; the
    UDNs of a tree are unique, and so are the serviceIds of one device.
Q4  deviceType is ``urn:<domain>:device:<type>:<v>``, serviceType
    ``urn:<domain>:service:<type>:<v>``, serviceId
    ``urn:<domain>:serviceId:<id>``.
Q5  Every URL of a description resolves (against URLBase or the description's
    own URL) to an absolute http URL; SCPD, control and event URLs are on the
    host the description came from.
Q6  Every argument names a relatedStateVariable of the SCPD; in-arguments come
    before out-arguments; a retval is the first out-argument.
Q7  dataType is one UDA defines; an allowedValueList belongs to a string and
    holds distinct values, an allowedValueRange to a number with minimum <=
    maximum (and a positive step), both of the variable's type; a
    defaultValue is of the type and inside the list or range.
Q8  A ConnectionManager SCPD has the standard's required actions and state
    variables: argument names, order, directions and related types as the
    standard has them; PrepareForConnection and ConnectionComplete are
    offered together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from upnpcm.core.datatypes import DATA_TYPES, INTEGER_RANGES, from_wire
from upnpcm.core.description import (
    DEVICE_NS,
    SERVICE_NS,
    Device,
    DeviceDescription,
    ServiceDescription,
    StateVariable,
)
from upnpcm.core.http import plain_ip
from upnpcm.core.xml import child, child_text, children, local_name, namespace_of
from upnpcm.errors import UPnPError

__all__ = [
    "CmComparison",
    "argument_problems",
    "compare_cm_scpd",
    "description_url_problems",
    "description_urls",
    "out_of_range_value",
    "required_element_problems",
    "resolve_url",
    "root_problems",
    "sample_value",
    "spec_version_problems",
    "type_urn_problems",
    "udn_problems",
    "unique_id_problems",
    "variable_problems",
    "wrong_type_value",
]

_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)
_DEVICE_TYPE_RE: Final = re.compile(r"urn:[^:\s]+:device:[^:\s]+:[0-9]+\Z")
_SERVICE_TYPE_RE: Final = re.compile(r"urn:[^:\s]+:service:[^:\s]+:[0-9]+\Z")
_SERVICE_ID_RE: Final = re.compile(r"urn:[^:\s]+:serviceId:[^:\s]+\Z")
_DEVICE_REQUIRED: Final = ("deviceType", "friendlyName", "manufacturer", "modelName", "UDN")
_SERVICE_REQUIRED: Final = ("serviceType", "serviceId", "SCPDURL", "controlURL")
_NUMERIC: Final = frozenset({*INTEGER_RANGES, "int", "r4", "r8", "number", "float", "fixed.14.4"})
_STRINGS: Final = frozenset({"string"})


# ----------------------------------------------------------------- documents (Q1, Q2)


def root_problems(root: Element, kind: str) -> list[str]:
    """Q1 (root element, namespace, one device); ``kind`` is ``"device"`` or ``"scpd"``."""
    name, namespace = ("root", DEVICE_NS) if kind == "device" else ("scpd", SERVICE_NS)
    problems: list[str] = []
    if local_name(root.tag) != name:
        problems.append(f"the root element is <{local_name(root.tag)}>, not <{name}>")
    if namespace_of(root.tag) != namespace:
        problems.append(
            f"the root element's namespace is {namespace_of(root.tag) or 'none'!r}, not {namespace!r}"
        )
    if kind == "device" and len(children(root, "device")) != 1:
        problems.append(f"{len(children(root, 'device'))} <device> elements under <root>, not 1")
    return problems


def spec_version_problems(root: Element) -> list[str]:
    """Q1 (specVersion: major 1 or 2, minor a number) for a description or an SCPD."""
    spec = child(root, "specVersion")
    if spec is None:
        return ["no <specVersion>"]
    problems: list[str] = []
    major, minor = child_text(spec, "major"), child_text(spec, "minor")
    if major not in ("1", "2"):
        problems.append(f"specVersion major is {major!r}, not 1 or 2")
    if minor is None or not minor.isascii() or not minor.isdigit():
        problems.append(f"specVersion minor is {minor!r}, not a number")
    return problems


def _device_elements(root: Element) -> Iterator[Element]:
    """Every ``<device>`` element of a description, depth first (iterative)."""
    stack = list(reversed(children(root, "device")))
    while stack:
        elem = stack.pop()
        yield elem
        device_list = child(elem, "deviceList")
        if device_list is not None:
            stack.extend(reversed(children(device_list, "device")))


def required_element_problems(root: Element, evented: dict[str, bool] | None = None) -> list[str]:
    """Q2 over a parsed description.

    ``evented`` maps a serviceId to whether its SCPD has evented variables,
    when known: an empty eventSubURL is a problem only for those.
    """
    problems: list[str] = []
    for elem in _device_elements(root):
        udn = child_text(elem, "UDN") or "?"
        problems.extend(
            f"device {udn}: <{name}> is missing or empty"
            for name in _DEVICE_REQUIRED
            if not child_text(elem, name)
        )
        service_list = child(elem, "serviceList")
        for service in children(service_list, "service") if service_list is not None else []:
            service_id = child_text(service, "serviceId") or child_text(service, "serviceType")
            problems.extend(
                f"service {service_id or '?'}: <{name}> is missing or empty"
                for name in _SERVICE_REQUIRED
                if not child_text(service, name)
            )
            event_url = child_text(service, "eventSubURL")
            if event_url is None:
                problems.append(f"service {service_id or '?'}: <eventSubURL> is missing")
            elif not event_url and (evented or {}).get(service_id or "", False):
                problems.append(
                    f"service {service_id}: <eventSubURL> is empty but the service has evented variables"
                )
    return problems


# ----------------------------------------------------------------- identities (Q3, Q4)


def _devices(description: DeviceDescription) -> list[Device]:
    return list(description.device.iter_devices())


def udn_problems(
    description: DeviceDescription, *, uda: tuple[int, int]
) -> tuple[list[str], list[str]]:
    """Q3 UDN form: (violations, tolerated) — a UUID not in RFC 4122 form is tolerated before UDA 1.1."""
    violations: list[str] = []
    tolerated: list[str] = []
    for device in _devices(description):
        udn = device.udn
        if not udn.startswith("uuid:"):
            violations.append(f"UDN {udn!r} does not start with 'uuid:'")
        elif not _UUID_RE.match(udn[5:]):
            text = f"UDN {udn!r} is not uuid: + an RFC 4122 UUID"
            (violations if uda >= (1, 1) else tolerated).append(text)
    return violations, tolerated


def unique_id_problems(description: DeviceDescription) -> list[str]:
    """Q3 uniqueness: UDNs in the tree, serviceIds within each device."""
    problems: list[str] = []
    seen: set[str] = set()
    for device in _devices(description):
        if device.udn in seen:
            problems.append(f"UDN {device.udn} is used by more than one device")
        seen.add(device.udn)
        ids = [s.service_id for s in device.services]
        problems.extend(
            f"device {device.udn}: serviceId {sid} is used {ids.count(sid)} times"
            for sid in sorted(set(ids))
            if ids.count(sid) > 1
        )
    return problems


def type_urn_problems(description: DeviceDescription) -> list[str]:
    """Q4 for every device and service of the tree."""
    problems: list[str] = []
    for device in _devices(description):
        if not _DEVICE_TYPE_RE.match(device.device_type):
            problems.append(
                f"deviceType {device.device_type!r} is not urn:<domain>:device:<type>:<v>"
            )
        for service in device.services:
            if not _SERVICE_TYPE_RE.match(service.service_type):
                problems.append(
                    f"serviceType {service.service_type!r} is not urn:<domain>:service:<type>:<v>"
                )
            if not _SERVICE_ID_RE.match(service.service_id):
                problems.append(
                    f"serviceId {service.service_id!r} is not urn:<domain>:serviceId:<id>"
                )
    return problems


# ----------------------------------------------------------------------- URLs (Q5)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Url:
    what: str
    url: str
    own_host: bool


def _urls(description: DeviceDescription) -> Iterator[_Url]:
    for device in _devices(description):
        for service in device.services:
            yield _Url(what=f"{service.service_id} SCPDURL", url=service.scpd_url, own_host=True)
            yield _Url(
                what=f"{service.service_id} controlURL", url=service.control_url, own_host=True
            )
            if service.event_sub_url:
                yield _Url(
                    what=f"{service.service_id} eventSubURL",
                    url=service.event_sub_url,
                    own_host=True,
                )
        for icon in device.icons:
            yield _Url(what=f"{device.udn} icon", url=icon.url, own_host=False)
        if device.presentation_url:
            yield _Url(
                what=f"{device.udn} presentationURL", url=device.presentation_url, own_host=False
            )


def resolve_url(description: DeviceDescription, location: str, url: str) -> str | None:
    """``url`` made absolute (Q5), or None when it cannot be (not http, no host, bad port)."""
    try:
        absolute = description.absolute_url(location, url)
        parts = urlsplit(absolute)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def description_url_problems(description: DeviceDescription, location: str) -> list[str]:
    """Q5: every URL resolves; SCPD, control and event URLs are on LOCATION's host."""
    problems: list[str] = []
    try:
        own = plain_ip(urlsplit(location).hostname or "") or (urlsplit(location).hostname or "")
    except ValueError:
        return [f"the description URL {location!r} is not a URL"]
    for item in _urls(description):
        absolute = resolve_url(description, location, item.url)
        if absolute is None:
            problems.append(f"{item.what} {item.url!r} does not resolve to an http URL")
            continue
        host = urlsplit(absolute).hostname or ""
        if item.own_host and (plain_ip(host) or host) != own:
            problems.append(f"{item.what} {absolute} is not on the description's host {own}")
    return problems


def description_urls(description: DeviceDescription, location: str) -> list[tuple[str, str | None]]:
    """(what, absolute URL or None) of every icon (the documents a checker may fetch)."""
    return [
        (item.what, resolve_url(description, location, item.url))
        for item in _urls(description)
        if not item.own_host and item.what.endswith("icon")
    ]


# ------------------------------------------------------------------------ SCPD (Q6, Q7)


def argument_problems(scpd: ServiceDescription) -> tuple[list[str], list[str]]:
    """Q6: (missing relatedStateVariables, order problems)."""
    missing: list[str] = []
    order: list[str] = []
    for action in scpd.actions:
        seen_out = False
        outs = 0
        for arg in action.arguments:
            if scpd.state_variable(arg.related_state_variable) is None:
                missing.append(
                    f"{action.name}/{arg.name}: relatedStateVariable "
                    f"{arg.related_state_variable!r} is not in the serviceStateTable"
                )
            if arg.direction == "out":
                seen_out = True
                outs += 1
                if arg.retval and outs != 1:
                    order.append(
                        f"{action.name}/{arg.name}: a retval that is not the first out-argument"
                    )
            elif seen_out:
                order.append(f"{action.name}/{arg.name}: an in-argument after an out-argument")
            if arg.retval and arg.direction == "in":
                order.append(f"{action.name}/{arg.name}: an in-argument marked retval")
    return missing, order


def _fits(var: StateVariable, text: str) -> bool:
    try:
        from_wire(var.data_type, text)
    except UPnPError:
        return False
    return True


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def variable_problems(scpd: ServiceDescription) -> tuple[list[str], list[str]]:
    """Q7: (data type problems, allowed value/range/default problems)."""
    types: list[str] = []
    allowed: list[str] = []
    for var in scpd.state_variables:
        if var.data_type not in DATA_TYPES:
            types.append(f"{var.name}: dataType {var.data_type!r} is not a UPnP data type")
            continue
        if var.allowed_values is not None:
            if var.data_type not in _STRINGS:
                allowed.append(
                    f"{var.name}: an allowedValueList on a {var.data_type}, not a string"
                )
            duplicates = sorted({v for v in var.allowed_values if var.allowed_values.count(v) > 1})
            if duplicates:
                allowed.append(f"{var.name}: allowedValue {duplicates[0]!r} is listed twice")
            if not var.allowed_values:
                allowed.append(f"{var.name}: an empty allowedValueList")
        if var.allowed_range is not None:
            allowed.extend(_range_problems(var))
        if var.default_value is not None and var.default_value != "":
            if not _fits(var, var.default_value):
                allowed.append(
                    f"{var.name}: defaultValue {var.default_value!r} is not a {var.data_type}"
                )
            elif var.allowed_values is not None and var.default_value not in var.allowed_values:
                allowed.append(
                    f"{var.name}: defaultValue {var.default_value!r} is not an allowedValue"
                )
            elif var.allowed_range is not None:
                value = _number(var.default_value)
                low, high = _number(var.allowed_range.minimum), _number(var.allowed_range.maximum)
                if (
                    value is not None
                    and low is not None
                    and high is not None
                    and not low <= value <= high
                ):
                    allowed.append(
                        f"{var.name}: defaultValue {var.default_value} is outside the range"
                    )
    return types, allowed


def _range_problems(var: StateVariable) -> list[str]:
    value_range = var.allowed_range
    assert value_range is not None
    if var.data_type not in _NUMERIC:
        return [f"{var.name}: an allowedValueRange on a {var.data_type}, not a number"]
    problems: list[str] = []
    for name, text in (("minimum", value_range.minimum), ("maximum", value_range.maximum)):
        if not text or not _fits(var, text):
            problems.append(
                f"{var.name}: allowedValueRange {name} {text!r} is not a {var.data_type}"
            )
    low, high = _number(value_range.minimum), _number(value_range.maximum)
    if not problems and low is not None and high is not None and low > high:
        problems.append(f"{var.name}: allowedValueRange minimum {low:g} > maximum {high:g}")
    if value_range.step is not None:
        step = _number(value_range.step)
        if step is None or step <= 0:
            problems.append(
                f"{var.name}: allowedValueRange step {value_range.step!r} is not positive"
            )
    return problems


# ------------------------------------------------------------- values of a variable (Q7)

#: A valid value of each type that has no allowed list or range to take one from.
_ZERO: Final = {
    "boolean": "0",
    "char": "a",
    "date": "2000-01-01",
    "dateTime": "2000-01-01T00:00:00",
    "dateTime.tz": "2000-01-01T00:00:00+00:00",
    "time": "00:00:00",
    "time.tz": "00:00:00+00:00",
}


def sample_value(var: StateVariable) -> str:
    """A value ``var`` accepts (Q7): its first allowed value, the range's minimum, its default, or a zero."""
    if var.allowed_values:
        return var.allowed_values[0]
    if var.allowed_range is not None and _fits(var, var.allowed_range.minimum):
        return var.allowed_range.minimum.strip()
    if var.default_value is not None and _fits(var, var.default_value):
        return var.default_value
    if var.data_type in _NUMERIC:
        return "0"
    return _ZERO.get(var.data_type, "")


def out_of_range_value(var: StateVariable) -> str | None:
    """A value of ``var``'s type outside its allowedValueList or range (None: there is none)."""
    if var.allowed_values is not None and var.data_type in _STRINGS:
        candidate = "upnpcm-not-allowed"
        while candidate in var.allowed_values:
            candidate += "-"
        return candidate
    if var.allowed_range is None or var.data_type not in _NUMERIC:
        return None
    for bound, offset in ((var.allowed_range.maximum, 1), (var.allowed_range.minimum, -1)):
        value = _number(bound)
        if value is None:
            continue
        text = str(int(value) + offset) if value == int(value) else repr(value + offset)
        if _fits(var, text):
            return text
    return None


def wrong_type_value(var: StateVariable) -> str | None:
    """A text that is not a value of ``var``'s type (None for strings: every text is one)."""
    if var.data_type in _NUMERIC or var.data_type in _ZERO or var.data_type.startswith("bin."):
        return "upnpcm-not-a-" + var.data_type.replace(".", "-")
    return None


# ---------------------------------------------------------------- ConnectionManager (Q8)


@dataclass(frozen=True, slots=True, kw_only=True)
class CmComparison:
    """A ConnectionManager SCPD against the standard's (Q8)."""

    problems: tuple[str, ...]
    optional_present: tuple[str, ...]
    optional_absent: tuple[str, ...]


def compare_cm_scpd(scpd: ServiceDescription, standard: ServiceDescription) -> CmComparison:
    """Q8: ``scpd`` against ``standard`` (the full CM SCPD, optional actions included).

    The standard's actions that :data:`OPTIONAL_CM_ACTIONS` names may be
    absent; present, they must match like the others.
    """
    problems: list[str] = []
    present: list[str] = []
    absent: list[str] = []
    for want in standard.actions:
        have = scpd.action(want.name)
        optional = want.name in OPTIONAL_CM_ACTIONS
        if have is None:
            if optional:
                absent.append(want.name)
            else:
                problems.append(f"required action {want.name} is missing")
            continue
        if optional:
            present.append(want.name)
        wanted = [(a.name, a.direction) for a in want.arguments]
        got = [(a.name, a.direction) for a in have.arguments]
        if wanted != got:
            problems.append(
                f"{want.name} arguments are {_args(got)}, the standard's are {_args(wanted)}"
            )
            continue
        for want_arg, have_arg in zip(want.arguments, have.arguments, strict=True):
            want_var = standard.state_variable(want_arg.related_state_variable)
            have_var = scpd.state_variable(have_arg.related_state_variable)
            want_type = want_var.data_type if want_var else "string"
            have_type = have_var.data_type if have_var else None
            if have_type != want_type:
                problems.append(
                    f"{want.name}/{want_arg.name} is typed {have_type or 'nothing'}, not {want_type}"
                )
    for want_var in standard.state_variables:
        have_var = scpd.state_variable(want_var.name)
        if have_var is None:
            problems.append(f"state variable {want_var.name} is missing")
        elif have_var.data_type != want_var.data_type:
            problems.append(
                f"state variable {want_var.name} is a {have_var.data_type}, not {want_var.data_type}"
            )
        elif have_var.send_events != want_var.send_events:
            problems.append(
                f"state variable {want_var.name} has sendEvents="
                f"{'yes' if have_var.send_events else 'no'}, the standard's "
                f"{'yes' if want_var.send_events else 'no'}"
            )
    if len(present) == 1:
        problems.append(f"{present[0]} is offered without {absent[0]}")
    return CmComparison(
        problems=tuple(problems), optional_present=tuple(present), optional_absent=tuple(absent)
    )


#: The ConnectionManager's optional actions (CM:1 §2.4.2, §2.4.3).
OPTIONAL_CM_ACTIONS: Final = ("PrepareForConnection", "ConnectionComplete")


def _args(pairs: Sequence[tuple[str, str]]) -> str:
    return "(" + ", ".join(f"{direction} {name}" for name, direction in pairs) + ")"
