"""JSON shapes (and short text forms) of what the CLI prints.

Keys follow the UPnP element names (``deviceType``, ``serviceId``,
``relatedStateVariable``…), so the JSON reads like the XML it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from upnpcm.core.datatypes import json_value as jsonable

if TYPE_CHECKING:
    from upnpcm.aio.control_point import RemoteDevice, RemoteService
    from upnpcm.core.description import Device, ServiceDescription, StateVariable
    from upnpcm.core.discovery import Discovered
    from upnpcm.core.subscription import SubscriptionEvent

__all__ = ["device_json", "discovered_json", "event_json", "event_text", "jsonable", "scpd_json"]


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
