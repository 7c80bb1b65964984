"""A scripted misbehaving device: our own device, with one switch per defect (tests only).

Each entry of :data:`DEFECTS` is named after the check it must make fail and
changes exactly one behaviour of an otherwise conformant device. With no
defect the device passes every check. The device is our standard profile
(short Sink/Source lists, generous limits) plus a small ``Probe`` service on
the MediaRenderer whose SCPD and answers the description and control defects
can bend without touching the ConnectionManager. It runs in a thread with an
event loop of its own, so a defect may block it (a slow action) without
blocking the checker.

Defects act at four places: the device spec (description, SCPDs, settings),
each HTTP exchange (:meth:`Script.handle` around the core), each NOTIFY
(:meth:`Script.deliver`) and each SSDP datagram in and out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.aio.ssdp import SsdpServer, resolve_interfaces
from upnpcm.core.connection_manager import StateVariablesChanged
from upnpcm.core.description import (
    Action,
    AllowedValueRange,
    Argument,
    DeviceDescription,
    Icon,
    Service,
    ServiceDescription,
    StateVariable,
    render_device_description,
    render_scpd,
)
from upnpcm.core.device import DeviceResult, HostedService
from upnpcm.core.effects import Effect, SendNotify
from upnpcm.core.gena import Notification, build_propertyset
from upnpcm.core.http import HttpRequest, HttpResponse
from upnpcm.core.soap import (
    build_action_response,
    build_fault,
    parse_action_request,
    parse_action_response,
    parse_fault,
)
from upnpcm.core.ssdp import Outgoing, SsdpConfig
from upnpcm.errors import RemoteProtocolError, TransportError, UPnPError
from upnpcm.host import DeviceHost
from upnpcm.profiles import DeviceSpec, build_device_spec
from upnpcm.settings import DeviceSettings, GenaSettings
from upnpcm.state import StateStore

PROBE_TYPE = "urn:upnpcm-org:service:Probe:1"
SINK = "http-get:*:audio/mpeg:*,http-get:*:audio/flac:*"
SOURCE = "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3"
#: A check that makes the device answer slowly waits this long (over the checker's 2 s).
SLOW = 2.5

#: check ID -> the one thing the device then does wrong.
DEFECTS: dict[str, str] = {
    # description
    "desc.fetch": "the description is served as text/plain",
    "desc.xml-safe": "the description holds a DTD with an entity",
    "desc.root": "the description's root is in the namespace device-1-1",
    "desc.spec-version": "the description has no specVersion",
    "desc.required-elements": "no device has a manufacturer",
    "desc.udn": "the root UDN has no uuid: prefix",
    "desc.unique-ids": "the Probe service has the ConnectionManager's serviceId",
    "desc.type-urns": "the Probe's serviceId is not a URN",
    "desc.urls": "the root device lists an icon that is not there (404)",
    "desc.scpd": "the Probe SCPD has no specVersion",
    "desc.related-variables": "a Probe argument names a state variable that does not exist",
    "desc.argument-order": "a Probe action lists an out-argument before its in-argument",
    "desc.data-types": "a Probe state variable has the dataType 'integer'",
    "desc.allowed-values": "a Probe i4 variable has an allowedValueList",
    "desc.cm-scpd": "the ConnectionManager SCPD swaps Direction and Status of GetCurrentConnectionInfo",
    # control
    "ctl.read-actions": "GetName answers without its out-argument",
    "ctl.response-time": f"GetName answers after {SLOW} s",
    "ctl.unknown-action": "an unknown action gets fault 402",
    "ctl.missing-argument": "GetValue without Index answers 200",
    "ctl.extra-argument": "an extra argument gets fault 501",
    "ctl.wrong-type": "GetValue with a non-numeric Index answers 200",
    "ctl.out-of-range": "GetValue with an Index outside 0..10 answers 200",
    "ctl.fault-form": "every fault says faultstring 'Error'",
    # connection manager
    "cm.protocol-info": "the Sink list holds an entry of three fields",
    "cm.protocol-info-empty": "the Sink list ends with a comma",
    "cm.connection-ids": "an idle GetCurrentConnectionIDs answers 'none'",
    "cm.connection-zero-ids": "without PrepareForConnection the implicit connection is numbered 1",
    "cm.connection-zero-info": "GetCurrentConnectionInfo(0) says PeerConnectionID 0",
    "cm.unknown-id": "GetCurrentConnectionInfo of an unknown ID answers 200 with ':::'",
    "cm.complete-unknown-id": "ConnectionComplete of an unknown ID answers 200",
    "cm.prepare": "PrepareForConnection answers without RcsID",
    "cm.prepare-listed": "GetCurrentConnectionIDs never lists a connection",
    "cm.prepare-info": "GetCurrentConnectionInfo of a prepared connection says PeerConnectionID 99",
    "cm.prepare-evented": "a CurrentConnectionIDs change that adds an ID is not evented",
    "cm.complete": "the first ConnectionComplete of a connection answers 200 and does nothing",
    "cm.complete-evented": "a CurrentConnectionIDs change to '' is not evented",
    "cm.incompatible": "an incompatible protocolInfo gets 702, not 701",
    # eventing
    "gena.subscribe": "a SUBSCRIBE is granted with TIMEOUT '1800' (no Second-)",
    "gena.initial-event": "the initial event carries SEQ 1",
    "gena.initial-event-complete": "the initial event leaves out SinkProtocolInfo",
    "gena.notify-form": "NOTIFYs are sent as text/plain",
    "gena.renew": "a renewal answers a new SID",
    "gena.unsubscribe": "UNSUBSCRIBE answers 200 and keeps the subscription",
    "gena.new-sid": "every SUBSCRIBE is answered with the first SID granted",
    "gena.unknown-sid": "a renewal of a SID never granted gets 404",
    "gena.unsubscribe-unknown-sid": "UNSUBSCRIBE of a SID never granted gets 404",
    "gena.incompatible-headers": "SID with CALLBACK gets 412",
    "gena.nt": "a SUBSCRIBE without NT gets 400",
    "gena.missing-callback": "a SUBSCRIBE without CALLBACK gets 400",
    "gena.callstranger": "any callback on the device's own network is accepted",
    "gena.notify-500": "a NOTIFY answered 500 is resent at once, ten times",
    "gena.notify-unanswered": "one NOTIFY at a time for the whole device",
    # discovery
    "ssdp.search-all": "ssdp:all searches are ignored",
    "ssdp.search-root": "upnp:rootdevice searches are ignored",
    "ssdp.search-uuid": "uuid: searches are ignored",
    "ssdp.search-type": "device and service type searches are ignored",
    "ssdp.reply-form": "search replies have no EXT header",
    "ssdp.reply-delay": "replies to ssdp:all leave 2 s late",
    "ssdp.no-reply": "a search without MAN is answered",
    "ssdp.max-age": "max-age is 100 s",
    "ssdp.location": "LOCATION names a path that is not there",
    "ssdp.usn": "a type search also gets a reply for a type the device does not have",
    "ssdp.bootid": "every message carries a different BOOTID",
    "ssdp.alive": "no ssdp:alive for service types",
    "ssdp.byebye": "no ssdp:byebye for service types",
}
#: Defects that need the device without PrepareForConnection.
WITHOUT_PREPARE = frozenset({"cm.connection-zero-ids", "cm.connection-zero-info"})


# ------------------------------------------------------------------------ the Probe service


class ProbeHandler:
    """A tiny service with two read-only actions."""

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object]:
        if action == "GetName":
            return {"Name": "probe"}
        if action == "GetValue":
            return {"Value": f"value {arguments['Index']}"}
        raise UPnPError(401, f"no action {action}")

    def evented_state(self) -> dict[str, str]:
        return {}

    def events(self) -> list[StateVariablesChanged]:
        return []


def _probe_scpd(defect: str | None) -> ServiceDescription:
    def arg(name: str, direction: str, var: str) -> Argument:
        return Argument(
            name=name, direction="in" if direction == "in" else "out", related_state_variable=var
        )

    get_value = [arg("Index", "in", "A_ARG_TYPE_Index"), arg("Value", "out", "Value")]
    if defect == "desc.argument-order":
        get_value.reverse()
    name_var = "A_ARG_TYPE_Missing" if defect == "desc.related-variables" else "Name"
    variables = [
        StateVariable(name="Name", send_events=False),
        StateVariable(name="Value", send_events=False),
        StateVariable(
            name="A_ARG_TYPE_Index",
            data_type="ui1",
            send_events=False,
            allowed_range=AllowedValueRange(minimum="0", maximum="10", step="1"),
        ),
    ]
    if defect == "desc.data-types":
        variables.append(
            StateVariable(name="A_ARG_TYPE_Count", data_type="integer", send_events=False)
        )
    if defect == "desc.allowed-values":
        variables.append(
            StateVariable(
                name="A_ARG_TYPE_Mode", data_type="i4", send_events=False, allowed_values=("1", "2")
            )
        )
    return ServiceDescription(
        actions=(
            Action(name="GetName", arguments=(arg("Name", "out", name_var),)),
            Action(name="GetValue", arguments=tuple(get_value)),
        ),
        state_variables=tuple(variables),
    )


def _with_probe(spec: DeviceSpec, script: Script) -> DeviceSpec:
    defect = script.defect
    service_id = {
        "desc.unique-ids": "urn:upnp-org:serviceId:ConnectionManager",
        "desc.type-urns": "ProbeService",
    }.get(defect or "", "urn:upnpcm-org:serviceId:Probe")
    service = Service(
        service_type=PROBE_TYPE,
        service_id=service_id,
        scpd_url="/xml/Probe1.xml",
        control_url="/MediaRenderer/Probe/Control",
        event_sub_url="/MediaRenderer/Probe/Event",
    )
    scpd = _probe_scpd(defect)
    scpd_xml = render_scpd(scpd)
    if defect == "desc.scpd":
        scpd_xml = re.sub(rb"\s*<specVersion>.*?</specVersion>", b"", scpd_xml, flags=re.S)
    root = spec.description.device
    devices = tuple(
        replace(d, services=(*d.services, service))
        if d.device_type.endswith(":MediaRenderer:1")
        else d
        for d in root.devices
    )
    root = replace(root, devices=devices)
    if defect == "desc.udn":
        root = replace(root, udn=root.udn.removeprefix("uuid:"))
    if defect == "desc.urls":
        root = replace(
            root,
            icons=(
                Icon(mimetype="image/png", width=48, height=48, depth=24, url="/icons/gone.png"),
            ),
        )
    services = list(spec.services)
    if defect == "desc.cm-scpd":
        services = [
            _swapped_cm(h) if h.service.service_type.endswith(":ConnectionManager:1") else h
            for h in services
        ]
    services.append(
        HostedService(service=service, scpd=scpd, scpd_xml=scpd_xml, handler=ProbeHandler())
    )
    # A device claiming UDA 2.0 must refuse a stranger's callback; before 2.0 accepting one is a WARN.
    version = (2, 0) if defect == "gena.callstranger" else spec.description.spec_version
    description = DeviceDescription(
        device=root, spec_version=version, url_base=spec.description.url_base
    )
    return replace(
        spec,
        gena_policy=replace(spec.gena_policy, sid_format=script.make_sid),
        description=description,
        description_xml=render_device_description(description),
        services=tuple(services),
        max_age=100 if defect == "ssdp.max-age" else spec.max_age,
    )


def _swapped_cm(hosted: HostedService) -> HostedService:
    def swap(action: Action) -> Action:
        if action.name != "GetCurrentConnectionInfo":
            return action
        args = list(action.arguments)
        args[-1], args[-2] = args[-2], args[-1]
        return Action(name=action.name, arguments=tuple(args))

    scpd = replace(hosted.scpd, actions=tuple(swap(a) for a in hosted.scpd.actions))
    return replace(hosted, scpd=scpd, scpd_xml=render_scpd(scpd))


# ------------------------------------------------------------------------------- the script


def _soap(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=(("Content-Type", 'text/xml; charset="utf-8"'), ("EXT", "")),
        body=body,
    )


def _fault(code: int, text: str) -> HttpResponse:
    return _soap(500, build_fault(code, text))


@dataclass
class Script:
    """What the device does wrong, and the state a defect needs."""

    defect: str | None
    granted: set[str] = field(default_factory=set)
    completed_once: set[str] = field(default_factory=set)
    prepared: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    last_sid: str = ""
    #: The ST of the search being answered (replies are made while it is handled).
    searching: bytes = b""
    deliveries: asyncio.Lock | None = None

    # ---------------------------------------------------------------------------- HTTP

    def handle(
        self,
        original: Callable[..., DeviceResult],
        request: HttpRequest,
        *,
        now: float = 0.0,
        entropy: int = 0,
    ) -> DeviceResult:
        """One HTTP exchange, bent by the defect."""
        early = self._before(request)
        if early is not None:
            return DeviceResult(response=early)
        result = original(request, now=now, entropy=entropy)
        response = self._after(request, result.response)
        sid = response.header("SID")
        if request.method == "SUBSCRIBE" and response.status == 200 and sid:
            self.granted.add(sid)
        return result if response is result.response else replace(result, response=response)

    def _call(self, request: HttpRequest) -> tuple[str, dict[str, str]] | None:
        if request.method != "POST":
            return None
        try:
            call = parse_action_request(request.headers.get("SOAPACTION"), request.body)
        except (RemoteProtocolError, UPnPError):
            return None
        return call.action, dict(call.arguments)

    def _before(self, request: HttpRequest) -> HttpResponse | None:
        d = self.defect
        call = self._call(request)
        if call is not None:
            action, args = call
            probe = request.path == "/MediaRenderer/Probe/Control"
            if d == "ctl.unknown-action" and action == "UpnpcmNoSuchAction":
                return _fault(402, "Invalid Args")
            if d == "ctl.extra-argument" and any(name.startswith("UpnpcmExtra") for name in args):
                return _fault(501, "Action Failed")
            if probe and action == "GetValue":
                index = args.get("Index")
                if d == "ctl.missing-argument" and index is None:
                    return _soap(200, build_action_response(PROBE_TYPE, action, [("Value", "")]))
                if (
                    d == "ctl.wrong-type"
                    and index is not None
                    and not index.strip().lstrip("-").isdigit()
                ):
                    return _soap(200, build_action_response(PROBE_TYPE, action, [("Value", "")]))
                if (
                    d == "ctl.out-of-range"
                    and index is not None
                    and index.strip().lstrip("-").isdigit()
                    and not 0 <= int(index) <= 10
                ):
                    return _soap(200, build_action_response(PROBE_TYPE, action, [("Value", "")]))
            if probe and action == "GetName" and d == "ctl.response-time":
                time.sleep(SLOW)  # the device's own thread: the checker is not held up
            if d == "cm.complete" and action == "ConnectionComplete":
                key = f"{request.path} {args.get('ConnectionID')}"
                if key in self.prepared and key not in self.completed_once:
                    self.completed_once.add(key)
                    return _soap(200, build_action_response(_service_type(request), action, []))
            if (
                d == "cm.connection-zero-ids"
                and action == "GetCurrentConnectionInfo"
                and args.get("ConnectionID") == "1"
            ):
                return None  # answered as 0 in _after
        if request.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            sid = request.headers.get("SID")
            if d == "gena.unsubscribe" and request.method == "UNSUBSCRIBE" and sid in self.granted:
                return HttpResponse(status=200)
            if (
                d == "gena.unknown-sid"
                and request.method == "SUBSCRIBE"
                and sid
                and sid not in self.granted
            ):
                return HttpResponse(status=404)
            if (
                d == "gena.unsubscribe-unknown-sid"
                and request.method == "UNSUBSCRIBE"
                and sid
                and sid not in self.granted
            ):
                return HttpResponse(status=404)
            if d == "gena.incompatible-headers" and sid and request.headers.get("CALLBACK"):
                return HttpResponse(status=412)
            if d == "gena.nt" and not sid and request.headers.get("NT") is None:
                return HttpResponse(status=400)
            if d == "gena.missing-callback" and not sid and request.headers.get("CALLBACK") is None:
                return HttpResponse(status=400)
        return None

    def _after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        d = self.defect
        if request.method in ("GET", "HEAD"):
            return self._document(request, response)
        if request.method == "SUBSCRIBE" and response.status == 200:
            return self._grant(request, response)
        if request.method == "UNSUBSCRIBE" and response.status == 200:
            self.ended.add((request.headers.get("SID") or "").strip())
        call = self._call(request)
        if call is None:
            return response
        action, args = call
        if d == "ctl.fault-form" and response.status == 500:
            return replace(
                response,
                body=response.body.replace(b"UPnPError</faultstring>", b"Error</faultstring>"),
            )
        if d == "ctl.read-actions" and action == "GetName" and response.status == 200:
            return replace(response, body=build_action_response(PROBE_TYPE, action, []))
        service_type = _service_type(request)
        out = _out(response)
        code = _code(response)
        if action == "GetProtocolInfo" and out is not None and "Sink" in out and out["Sink"]:
            if d == "cm.protocol-info":
                out["Sink"] += ",http-get:*:audio/x-upnpcm-three-fields"
            elif d == "cm.protocol-info-empty":
                out["Sink"] += ","
            else:
                return response
            return replace(
                response, body=build_action_response(service_type, action, list(out.items()))
            )
        if action == "GetCurrentConnectionIDs" and out is not None:
            value = out.get("ConnectionIDs", "")
            if d == "cm.connection-ids" and value == "":
                out["ConnectionIDs"] = "none"
            elif d == "cm.connection-zero-ids" and value == "0":
                out["ConnectionIDs"] = "1"
            elif d == "cm.prepare-listed" and value:
                out["ConnectionIDs"] = ""
            else:
                return response
            return replace(
                response, body=build_action_response(service_type, action, list(out.items()))
            )
        if action == "GetCurrentConnectionInfo":
            connection_id = args.get("ConnectionID")
            if d == "cm.unknown-id" and code == 706:
                pairs = [("RcsID", "0"), ("AVTransportID", "0"), ("ProtocolInfo", ":::"), ("PeerConnectionManager", "/"),
                         ("PeerConnectionID", "-1"), ("Direction", "Input"), ("Status", "Unknown")]  # fmt: skip
                return _soap(200, build_action_response(service_type, action, pairs))
            if d == "cm.connection-zero-ids" and connection_id == "1" and code == 706:
                pairs = [("RcsID", "-1"), ("AVTransportID", "-1"), ("ProtocolInfo", ""), ("PeerConnectionManager", ""),
                         ("PeerConnectionID", "-1"), ("Direction", "Input"), ("Status", "OK")]  # fmt: skip
                return _soap(200, build_action_response(service_type, action, pairs))
            if out is not None and (
                (d == "cm.connection-zero-info" and connection_id == "0")
                or (d == "cm.prepare-info" and connection_id != "0")
            ):
                out["PeerConnectionID"] = "0" if d == "cm.connection-zero-info" else "99"
                return replace(
                    response, body=build_action_response(service_type, action, list(out.items()))
                )
        if d == "cm.complete-unknown-id" and action == "ConnectionComplete" and code == 706:
            return _soap(200, build_action_response(service_type, action, []))
        if action == "PrepareForConnection" and out is not None:
            self.prepared.add(f"{request.path} {out.get('ConnectionID')}")
        if d == "cm.prepare" and action == "PrepareForConnection" and out is not None:
            out.pop("RcsID", None)
            return replace(
                response, body=build_action_response(service_type, action, list(out.items()))
            )
        if d == "cm.incompatible" and action == "PrepareForConnection" and code == 701:
            return _fault(702, "Incompatible directions")
        return response

    def _document(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        d = self.defect
        if request.path != "/xml/device_description.xml":
            return response
        body = response.body
        if d == "desc.fetch":
            return replace(
                response,
                headers=tuple(
                    (n, "text/plain" if n.lower() == "content-type" else v)
                    for n, v in response.headers
                ),
            )
        if d == "desc.xml-safe":
            body = body.replace(b"<root", b'<!DOCTYPE root [<!ENTITY x "x">]>\n<root', 1)
        elif d == "desc.root":
            body = body.replace(
                b"urn:schemas-upnp-org:device-1-0", b"urn:schemas-upnp-org:device-1-1"
            )
        elif d == "desc.spec-version":
            body = re.sub(rb"\s*<specVersion>.*?</specVersion>", b"", body, flags=re.S)
        elif d == "desc.required-elements":
            body = re.sub(rb"\s*<manufacturer>[^<]*</manufacturer>", b"", body)
        else:
            return response
        headers = tuple(
            (n, str(len(body)) if n.lower() == "content-length" else v) for n, v in response.headers
        )
        return replace(response, body=body, headers=headers)

    def _grant(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        d = self.defect
        renewal = request.headers.get("SID") is not None
        headers = list(response.headers)
        if d == "gena.subscribe" and not renewal:
            headers = [(n, "1800" if n.upper() == "TIMEOUT" else v) for n, v in headers]
        elif d == "gena.renew" and renewal:
            headers = [(n, f"uuid:{uuid.uuid4()}" if n.upper() == "SID" else v) for n, v in headers]
        else:
            return response
        return replace(response, headers=tuple(headers))

    def make_sid(self, entropy: int) -> str:
        """A SID for a new subscription (gena.new-sid: the last one issued again, once it ended)."""
        if self.defect == "gena.new-sid" and self.last_sid in self.ended:
            return self.last_sid
        self.last_sid = f"uuid:{uuid.UUID(int=entropy & ((1 << 128) - 1), version=4)}"
        return self.last_sid

    # ---------------------------------------------------------------------------- NOTIFY

    def notify(self, message: Notification) -> Notification | None:
        """The message to send instead (None: pretend it was delivered)."""
        d = self.defect
        ids = message.changes.get("CurrentConnectionIDs")
        dropped = (d == "cm.prepare-evented" and ids) or (d == "cm.complete-evented" and ids == "")
        if message.seq > 0 and dropped:
            return None
        if (
            d == "gena.initial-event-complete"
            and message.seq == 0
            and "SinkProtocolInfo" in message.changes
        ):
            changes = {k: v for k, v in message.changes.items() if k != "SinkProtocolInfo"}
            return replace(message, changes=changes, body=build_propertyset(changes))
        return message

    def headers(self, message: Notification, url: str) -> dict[str, str]:
        """The NOTIFY headers, bent by the defect."""
        headers = message.headers_for(url)
        if self.defect == "gena.initial-event" and message.seq == 0:
            headers["SEQ"] = "1"
        if self.defect == "gena.notify-form":
            headers["CONTENT-TYPE"] = "text/plain"
        return headers

    # ------------------------------------------------------------------------------ SSDP

    def ssdp_in(self, data: bytes) -> bytes | None:
        """A received datagram as the responder should see it (None: ignore it)."""
        d = self.defect
        st = re.search(rb"\r\nST: *([^\r]*)", data)
        target = st.group(1).strip() if st else b""
        if d == "ssdp.search-all" and target == b"ssdp:all":
            return None
        if d == "ssdp.search-root" and target == b"upnp:rootdevice":
            return None
        if d == "ssdp.search-uuid" and target.startswith(b"uuid:"):
            return None
        if d == "ssdp.search-type" and target.startswith(b"urn:"):
            return None
        if d == "ssdp.no-reply" and data.startswith(b"M-SEARCH") and b"\r\nMAN:" not in data:
            return data.replace(b"\r\n", b'\r\nMAN: "ssdp:discover"\r\n', 1)
        return data

    def ssdp_out(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """The datagrams to send instead."""
        d = self.defect
        out: list[Outgoing] = []
        for item in outgoing:
            data = item.data
            reply = data.startswith(b"HTTP/1.1 200")
            service = (
                b"\r\nNT: urn:" in data
                and b":service:" in data.split(b"\r\nNT: ", 1)[1].split(b"\r\n", 1)[0]
            )
            if d == "ssdp.alive" and b"NTS: ssdp:alive" in data and service:
                continue
            if d == "ssdp.byebye" and b"NTS: ssdp:byebye" in data and service:
                continue
            if d == "ssdp.reply-form" and reply:
                data = data.replace(b"\r\nEXT:", b"", 1)
            if d == "ssdp.location":
                data = data.replace(b"/xml/device_description.xml", b"/xml/moved.xml")
            if d == "ssdp.bootid":
                data = re.sub(
                    rb"BOOTID\.UPNP\.ORG: [0-9]+",
                    b"BOOTID.UPNP.ORG: %d" % (uuid.uuid4().int % 1000 + 100),
                    data,
                )
            if d == "ssdp.reply-delay" and reply and self.searching == b"ssdp:all":
                item = replace(item, send_at=item.send_at + 2.0)
            out.append(replace(item, data=data))
            if d == "ssdp.usn" and reply and b"\r\nST: urn:" in data:
                bogus = re.sub(
                    rb"(\r\nUSN: uuid:[^:\r]*)::[^\r]*",
                    rb"\1::urn:schemas-upnp-org:device:Bogus:1",
                    data,
                )
                out.append(replace(item, data=bogus))
        return out


def _service_type(request: HttpRequest) -> str:
    soapaction = (request.headers.get("SOAPACTION") or "").strip().strip('"')
    return soapaction.split("#", 1)[0]


def _out(response: HttpResponse) -> dict[str, str] | None:
    if response.status != 200:
        return None
    try:
        return dict(parse_action_response(response.body, ""))
    except (RemoteProtocolError, UPnPError):
        return None


def _code(response: HttpResponse) -> int | None:
    if response.status == 200:
        return None
    try:
        return parse_fault(response.body).code
    except RemoteProtocolError:
        return None


# ------------------------------------------------------------------------------- the device


class _ScriptedSsdp(SsdpServer):
    script: Script

    def received(self, data: bytes, source: tuple[str, int]) -> None:
        bent = self.script.ssdp_in(data)
        if bent is not None:
            st = re.search(rb"\r\nST: *([^\r]*)", bent)
            self.script.searching = st.group(1).strip() if st else b""
            try:
                super().received(bent, source)
            finally:
                self.script.searching = b""

    def _send(self, outgoing: list[Outgoing]) -> None:
        super()._send(self.script.ssdp_out(outgoing))


class ScriptedHost(DeviceHost):
    """Our device with the script in its HTTP, NOTIFY and SSDP paths."""

    def __init__(self, settings: DeviceSettings, *, state_dir: Path, script: Script) -> None:
        spec = _with_probe(build_device_spec(settings, StateStore(state_dir)), script)
        super().__init__(settings, state_dir=state_dir, spec=spec)
        self.script = script
        original = self.core.handle
        self.core.handle = lambda request, *, now=0.0, entropy=0: script.handle(  # type: ignore[method-assign]
            original, request, now=now, entropy=entropy
        )
        # Every request goes through the script: none answered by its bytes (rule M5).
        self.core.recall = lambda raw, local, local_port: None  # type: ignore[method-assign]
        self._server_perform = self.server.perform
        self.server.perform = self._perform  # type: ignore[method-assign]
        self._client = LeanHttpClient(user_agent="")
        self._tasks: set[asyncio.Task[None]] = set()

    def _perform(self, effects: list[Effect]) -> None:
        rest: list[Effect] = []
        for effect in effects:
            if isinstance(effect, SendNotify):
                task = asyncio.get_running_loop().create_task(self._deliver(effect))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                rest.append(effect)
        self._server_perform(rest)

    async def _deliver(self, effect: SendNotify) -> None:
        script = self.script
        message = script.notify(effect.message)
        status: int | None = 200
        if message is not None:
            if script.defect == "gena.notify-unanswered":
                if script.deliveries is None:
                    script.deliveries = asyncio.Lock()
                async with script.deliveries:
                    status = await self._send(message)
            else:
                status = await self._send(message)
                if script.defect == "gena.notify-500" and status == 500:
                    for _ in range(10):
                        status = await self._send(message)
        loop = asyncio.get_running_loop()
        self._perform(self.core.notify_done(effect.path, effect.message.sid, status, loop.time()))

    async def _send(self, message: Notification) -> int | None:
        status: int | None = None
        for url in message.callbacks:
            try:
                reply = await self._client.request(
                    "NOTIFY", url, headers=self.script.headers(message, url), body=message.body,
                    timeout=30.0, head_only=True, max_head=4096,
                )  # fmt: skip
            except TransportError:
                continue
            status = reply.status
            if 200 <= status < 300:
                return status
        return status

    async def _start_ssdp(self) -> None:
        # As DeviceHost's, with the scripted SsdpServer.
        interfaces = resolve_interfaces(self.settings.interfaces)
        self.boot_id = self.store.next_boot_id()
        config = SsdpConfig(
            server=self.spec.server_header,
            boot_id=self.boot_id,
            config_id=self.spec.config_id if self.spec.ssdp_config_id else None,
            max_age=self.spec.max_age,
            cache_control=self.spec.cache_control,
            headers=self.spec.ssdp_headers,
        )
        ssdp = _ScriptedSsdp(
            self.spec.description.device,
            config,
            http_port=self.server.port,
            description_path=self.spec.description_path,
            interfaces=interfaces,
        )
        ssdp.script = self.script
        self.ssdp = ssdp
        await ssdp.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().stop()


def settings_for(
    defect: str | None,
    *,
    port: int = 0,
    ssdp_interface: str | None = None,
    prepare: bool | None = None,
) -> DeviceSettings:
    """The settings of the scripted device (PrepareForConnection unless the defect needs it absent)."""
    with_prepare = defect not in WITHOUT_PREPARE if prepare is None else prepare
    return DeviceSettings(
        host=("127.0.0.1",),
        port=port,
        ssdp=ssdp_interface is not None,
        interfaces=(ssdp_interface,) if ssdp_interface else (),
        prepare_for_connection=with_prepare,
        renderer_sink=SINK,
        server_source=SOURCE,
        max_connections=100,
        gena=GenaSettings(
            max_subscriptions=64,
            max_per_peer=64,
            min_interval=0.0,
            callback_scope="subnet" if defect == "gena.callstranger" else "peer",
        ),
    )


class ScriptedDevice:
    """A :class:`ScriptedHost` in a thread with its own event loop."""

    def __init__(
        self,
        defect: str | None,
        state_dir: Path,
        *,
        ssdp_interface: str | None = None,
        prepare: bool | None = None,
    ) -> None:
        if defect is not None and defect not in DEFECTS:
            raise KeyError(defect)
        self.defect = defect
        self.state_dir = state_dir
        self.ssdp_interface = ssdp_interface
        self.prepare = prepare
        self.script = Script(defect)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._host: ScriptedHost | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/xml/device_description.xml"

    def start(self) -> None:
        """Start (or start again, on the same port, with the next BOOTID)."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            settings = settings_for(
                self.defect,
                port=self.port,
                ssdp_interface=self.ssdp_interface,
                prepare=self.prepare,
            )
            host = ScriptedHost(settings, state_dir=self.state_dir, script=self.script)
            try:
                loop.run_until_complete(host.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            self._host = host
            self.port = host.port
            ready.set()
            loop.run_forever()
            loop.run_until_complete(host.stop())
            loop.close()

        self._thread = threading.Thread(
            target=run, name=f"scripted device {self.defect}", daemon=True
        )
        self._thread.start()
        ready.wait(20)
        if failure:
            raise failure[0]

    def stop(self) -> None:
        """Stop (byebye first when it advertises)."""
        if self._loop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(20)
        self._loop = None
        self._thread = None

    def restart(self) -> None:
        """Stop and start again (a new BOOTID): alive and byebye can be heard."""
        self.stop()
        self.start()
