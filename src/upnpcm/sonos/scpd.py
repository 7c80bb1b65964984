"""A zone player's service definitions: the captured data and the SCPDs made from it.

The JSON file in ``upnpcm/data/sonos/`` holds every service of a Sonos
Playbar on S2 firmware 86.7 as its own SCPDs describe them: actions,
arguments, state variables with types, allowed values and sendEvents, and
the control, event and SCPD URLs. :func:`scpd_xml` renders one SCPD in the
element order and whitespace of the captured ``ConnectionManager1.xml``
(state table first, two-space indentation, no final newline), so every
SCPD a player serves looks like a zone player's; the ConnectionManager's is
served as captured, byte for byte (a test checks that rendering it from the
data gives the same bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Final
from xml.sax.saxutils import escape

__all__ = [
    "SERVICE_NAMES",
    "ServiceData",
    "captured_connection_manager",
    "firmware",
    "render_scpd",
    "scpd_xml",
    "service_data",
]

_DATA: Final = "services-S9-2.json"
#: The services of a zone player, in the order its description lists them.
SERVICE_NAMES: Final = (
    "AlarmClock",
    "MusicServices",
    "DeviceProperties",
    "SystemProperties",
    "ZoneGroupTopology",
    "GroupManagement",
    "HTControl",
    "QPlay",
    "ContentDirectory",
    "ConnectionManager",
    "RenderingControl",
    "AVTransport",
    "Queue",
    "GroupRenderingControl",
    "VirtualLineIn",
)


@dataclass(frozen=True, slots=True)
class ServiceData:
    """One service of the captured data."""

    name: str
    service_type: str
    service_id: str
    control_url: str
    event_sub_url: str
    scpd_url: str
    raw: dict[str, Any]

    @property
    def evented(self) -> list[str]:
        """The names of its evented state variables."""
        return [v["name"] for v in self.raw["stateVariables"] if v["sendEvents"]]


def _read(name: str) -> bytes:
    return files("upnpcm.data").joinpath("sonos", name).read_bytes()


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_read(_DATA))
    return data


def firmware() -> tuple[str, str]:
    """(model number, software version) of the player the data was taken from."""
    document = _document()
    return str(document["model"]), str(document["softwareVersion"])


@lru_cache(maxsize=32)
def service_data(name: str) -> ServiceData:
    """The captured definition of service ``name`` (``AVTransport``, …).

    Raises:
        KeyError: no such service in the data.
    """
    for raw in _document()["services"]:
        if raw["name"] == name:
            return ServiceData(
                name=name,
                service_type=raw["serviceType"],
                service_id=raw["serviceId"],
                control_url=raw["controlURL"],
                event_sub_url=raw["eventSubURL"],
                scpd_url=raw["discoveryUri"],
                raw=raw,
            )
    raise KeyError(f"no service {name} in the zone player data")


def captured_connection_manager() -> bytes:
    """``/xml/ConnectionManager1.xml`` as a zone player serves it, byte for byte."""
    return _read("ConnectionManager1.xml")


def _allowed(values: object) -> list[str]:
    # The data writes a one-value list as the bare value ("NONE", 1).
    return [str(v) for v in values] if isinstance(values, list) else [str(values)]


@lru_cache(maxsize=32)
def scpd_xml(name: str) -> bytes:
    """The SCPD of service ``name``, laid out as a zone player lays out its SCPDs."""
    if name == "ConnectionManager":
        return captured_connection_manager()
    return render_scpd(service_data(name).raw)


def render_scpd(raw: dict[str, Any]) -> bytes:
    """One service of the data as SCPD text (state table first, as Sonos writes it)."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<scpd xmlns="urn:schemas-upnp-org:service-1-0">',
        "  <specVersion>",
        "    <major>1</major>",
        "    <minor>0</minor>",
        "  </specVersion>",
        "  <serviceStateTable>",
    ]
    for variable in raw["stateVariables"]:
        events = "yes" if variable["sendEvents"] else "no"
        out.append(f'    <stateVariable sendEvents="{events}">')
        out.append(f"      <name>{escape(variable['name'])}</name>")
        out.append(f"      <dataType>{escape(variable['dataType'])}</dataType>")
        if "allowedValues" in variable:
            out.append("      <allowedValueList>")
            out.extend(
                f"        <allowedValue>{escape(value)}</allowedValue>"
                for value in _allowed(variable["allowedValues"])
            )
            out.append("      </allowedValueList>")
        out.append("    </stateVariable>")
    out.append("  </serviceStateTable>")
    out.append("  <actionList>")
    for action in raw["actions"]:
        out.append("    <action>")
        out.append(f"      <name>{escape(action['name'])}</name>")
        arguments = [*action.get("inputs", ()), *action.get("outputs", ())]
        if arguments:
            out.append("      <argumentList>")
            for argument in arguments:
                out.append("        <argument>")
                out.append(f"          <name>{escape(argument['name'])}</name>")
                out.append(f"          <direction>{escape(argument['direction'])}</direction>")
                related = escape(argument["relatedStateVariableName"])
                out.append(f"          <relatedStateVariable>{related}</relatedStateVariable>")
                out.append("        </argument>")
            out.append("      </argumentList>")
        out.append("    </action>")
    out.append("  </actionList>")
    out.append("</scpd>")
    return "\n".join(out).encode("utf-8")
