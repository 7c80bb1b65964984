"""``/status``: what a hosted device is doing, for a person (HTML), a script (JSON) or curl (text).

The page shows the device and its embedded devices, every service with its
subscriber count, the live connection table of each ConnectionManager, every
subscription (callback host, shortened SID, time left, SEQ, failures) and
the last things the device evented (:class:`~upnpcm.core.activity.ActivityLog`).
Which form is sent follows the request's Accept header (rule H11): HTML for a
browser, JSON for ``Accept: application/json``, plain text otherwise — for
the Sonos profile that text is the profile's own, unchanged, as zone
players' clients read it. The HTML page refreshes its live parts every two
seconds from the page itself (one renderer: this module); its script and
style are inline, allowed by their hashes in a Content-Security-Policy, and it
loads nothing else.

It never shows a full SID (a SID lets its holder renew or cancel the
subscription), a callback's path (control points put tokens there), or any
file path; the event tail is bounded (rule K2).

The page is a pure function of the device core and the spec: no I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from upnpcm._version import __version__
from upnpcm.core.connection_manager import ConnectionManager
from upnpcm.core.description import Device
from upnpcm.core.gena import short_sid

if TYPE_CHECKING:
    from upnpcm.core.device import DeviceCore
    from upnpcm.profiles.base import DeviceSpec

__all__ = ["MEDIA_TYPES", "StatusPage"]

#: What /status can be answered as, the default (for curl and Sonos clients) first.
MEDIA_TYPES: Final = (
    "text/plain; charset=utf-8",
    "text/html; charset=utf-8",
    "application/json",
)

_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#fbfbfc}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5dae0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}code,td.m{font-family:ui-monospace,monospace;font-size:12px}
.empty{color:#6b7580;font-style:italic}.meta{color:#4a545e}
"""

