"""Every JSON shape (and short text form) the CLI prints, in one place.

Keys follow the UPnP element names (``deviceType``, ``serviceId``,
``relatedStateVariable``…), so the JSON reads like the XML it came from.
A new command adds its shapes here; nothing in this module does I/O, and its
imports are cheap (types only), so a command may import it at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from upnpcm.aio.control_point import RemoteDevice, RemoteService
    from upnpcm.core.description import Device, ServiceDescription, StateVariable
    from upnpcm.core.discovery import Discovered
    from upnpcm.core.protocol_info import InvalidEntry, Pair, ProtocolInfo, ProtocolInfoList
    from upnpcm.core.subscription import SubscriptionEvent
    from upnpcm.errors import NegotiationError
    from upnpcm.negotiation import Negotiation, Side

__all__ = [
    "action_result_text",
    "device_json",
    "discovered_json",
    "discovered_text",
    "event_json",
    "event_text",
    "jsonable",
    "match_json",
    "negotiation_error_json",
    "negotiation_json",
    "protocol_info_json",
    "protocol_list_json",
    "scpd_json",
    "side_json",
]


def jsonable(value: object) -> object:
    """A converted value (or a mapping of them) in a form JSON can hold.

    bytes become hex, dates and times ISO 8601; everything else is unchanged.
    """
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def action_result_text(result: Mapping[str, object]) -> Iterator[str]:
    """An action's out-arguments, one ``Name: value`` line each."""
    for name, value in result.items():
        yield f"{name}: {jsonable(value)}"


def _variable_json(var: StateVariable) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": var.name,
        "dataType": var.data_type,
        "sendEvents": var.send_events,
    }
    if var.default_value is not None:
        out["defaultValue"] = var.default_value
    if var.allowed_values is not None:
        out["allowedValueList"] = list(var.allowed_values)
    if var.allowed_range is not None:
        out["allowedValueRange"] = {
            "minimum": var.allowed_range.minimum,
            "maximum": var.allowed_range.maximum,
            **({"step": var.allowed_range.step} if var.allowed_range.step else {}),
        }
    return out


def scpd_json(scpd: ServiceDescription) -> dict[str, Any]:
    """An SCPD: actions with typed arguments, and the state table."""
    actions = []
    for action in scpd.actions:
        typed = scpd.typed_arguments(action)
        actions.append(
            {
                "name": action.name,
                "arguments": [
                    {
                        "name": arg.name,
                        "direction": arg.direction,
                        "relatedStateVariable": arg.related_state_variable,
                        "dataType": typed[arg.name][1].data_type,
                    }
                    for arg in action.arguments
                ],
            }
        )
    return {
        "specVersion": f"{scpd.spec_version[0]}.{scpd.spec_version[1]}",
        "actions": actions,
        "stateVariables": [_variable_json(v) for v in scpd.state_variables],
    }


def _service_json(remote: RemoteService, with_scpd: bool) -> dict[str, Any]:
    service = remote.service
    out: dict[str, Any] = {
        "serviceType": service.service_type,
        "serviceId": service.service_id,
        "SCPDURL": remote.scpd_url,
        "controlURL": remote.control_url,
        "eventSubURL": remote.event_url,
    }
    if with_scpd:
        if remote.scpd_error:
            out["scpdError"] = remote.scpd_error
        else:
            out["scpd"] = scpd_json(remote.scpd)
    return out


def device_json(device: RemoteDevice, *, with_scpd: bool = False) -> dict[str, Any]:
    """The whole device tree (and every SCPD with ``with_scpd``)."""
    by_device: dict[int, list[RemoteService]] = {}
    for remote in device.services:
        by_device.setdefault(id(remote.device), []).append(remote)

    def one(node: Device) -> dict[str, Any]:
        out: dict[str, Any] = {
            "deviceType": node.device_type,
            "friendlyName": node.friendly_name,
            "manufacturer": node.manufacturer,
            "modelName": node.model_name,
            "UDN": node.udn,
        }
        optional = {
            "manufacturerURL": node.manufacturer_url,
            "modelDescription": node.model_description,
            "modelNumber": node.model_number,
            "modelURL": node.model_url,
            "serialNumber": node.serial_number,
            "UPC": node.upc,
            "presentationURL": node.presentation_url,
        }
        out.update({key: value for key, value in optional.items() if value})
        if node.extras:
            out["extras"] = dict(node.extras)
        if node.icons:
            out["icons"] = [
                {
                    "mimetype": i.mimetype,
                    "width": i.width,
                    "height": i.height,
                    "depth": i.depth,
                    "url": i.url,
                }
                for i in node.icons
            ]
        out["services"] = [_service_json(r, with_scpd) for r in by_device.get(id(node), [])]
        if node.devices:
            out["devices"] = [one(sub) for sub in node.devices]
        return out

    description = device.description
    out: dict[str, Any] = {
        "location": device.location,
        "specVersion": f"{description.spec_version[0]}.{description.spec_version[1]}",
    }
    if description.url_base:
        out["URLBase"] = description.url_base
    out["device"] = one(description.device)
    return out


def discovered_json(found: Discovered) -> dict[str, Any]:
    """One search reply or announcement."""
    out: dict[str, Any] = {
        "type": found.kind,
        "usn": found.usn,
        "udn": found.udn,
        "st" if found.kind == "response" else "nt": found.nt,
        "location": found.location,
        "server": found.server,
        "source": f"{found.source[0]}:{found.source[1]}",
    }
    if found.boot_id is not None:
        out["bootId"] = found.boot_id
    if found.config_id is not None:
        out["configId"] = found.config_id
    extras = {k: v for k, v in found.headers.items() if k.startswith(("X-", "HOUSEHOLD"))}
    if extras:
        out["extras"] = extras
    return out


