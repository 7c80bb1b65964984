"""Every JSON shape (and short text form) the CLI prints, in one place.

Keys follow the UPnP element names (``deviceType``, ``serviceId``,
``relatedStateVariable``…), so the JSON reads like the XML it came from.
A new command adds its shapes here; nothing in this module does I/O, and its
imports are cheap (types only), so a command may import it at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from upnpcm.aio.control_point import RemoteDevice, RemoteService
    from upnpcm.core.content import ResourceChoice
    from upnpcm.core.description import Device, ServiceDescription, StateVariable
    from upnpcm.core.didl import DidlObject, Resource
    from upnpcm.core.discovery import Discovered
    from upnpcm.core.protocol_info import InvalidEntry, Pair, ProtocolInfo, ProtocolInfoList
    from upnpcm.core.subscription import SubscriptionEvent
    from upnpcm.core.transport import Snapshot
    from upnpcm.errors import NegotiationError
    from upnpcm.negotiation import Negotiation, Side
    from upnpcm.play import Playback

__all__ = [
    "DEVICE_HEADER",
    "action_result_text",
    "choice_json",
    "choice_text",
    "device_json",
    "device_rows",
    "device_text",
    "didl_json",
    "didl_row",
    "disconnect_text",
    "discovered_json",
    "error_json",
    "event_json",
    "event_text",
    "hints",
    "jsonable",
    "match_json",
    "match_text",
    "negotiation_error_json",
    "negotiation_json",
    "negotiation_text",
    "playback_json",
    "playback_text",
    "progress_json",
    "progress_text",
    "protocol_info_json",
    "protocol_list_json",
    "protocol_list_text",
    "scpd_json",
    "side_json",
    "unknown_device_rows",
]


def jsonable(value: object) -> object:
    """A converted value (or a mapping of them) in a form JSON can hold.

    bytes become hex, dates and times ISO 8601; everything else is unchanged.
    """
    if isinstance(value, str | int | float | None):  # most values: nothing to convert
        return value
    if isinstance(value, bytes):
        return value.hex()
    import datetime as dt

    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


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


def _service_json(remote: RemoteService, selector: str, with_scpd: bool) -> dict[str, Any]:
    service = remote.service
    out: dict[str, Any] = {
        "serviceType": service.service_type,
        "serviceId": service.service_id,
        "selector": selector,
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
        out["services"] = [
            _service_json(r, device.selector_for(r), with_scpd) for r in by_device.get(id(node), [])
        ]
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


#: The columns of ``discover``'s text rows (see :func:`device_rows`).
DEVICE_HEADER: Final = f"{'NAME':28s}  {'TYPE':18s}  {'ADDRESS':21s}  UDN"


def _fit(text: str, width: int) -> str:
    return f"{text:{width}s}" if len(text) <= width else text[: width - 1] + "…"


def device_rows(device: RemoteDevice, *, services: bool = False) -> list[str]:
    """A discovered device as one row (and, with ``services``, one line per service)."""
    from urllib.parse import urlsplit

    root = device.root
    address = urlsplit(device.location).netloc
    rows = [
        f"{_fit(root.friendly_name or '?', 28)}  {_fit(_type_name(root.device_type), 18)}  "
        f"{_fit(address, 21)}  {root.udn}"
    ]
    if services:
        rows += [
            f"    {device.selector_for(r):12s} {r.service.service_type}" for r in device.services
        ]
    return rows


def unknown_device_rows(found: Discovered, why: str) -> list[str]:
    """A device whose description could not be had: what the reply says, and why."""
    address = f"{found.source[0]}:{found.source[1]}"
    return [f"{_fit('?', 28)}  {_fit('?', 18)}  {_fit(address, 21)}  {found.udn}", f"    ({why})"]


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
        "time": _now_iso(),
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
    out: dict[str, Any] = {
        "protocolInfo": negotiation.protocol_info,
        "source": str(negotiation.pair.source),
        "sink": str(negotiation.pair.sink),
        "score": negotiation.pair.score,
        "candidates": negotiation.candidates,
        "chose": negotiation.basis,
        "server": side_json(negotiation.server),
        "renderer": side_json(negotiation.renderer),
    }
    if negotiation.resource is not None:
        out["resource"] = _resource_json(negotiation.resource)
    if negotiation.note:
        out["note"] = negotiation.note
    return out


def negotiation_error_json(error: NegotiationError) -> dict[str, Any]:
    """Which side refused, with what, and what was torn down."""
    return {
        "error": str(error),
        "side": error.side,
        "code": error.code,
        "description": error.description,
        "tornDown": error.torn_down,
    }


# ------------------------------------------------------------------ text forms
# Each takes the JSON shape above, so both forms say the same things.


def _type_name(urn: str) -> str:
    """``urn:schemas-upnp-org:device:MediaRenderer:1`` → ``MediaRenderer:1``."""
    parts = urn.split(":")
    return ":".join(parts[-2:]) if len(parts) >= 3 else urn


def device_text(data: Mapping[str, Any]) -> Iterator[str]:
    """:func:`device_json` as a tree: devices, their services (with the selector), actions."""
    yield f"{data['location']} (UDA {data['specVersion']})"
    yield from _device_lines(data["device"], "", "")


def _device_lines(node: Mapping[str, Any], first: str, rest: str) -> Iterator[str]:
    yield f"{first}{node['friendlyName']} ({_type_name(node['deviceType'])}) {node['UDN']}"
    maker = ", ".join(
        str(node[k]) for k in ("manufacturer", "modelName", "modelNumber") if node.get(k)
    )
    children: list[tuple[bool, Mapping[str, Any]]] = [
        *((False, s) for s in node["services"]),
        *((True, d) for d in node.get("devices", ())),
    ]
    yield f"{rest}{'│  ' if children else '   '}{maker}"
    for index, (is_device, child) in enumerate(children):
        last = index == len(children) - 1
        branch, indent = ("└─ ", "   ") if last else ("├─ ", "│  ")
        if is_device:
            yield from _device_lines(child, rest + branch, rest + indent)
        else:
            yield from _service_lines(child, rest + branch, rest + indent)


def _service_lines(service: Mapping[str, Any], first: str, rest: str) -> Iterator[str]:
    yield f"{first}{_type_name(service['serviceType'])}  select with: {service['selector']}"
    if "scpdError" in service:
        yield f"{rest}   (no service description: {service['scpdError']})"
    for action in service.get("scpd", {}).get("actions", ()):
        ins = [a["name"] for a in action["arguments"] if a["direction"] == "in"]
        outs = [a["name"] for a in action["arguments"] if a["direction"] == "out"]
        yield f"{rest}   {action['name']}({', '.join(ins)})" + (
            f" → {', '.join(outs)}" if outs else ""
        )


def protocol_list_text(data: Mapping[str, Any]) -> Iterator[str]:
    """:func:`protocol_list_json`: each entry and what its fields say; the invalid ones."""
    for entry in data["entries"]:
        yield entry["protocolInfo"]
        parts = [
            f"protocol {entry['protocol']}",
            f"network {entry['network']}",
            f"format {entry['mime']['canonical']}",
        ]
        dlna = entry.get("dlna")
        if dlna is not None:
            if dlna["profile"]:
                parts.append(f"DLNA profile {dlna['profile']}")
            seeks = [
                name for name, key in (("time", "timeSeek"), ("byte", "byteSeek")) if dlna[key]
            ]
            if seeks:
                parts.append(" and ".join(seeks) + " seek")
            parts.extend(f"flag {name}" for name in dlna["flagNames"])
            parts.extend(f"problem: {problem}" for problem in dlna["problems"])
        yield "  " + ", ".join(parts)
    for bad in data["invalid"]:
        yield f"invalid entry {bad['index']} {bad['text']!r}: {bad['reason']}"


def match_text(data: Mapping[str, Any]) -> Iterator[str]:
    """:func:`match_json`: the compatible pairs with their scores, or why nothing matches."""
    if data["compatible"]:
        count = len(data["pairs"])
        yield f"compatible: {count} pair{'s' if count != 1 else ''}, best first (score, source → sink)"
        for pair in data["pairs"]:
            yield f"  {pair['score']:3d}  {pair['source']} → {pair['sink']}"
        return
    yield "not compatible:"
    for reason in data["reasons"]:
        yield f"  {reason['source']} → {reason['sink']}: {'; '.join(reason['reasons'])}"


def _side_line(role: str, side: Mapping[str, Any]) -> str:
    line = (
        f"{role:8s} {side['service']}  ConnectionID {side['connectionId']}"
        f"  AVTransportID {side['avTransportId']}  RcsID {side['rcsId']}"
    )
    return line + (f"  ({side['note']})" if side.get("note") else "")


def negotiation_text(data: Mapping[str, Any]) -> Iterator[str]:
    """:func:`negotiation_json`: the chosen protocolInfo and both ends."""
    yield f"protocolInfo {data['protocolInfo']}"
    yield f"         score {data['score']}, best of {data['candidates']} candidate pair(s)"
    yield _side_line("server", data["server"])
    yield _side_line("renderer", data["renderer"])


def disconnect_text(data: Mapping[str, Any]) -> Iterator[str]:
    """What ConnectionComplete did on each side."""
    for role, side in data.items():
        if side.get("completed"):
            outcome = "completed"
        elif "skipped" in side:
            outcome = f"skipped: {side['skipped']}"
        else:
            error = side.get("error") or {}
            outcome = f"refused: UPnP error {error.get('code')} {error.get('description') or ''}"
        yield f"{role:8s} {side['service']}  ConnectionID {side['connectionId']}: {outcome.strip()}"


# ---------------------------------------------------------------------- errors


def error_json(
    exit_code: int, message: str, details: Mapping[str, Any], hints: list[str]
) -> dict[str, Any]:
    """The JSON object a failed command prints on stdout when its output is JSON."""
    out: dict[str, Any] = {"error": message, "exitCode": exit_code, **details}
    if hints:
        out["hints"] = hints
    return out


def hints(exit_code: int, message: str, details: Mapping[str, Any]) -> list[str]:
    """What a person can do about an error (empty when there is nothing useful to say)."""
    import ipaddress
    from urllib.parse import urlsplit

    status = details.get("httpStatus")
    host = urlsplit(str(details.get("url", ""))).hostname or ""
    try:
        named = bool(host) and ipaddress.ip_address(host) is None
    except ValueError:
        named = True  # a host name, not an IP literal
    out = []
    if status == 400 and named:
        out.append(
            f"the device takes only an IP address as host (a defence against DNS "
            f"rebinding): give its IP address instead of {host} (an upnpcm device also "
            f"admits the names listed in [network].allowed_hosts)"
        )
    elif status == 404 and details.get("method") == "GET":
        out.append(
            "nothing at that path: give the description URL the device announces "
            "(upnpcm discover shows each LOCATION)"
        )
    elif status == 503:
        out.append("the device is at a limit (connections or subscriptions): try again shortly")
    kind = details.get("kind")
    if kind == "connect":
        out.append(
            "is a device listening there? Without a port, TARGET means port 1400 "
            "(upnpcm serve starts a device)"
        )
    elif kind == "timeout":
        out.append("a slow device or network: --timeout SECONDS waits longer")
    return out


# --------------------------------------------------------------------------- content, play


def _resource_json(res: Resource) -> dict[str, Any]:
    out: dict[str, Any] = {"protocolInfo": res.protocol_info, "url": res.url}
    if res.size is not None:
        out["size"] = res.size
    if res.duration is not None:
        out["duration"] = res.duration
    return out


def didl_json(obj: DidlObject) -> dict[str, Any]:
    """One ContentDirectory object (an NDJSON record of ``browse``)."""
    out: dict[str, Any] = {
        "id": obj.id,
        "parentId": obj.parent_id,
        "kind": obj.kind,
        "title": obj.title,
        "class": obj.upnp_class,
    }
    if obj.child_count is not None:
        out["childCount"] = obj.child_count
    if obj.ref_id:
        out["refId"] = obj.ref_id
    out["res"] = [_resource_json(r) for r in obj.resources]
    return out


def didl_row(obj: DidlObject) -> str:
    """One ContentDirectory object as a table row: kind, title, class, ObjectID, formats."""
    upnp_class = obj.upnp_class.removeprefix("object.")
    if obj.container:
        detail = f"{obj.child_count} children" if obj.child_count is not None else ""
    else:
        detail = " ".join(
            (r.info.content_format if r.info else r.protocol_info)
            + (f" {r.duration}" if r.duration else "")
            for r in obj.resources
        )
    title = _short(obj.title, 40)
    return f"{'+' if obj.container else ' '} {title:40s} {upnp_class:28s} {obj.id:24s} {detail}"


def _choice_json(choice: ResourceChoice, chosen: bool) -> dict[str, Any]:
    out: dict[str, Any] = {**_resource_json(choice.resource), "playable": choice.playable}
    if choice.playable:
        out.update(
            sink=str(choice.sink),
            score=choice.score,
            converted=choice.converted,
            sinkIndex=choice.sink_index,
        )
    else:
        out["reasons"] = list(choice.reasons)
    if chosen:
        out["chosen"] = True
    return out


def choice_json(obj: DidlObject, ranked: list[ResourceChoice], *, explain: bool) -> dict[str, Any]:
    """The item and the res chosen for the renderer (with ``explain``, every res ranked)."""
    best = ranked[0] if ranked and ranked[0].playable else None
    out: dict[str, Any] = {
        "type": "chosen",
        "item": {"id": obj.id, "title": obj.title, "class": obj.upnp_class},
        "resource": _choice_json(best, True) if best is not None else None,
    }
    if explain:
        out["ranked"] = [_choice_json(c, c is best) for c in ranked]
    return out


def _why_lost(choice: ResourceChoice, best: ResourceChoice | None) -> str:
    if not choice.playable:
        return "; ".join(choice.reasons)
    assert best is not None
    if choice.converted and not best.converted:
        return "a conversion (DLNA.ORG_CI=1); the original is preferred"
    if choice.score < best.score:
        return f"matches the Sink list less closely (score {choice.score} < {best.score})"
    return f"later in the renderer's Sink list (entry {choice.sink_index} > {best.sink_index})"


def choice_text(obj: DidlObject, ranked: list[ResourceChoice], *, explain: bool) -> Iterator[str]:
    """The choice as lines: what plays and why (with ``explain``, why each other res lost)."""
    best = ranked[0] if ranked and ranked[0].playable else None
    yield f"item {obj.id}: {obj.title} ({obj.upnp_class})"
    if best is not None:
        yield f"chosen: {best.resource.protocol_info}"
        yield f"  matches the renderer's {best.sink} (score {best.score}"
        yield f"  {'a conversion' if best.converted else 'the original'}), {best.resource.url}"
    if explain:
        for choice in ranked:
            if choice is best:
                continue
            yield f"  lost: {choice.resource.protocol_info}: {_why_lost(choice, best)}"


def progress_json(snapshot: Snapshot) -> dict[str, Any]:
    """One transport state record (NDJSON while playing)."""
    return {
        "type": "state",
        "phase": snapshot.phase,
        "transportState": snapshot.state,
        "transportStatus": snapshot.status,
        "position": None if snapshot.position is None else round(snapshot.position, 1),
        "duration": snapshot.duration,
        "events": snapshot.events,
    }


def progress_text(snapshot: Snapshot) -> str:
    """The live progress line: state, elapsed / duration, and how it is watched."""
    from upnpcm.core.didl import format_duration

    state = snapshot.state or "…"
    where = f"{format_duration(snapshot.position)} / {format_duration(snapshot.duration)}"
    bar = ""
    if snapshot.position is not None and snapshot.duration:
        filled = int(20 * min(1.0, snapshot.position / snapshot.duration))
        bar = " [" + "#" * filled + "-" * (20 - filled) + "]"
    how = "events" if snapshot.events else "polling"
    return f"{state:16s} {where}{bar}  ({how})"


def playback_json(playback: Playback, phase: str) -> dict[str, Any]:
    """Where a playback stands: item, res, both connections, the AVTransport instance."""
    return {
        "type": phase,
        "item": {"id": playback.item.id, "title": playback.item.title},
        "resource": _resource_json(playback.choice.resource),
        "server": side_json(playback.server),
        "renderer": side_json(playback.renderer),
        "avTransportInstance": playback.instance_id,
        "transportState": playback.state,
        "sid": playback.subscription.sid if playback.subscription is not None else None,
    }


def playback_text(record: Mapping[str, Any]) -> str:
    """A playback record as one line."""
    kind = record["type"]
    server, renderer = record["server"], record["renderer"]
    ids = f"connections server {server['connectionId']} / renderer {renderer['connectionId']}"
    line = f"{kind}: {record['item']['title']} ({ids}, AVTransport instance {record['avTransportInstance']})"
    teardown = record.get("teardown")
    if teardown:
        done = [
            f"{c['service']} {c['connectionId']}: "
            + ("completed" if c.get("completed") else c.get("skipped") or "not completed")
            for c in teardown.get("connectionComplete", [])
        ]
        line += "; torn down" + (f" ({', '.join(done)})" if done else "")
    return line