_SCRIPT: Final = """
(function(){
var live=['uptime','connections','subscriptions','events','services'];
function tick(){fetch('/status',{headers:{'Accept':'text/html'},cache:'no-store'}).then(function(r){return r.text();}).then(function(text){
var doc=new DOMParser().parseFromString(text,'text/html');
live.forEach(function(id){var now=document.getElementById(id),next=doc.getElementById(id);if(now&&next)now.replaceWith(document.importNode(next,true));});
}).catch(function(){});}
setInterval(tick,2000);
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Only the inline script and style above may run; nothing is loaded from anywhere.
CONTENT_SECURITY_POLICY: Final = (
    f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _short_type(urn: str) -> str:
    parts = urn.split(":")
    return ":".join(parts[-2:]) if len(parts) >= 3 else urn


def _callback_host(callback: str) -> str:
    """``host:port`` of a CALLBACK URL: never its path, where tokens may be."""
    try:
        parts = urlsplit(callback)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port is not None else host


class StatusPage:
    """``/status`` of one hosted device: :meth:`render` answers each request (rule H11).

    ``text`` is a profile's own plain-text page (Sonos), used as it is;
    ``boot_id`` tells the BOOTID once SSDP runs. :meth:`attach` hands it the
    device core it describes (the core is built with this page among its routes).
    """

    def __init__(
        self,
        spec: DeviceSpec,
        *,
        text: Callable[[], bytes] | bytes | None = None,
        boot_id: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.spec = spec
        self._text = text
        self._boot_id = boot_id
        self._core: DeviceCore | None = None
        self._started: float | None = None
        services: dict[str, str] = {}
        for device, service in spec.description.device.iter_services():
            services[service.event_sub_url] = (
                f"{_short_type(device.device_type).split(':')[0]}/"
                f"{_short_type(service.service_type).split(':')[0]}"
            )
        #: A readable name per event path: ``MediaRenderer/ConnectionManager``.
        self.service_names: Mapping[str, str] = services

    def attach(self, core: DeviceCore) -> None:
        """Describe ``core`` (the device serving this page)."""
        self._core = core

    def started(self, now: float) -> None:
        """The device started serving at ``now`` (the core's clock): uptime counts from here."""
        self._started = now

    # ------------------------------------------------------------------ data

    def snapshot(self, now: float) -> dict[str, Any]:
        """Everything the page shows, as the JSON form has it."""
        if self._started is None:
            self._started = now
        root = self.spec.description.device
        return {
            "device": {
                **_device_json(root),
                "profile": self.spec.profile,
                "upnpcm": __version__,
                "uptime": int(now - self._started),
                "bootId": self._boot_id(),
                "devices": [_device_json(d) for d in list(root.iter_devices())[1:]],
            },
            "services": self._services(),
            "connections": self._connections(),
            "subscriptions": self._subscriptions(now),
            "events": self._events(now),
        }

    def _services(self) -> list[dict[str, Any]]:
        core = self._core
        out = []
        for device, service in self.spec.description.device.iter_services():
            table = core.table(service.event_sub_url) if core is not None else None
            out.append(
                {
                    "name": self.service_names.get(service.event_sub_url, ""),
                    "device": device.udn,
                    "serviceType": service.service_type,
                    "serviceId": service.service_id,
                    "controlURL": service.control_url,
                    "eventSubURL": service.event_sub_url,
                    "subscribers": len(table) if table is not None else 0,
                }
            )
        return out

    def _managers(self) -> Iterable[tuple[str, ConnectionManager]]:
        for hosted in self.spec.services:
            handler: object = hosted.handler
            manager = handler if isinstance(handler, ConnectionManager) else None
            if manager is None:
                manager = getattr(handler, "manager", None)
            if isinstance(manager, ConnectionManager):
                yield self.service_names.get(hosted.service.event_sub_url, ""), manager

    def _connections(self) -> list[dict[str, Any]]:
        return [
            {
                "service": name,
                "connectionId": row.connection_id,
                "direction": str(row.direction),
                "status": str(row.status),
                "protocolInfo": row.protocol_info,
                "peerConnectionManager": row.peer_connection_manager,
                "peerConnectionId": row.peer_connection_id,
                "avTransportId": row.av_transport_id,
                "rcsId": row.rcs_id,
            }
            for name, manager in self._managers()
            for row in manager.rows()
        ]

    def _subscriptions(self, now: float) -> list[dict[str, Any]]:
        core = self._core
        if core is None:
            return []
        out = []
        for path, table in core.tables().items():
            for sid in table.sids():
                sub = table.get(sid)
                if sub is None:
                    continue
                out.append(
                    {
                        "service": self.service_names.get(path, path),
                        "callbackHost": ", ".join(_callback_host(c) for c in sub.callbacks),
                        "sid": short_sid(sub.sid),
                        "timeLeft": max(0, int(sub.expires_at - now)),
                        "timeout": sub.timeout,
                        "seq": sub.seq if sub.seq >= 0 else None,
                        "messages": sub.messages,
                        "failures": sub.failures,
                    }
                )
        return out

    def _events(self, now: float) -> list[dict[str, Any]]:
        core = self._core
        if core is None or core.activity is None:
            return []
        return [
            {
                "ago": round(max(0.0, now - entry.at), 1),
                "kind": entry.kind,
                "service": self.service_names.get(entry.path, entry.path),
                "sid": entry.sid,
                "seq": entry.seq,
                "status": entry.status,
                "variables": [list(pair) for pair in entry.variables],
                "detail": entry.detail,
            }
            for entry in core.activity
        ]

    # ---------------------------------------------------------------- forms

    def render(self, media_type: str, now: float) -> bytes:
        """The page in ``media_type`` (one of :data:`MEDIA_TYPES`)."""
        if media_type.startswith("application/json"):
            return json.dumps(self.snapshot(now), indent=1).encode()
        if media_type.startswith("text/html"):
            return self._html(self.snapshot(now)).encode()
        if self._text is not None:
            return self._text() if callable(self._text) else self._text
        return self._plain(self.snapshot(now)).encode()

    def _plain(self, snap: Mapping[str, Any]) -> str:
        device = snap["device"]
        lines = [
            f"upnpcm {device['upnpcm']} - {device['profile']} profile",
            f"device: {device['friendlyName']} ({device['deviceType']})",
            f"UDN: {device['udn']}",
            f"uptime: {device['uptime']} s",
            f"BOOTID: {device['bootId'] if device['bootId'] is not None else 'no SSDP'}",
            "services: " + ", ".join(s["name"] for s in snap["services"]),
            f"connections: {len(snap['connections'])}",
            f"subscriptions: {len(snap['subscriptions'])}",
        ]
        lines.extend(
            f"  {sub['service']} {sub['sid']} -> {sub['callbackHost']}, "
            f"{sub['timeLeft']} s left, SEQ {sub['seq']}, {sub['failures']} failures"
            for sub in snap["subscriptions"]
        )
        return "\n".join(lines) + "\n"

    def _html(self, snap: Mapping[str, Any]) -> str:
        device = snap["device"]
        esc = html.escape
        title = esc(device["friendlyName"] or device["udn"])
        facts = [
            ("Type", device["deviceType"]),
            ("UDN", device["udn"]),
            ("Manufacturer", device["manufacturer"]),
            ("Model", " ".join(x for x in (device["modelName"], device["modelNumber"]) if x)),
            ("Profile", f"{device['profile']} (upnpcm {device['upnpcm']})"),
            ("BOOTID", "no SSDP" if device["bootId"] is None else str(device["bootId"])),
        ]
        parts = [
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
            '<meta name=viewport content="width=device-width, initial-scale=1">',
            f"<title>{title} — status</title><style>{_STYLE}</style></head><body>",
            f"<h1>{title}</h1><p class=meta>",
            " · ".join(f"{esc(k)}: <code>{esc(str(v))}</code>" for k, v in facts),
            f" · Uptime: <span id=uptime>{device['uptime']} s</span></p>",
        ]
        if device["devices"]:
            parts.append("<h2>Embedded devices</h2>")
            parts.append(
                _table(
                    ("Name", "Type", "UDN"),
                    [(d["friendlyName"], d["deviceType"], d["udn"]) for d in device["devices"]],
                )
            )
        parts.append("<h2>Services</h2>")
        parts.append(
            _table(
                ("Service", "Type", "Control", "Events", "Subscribers"),
                [
                    (
                        s["name"],
                        s["serviceType"],
                        s["controlURL"],
                        s["eventSubURL"],
                        s["subscribers"],
                    )
                    for s in snap["services"]
                ],
                body_id="services",
            )
        )
        parts.append("<h2>Connections</h2>")
        parts.append(
            _table(
                ("Service", "ID", "Direction", "Status", "protocolInfo", "Peer", "AVT / RCS"),
                [
                    (
                        c["service"],
                        c["connectionId"],
                        c["direction"],
                        c["status"],
                        c["protocolInfo"],
                        f"{c['peerConnectionManager']} #{c['peerConnectionId']}",
                        f"{c['avTransportId']} / {c['rcsId']}",
                    )
                    for c in snap["connections"]
                ],
                body_id="connections",
            )
        )
        parts.append("<h2>Subscriptions</h2>")
        parts.append(
            _table(
                ("Service", "Callback host", "SID", "Time left", "SEQ", "Messages", "Failures"),
                [
                    (
                        s["service"],
                        s["callbackHost"],
                        s["sid"],
                        f"{s['timeLeft']} s",
                        s["seq"],
                        s["messages"],
                        s["failures"],
                    )
                    for s in snap["subscriptions"]
                ],
                body_id="subscriptions",
            )
        )
        parts.append("<h2>Events (latest first)</h2>")
        parts.append(
            _table(
                ("When", "What", "Service", "SID", "SEQ", "Status", "Detail"),
                [
                    (
                        f"{e['ago']} s ago",
                        e["kind"],
                        e["service"],
                        e["sid"],
                        e["seq"],
                        e["status"],
                        " ".join(f"{n}={v}" for n, v in e["variables"]) or e["detail"],
                    )
                    for e in reversed(snap["events"])
                ],
                body_id="events",
            )
        )
        parts.append(f"<script>{_SCRIPT}</script></body></html>")
        return "".join(parts)


def _device_json(device: Device) -> dict[str, Any]:
    return {
        "friendlyName": device.friendly_name,
        "deviceType": device.device_type,
        "udn": device.udn,
        "manufacturer": device.manufacturer,
        "modelName": device.model_name,
        "modelNumber": device.model_number or "",
    }


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]], *, body_id: str = "") -> str:
    esc = html.escape
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead>"]
    out.append(f"<tbody id={body_id}>" if body_id else "<tbody>")
    if not rows:
        out.append(f"<tr><td colspan={len(head)} class=empty>none</td></tr>")
    for row in rows:
        cells = "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)