def discovered_text(found: Discovered) -> str:
    """One search reply or announcement as a line: kind, USN, LOCATION."""
    return f"{found.kind:8s} {found.usn}  {found.location or ''}"


def event_json(service: RemoteService, event: SubscriptionEvent) -> dict[str, Any]:
    """One subscription event as an NDJSON record."""
    from upnpcm.core.subscription import (
        EventReceived,
        Resubscribing,
        RetryScheduled,
        Subscribed,
        Unsubscribed,
    )

    base: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "device": service.device.udn,
        "service": service.qualified_name,
    }
    if isinstance(event, EventReceived):
        return {
            **base,
            "type": "event",
            "sid": event.sid,
            "seq": event.seq,
            "variables": dict(event.changes),
        }
    if isinstance(event, Subscribed):
        return {
            **base,
            "type": "renewed" if event.renewal else "subscribed",
            "sid": event.sid,
            "timeout": event.timeout,
        }
    if isinstance(event, Resubscribing):
        return {**base, "type": "resubscribing", "reason": event.reason}
    if isinstance(event, RetryScheduled):
        return {**base, "type": "retry", "reason": event.reason, "delay": round(event.delay, 3)}
    assert isinstance(event, Unsubscribed)
    return {**base, "type": "unsubscribed", "sid": event.sid}


def event_text(record: Mapping[str, Any]) -> str:
    """A one-line human form of :func:`event_json`'s record."""
    head = f"{record['time'][11:23]} {record['service']}"
    kind = record["type"]
    if kind == "event":
        values = " ".join(f"{k}={_short(v)}" for k, v in record["variables"].items())
        return f"{head} SEQ {record['seq']}: {values}"
    detail = {k: v for k, v in record.items() if k not in ("time", "device", "service", "type")}
    return f"{head} [{kind}] " + " ".join(f"{k}={v}" for k, v in detail.items())


def _short(value: object, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def protocol_info_json(entry: ProtocolInfo) -> dict[str, Any]:
    """One protocolInfo, every field decoded (MIME type, DLNA parameters)."""
    mime = entry.mime
    out: dict[str, Any] = {
        "protocolInfo": str(entry),
        "protocol": entry.protocol,
        "network": entry.network,
        "contentFormat": entry.content_format,
        "additionalInfo": entry.additional_info,
        "mime": {
            "essence": mime.essence,
            "canonical": mime.canonical,
            "parameters": dict(mime.parameters),
        },
    }
    dlna = entry.dlna
    if dlna is not None:
        out["dlna"] = {
            "profile": dlna.profile,
            "timeSeek": dlna.time_seek,
            "byteSeek": dlna.byte_seek,
            "playSpeeds": list(dlna.play_speeds),
            "converted": dlna.converted,
            "flags": None if dlna.flags is None else f"{int(dlna.flags):08x}",
            "flagNames": list(dlna.flag_names),
            "other": dict(dlna.other),
            "problems": list(dlna.problems),
        }
    return out


def protocol_list_json(
    entries: Iterable[ProtocolInfo], invalid: Iterable[InvalidEntry]
) -> dict[str, Any]:
    """Parsed protocolInfo entries and the ones that could not be parsed (with why)."""
    return {
        "entries": [protocol_info_json(e) for e in entries],
        "invalid": [
            {"index": bad.index, "text": bad.text, "reason": bad.reason} for bad in invalid
        ],
    }


def match_json(
    pairs: Iterable[Pair], offers: ProtocolInfoList, accepts: ProtocolInfoList
) -> dict[str, Any]:
    """Compatible pairs, best first; when none, why each (offer, accept) pair failed."""
    from upnpcm.core.protocol_info import match

    found = list(pairs)
    result: dict[str, Any] = {
        "compatible": bool(found),
        "pairs": [{"source": str(p.source), "sink": str(p.sink), "score": p.score} for p in found],
    }
    if not found:
        result["reasons"] = [
            {"source": str(o), "sink": str(a), "reasons": list(match(o, a).reasons)}
            for o in offers
            for a in accepts
        ]
    return result


def side_json(side: Side) -> dict[str, Any]:
    """One end of a negotiated connection."""
    out: dict[str, Any] = {
        "device": side.device,
        "service": side.service,
        "peerConnectionManager": side.peer_connection_manager,
        "connectionId": side.connection_id,
        "avTransportId": side.av_transport_id,
        "rcsId": side.rcs_id,
        "prepared": side.prepared,
    }
    if side.note:
        out["note"] = side.note
    return out


def negotiation_json(negotiation: Negotiation) -> dict[str, Any]:
    """A connection set up on both sides: the chosen pair and both ends."""
    return {
        "protocolInfo": negotiation.protocol_info,
        "source": str(negotiation.pair.source),
        "sink": str(negotiation.pair.sink),
        "score": negotiation.pair.score,
        "candidates": negotiation.candidates,
        "server": side_json(negotiation.server),
        "renderer": side_json(negotiation.renderer),
    }


def negotiation_error_json(error: NegotiationError) -> dict[str, Any]:
    """Which side refused, with what, and what was torn down."""
    return {
        "error": str(error),
        "side": error.side,
        "code": error.code,
        "description": error.description,
        "tornDown": error.torn_down,
    }
