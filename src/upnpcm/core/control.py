"""What a control point does with descriptions and action calls, without I/O.

The asyncio control point (:class:`upnpcm.aio.control_point.ControlPoint`) and
the blocking one (:class:`upnpcm.blocking.ControlPoint`) share everything here;
they only fetch and post. A load reads the description, then each SCPD it
names, then keeps and assembles the device; a call builds its request, then
reads the reply.

Rules (docs/rules.md):

- B7: each document at most ``max_description_bytes`` (1 MiB), fetched with
  no redirects (the HTTP clients).
- B11: a load is bounded in devices, services and bytes in all; past a bound it
  fails with an error that names the limit.
- D2: loading is tolerant of what real devices serve (core/description.py); a
  service whose SCPD cannot be had is kept, with the reason.
- D4: a misnamed lone out-argument is read under its SCPD name (refused when
  strict).
- D5: every URL a load would use is on the description's own host, unless the
  caller allows foreign URLs.
- M3/M4: a load that fetched every SCPD is kept and reused under the same
  LOCATION, BOOTID and CONFIGID.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TypedDict
from urllib.parse import urlsplit

from upnpcm.core.arguments import decode_arguments, encode_arguments, rename_lone_out_argument
from upnpcm.core.datatypes import UPnPValue
from upnpcm.core.description import (
    MAX_DESCRIPTION_BYTES,
    Action,
    Device,
    DeviceDescription,
    Service,
    ServiceDescription,
    parse_device_description,
    parse_scpd,
)
from upnpcm.core.http_reply import HttpReply
from upnpcm.core.memo import DescriptionCache, LoadedDevice
from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault
from upnpcm.errors import (
    ActionArgumentError,
    HttpStatusError,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
    UPnPError,
)

__all__ = [
    "MAX_DEVICES",
    "MAX_LOAD_BYTES",
    "MAX_SERVICES",
    "SCPD_CONCURRENCY",
    "ActionCaller",
    "ControlPointCore",
    "ControlPointSettings",
    "LoadBudget",
    "RemoteDevice",
    "RemoteService",
    "short_type",
    "status_error",
]

PAYLOADS: Final = logging.getLogger("upnpcm.payloads")
_LOG: Final = logging.getLogger("upnpcm.control_point")
# Rules B7 and B11 (docs/rules.md) bound a load; rule D5 keeps it on the description's host.
#: Load limits: devices and services one description may list, bytes one load may read
#: (description and SCPDs), SCPDs fetched at once.
MAX_DEVICES: Final = 32
MAX_SERVICES: Final = 128
MAX_LOAD_BYTES: Final = 8 * 1024 * 1024
SCPD_CONCURRENCY: Final = 4


class ActionCaller(Protocol):
    """What a :class:`RemoteService` calls through: a control point, asyncio or blocking."""

    def call(
        self, remote: RemoteService, action_name: str, arguments: Mapping[str, object], /
    ) -> Awaitable[dict[str, UPnPValue]] | dict[str, UPnPValue]:
        """Call ``action_name`` of ``remote``: the out-arguments (or, asyncio, a coroutine)."""
        ...


def short_type(type_urn: str) -> str:
    """``urn:schemas-upnp-org:service:AVTransport:1`` → ``AVTransport``."""
    parts = type_urn.split(":")
    return parts[-2] if len(parts) >= 3 else type_urn


def _capitals(name: str) -> str:
    return "".join(c for c in name if c.isupper())


@dataclass(slots=True, kw_only=True)
class RemoteService:
    """A service of a loaded device, ready to be called."""

    device: Device
    service: Service
    scpd: ServiceDescription
    control_url: str
    event_url: str
    scpd_url: str
    scpd_error: str | None = None
    _cp: ActionCaller | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The short service type, e.g. ``ConnectionManager``."""
        return short_type(self.service.service_type)

    @property
    def qualified_name(self) -> str:
        """``<device short type>/<service short type>``, e.g. ``MediaRenderer/ConnectionManager``."""
        return f"{short_type(self.device.device_type)}/{self.name}"

    @property
    def peer_id(self) -> str:
        """``<UDN>/<serviceId>``: how a ConnectionManager names its peer (CM:1 §2.2.4)."""
        return f"{self.device.udn}/{self.service.service_id}"

    async def call(self, action: str, /, **arguments: object) -> dict[str, UPnPValue]:
        """Call ``action`` with its in-arguments by name; return the out-arguments.

        Raises:
            ActionArgumentError: unknown action or argument, wrong type or value
                (nothing was sent); ``code`` is what a device would answer.
            UPnPError: the device answered with a fault.
            RemoteProtocolError: the answer is not a SOAP response or fault.
            TransportError: the network failed (ConnectError, UpnpTimeoutError).
        """
        if self._cp is None:
            raise LocalProtocolError("this service is not attached to a control point")
        result = self._cp.call(self, action, arguments)
        if isinstance(result, dict):  # a blocking control point has answered already
            return result
        return await result


@dataclass(slots=True, kw_only=True)
class RemoteDevice:
    """A loaded device tree with every service."""

    location: str
    description: DeviceDescription
    services: list[RemoteService]

    @property
    def root(self) -> Device:
        """The root device."""
        return self.description.device

    def service(self, selector: str) -> RemoteService:
        """Find a service by selector.

        A selector is a full service type, a serviceId, a short type
        (``ConnectionManager``, case-insensitive), its capitals (``CM``), or
        ``Device/Service`` where Device is a short device type (or its
        capitals) or a UDN (``MediaServer/ConnectionManager``, ``MS/CM``).

        Raises:
            LookupError: nothing matches, or several services do (the message
                lists them, each with the shortest selector that picks it).
        """
        found = self._matching(selector)
        if len(found) == 1:
            return found[0]
        if found:
            choices = ", ".join(f"{self.selector_for(r)} ({r.qualified_name})" for r in found)
            raise LookupError(f"service {selector!r} is ambiguous; name one of: {choices}")
        names = ", ".join(r.qualified_name for r in self.services) or "none"
        raise LookupError(f"no service {selector!r} (this device has: {names})")

    def selector_for(self, remote: RemoteService) -> str:
        """The shortest selector that picks ``remote`` alone (``CM``, ``MR/CM``, …)."""
        device_type = short_type(remote.device.device_type)
        forms = [
            _capitals(remote.name),
            f"{_capitals(device_type)}/{_capitals(remote.name)}",
            f"{device_type}/{remote.name}",
            f"{remote.device.udn}/{remote.name}",
            f"{remote.device.udn}/{remote.service.service_id}",
        ]
        for form in forms:
            if form and self._matching(form) == [remote]:
                return form
        return forms[-1]  # two services with one serviceId in one device: as good as it gets

    def _matching(self, selector: str) -> list[RemoteService]:
        """Every service ``selector`` (see :meth:`service`) names, in document order."""
        wanted = selector.strip()
        device_part, _, service_part = wanted.rpartition("/")
        found = []
        for remote in self.services:
            device_type = short_type(remote.device.device_type)
            if device_part and device_part.lower() not in (
                device_type.lower(),
                _capitals(device_type).lower(),
                remote.device.udn.lower(),
            ):
                continue
            svc = remote.service
            if service_part in (svc.service_type, svc.service_id) or service_part.lower() in (
                remote.name.lower(),
                _capitals(remote.name).lower(),
            ):
                found.append(remote)
        return found

    def services_named(self, name: str) -> list[RemoteService]:
        """Every service whose short type is ``name`` (case-insensitive)."""
        return [r for r in self.services if r.name.lower() == name.lower()]


class ControlPointSettings(TypedDict, total=False):
    """What a control point may be given besides its HTTP client (see :class:`ControlPointCore`)."""

    timeout: float
    max_description_bytes: int
    cache: bool
    strict: bool
    max_devices: int
    max_services: int
    max_load_bytes: int
    scpd_concurrency: int
    allow_foreign_urls: bool


class ControlPointCore:
    """The settings, the description cache and the I/O-free steps of a control point.

    Subclasses fetch and post: :class:`upnpcm.aio.control_point.ControlPoint`
    (asyncio) and :class:`upnpcm.blocking.ControlPoint`. The settings: seconds
    for each HTTP request (``timeout``), the largest description or SCPD read
    (``max_description_bytes``, B7), the description cache on or off
    (``cache``, M3), refusing what tolerant reading repairs (``strict``, D4),
    the load bounds (``max_devices``, ``max_services``, ``max_load_bytes``,
    SCPDs fetched at once ``scpd_concurrency``: B11), and using URLs on other
    hosts (``allow_foreign_urls``, D5).
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_description_bytes: int = MAX_DESCRIPTION_BYTES,
        cache: bool = True,
        strict: bool = False,
        max_devices: int = MAX_DEVICES,
        max_services: int = MAX_SERVICES,
        max_load_bytes: int = MAX_LOAD_BYTES,
        scpd_concurrency: int = SCPD_CONCURRENCY,
        allow_foreign_urls: bool = False,
    ) -> None:
        self.timeout = timeout
        self.max_description_bytes = max_description_bytes
        #: Loaded descriptions and SCPDs (rules M3, M4); ``cache=False`` keeps none.
        self.descriptions = DescriptionCache(enabled=cache)
        #: Refuse answers that tolerant reading would repair (a misnamed out-argument, D4).
        self.strict = strict
        self.max_devices = max_devices
        self.max_services = max_services
        self.max_load_bytes = max_load_bytes
        self.scpd_concurrency = scpd_concurrency
        self.allow_foreign_urls = allow_foreign_urls

    def _caller(self) -> ActionCaller | None:
        """What the services this control point loads call through (the subclass itself)."""
        return None

    # ----------------------------------------------------------------- loading

    def _document(self, url: str, reply: HttpReply) -> bytes:
        """The body of a description or SCPD ``reply``.

        Raises:
            HttpStatusError: it is not 200.
        """
        if reply.status != 200:
            raise status_error("GET", url, reply)
        return reply.body

    def _recall(
        self, location: str, boot_id: int | None, config_id: int | None
    ) -> RemoteDevice | None:
        """The device loaded from ``location`` before under these IDs (M3, M4), or None."""
        kept = self.descriptions.get(location, boot_id, config_id)
        if kept is None:
            return None
        # it passed the checks of _read_description when it was loaded
        return self._assemble(location, kept.description, dict(kept.scpds), {})

    def _read_description(
        self, location: str, document: bytes
    ) -> tuple[DeviceDescription, list[str], LoadBudget]:
        """The description, the URLs of its SCPDs (each once) and what the load may still read.

        Raises:
            RemoteProtocolError: not a usable device description, over a load
                limit (B11, named), or pointing at another host (D5, the URLs named).
        """
        budget = LoadBudget(self.max_load_bytes)
        budget.spend(len(document), location)
        description = parse_device_description(
            document,
            max_bytes=self.max_description_bytes,
            max_devices=self.max_devices,
            max_services=self.max_services,
        )
        if not self.allow_foreign_urls:
            foreign = description.foreign_urls(location)
            if foreign:
                shown = ", ".join(foreign[:5]) + (
                    f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
                )
                raise RemoteProtocolError(
                    f"the description at {location} points at other hosts or ports: {shown} "
                    "(refused; allow_foreign_urls / --allow-foreign-urls to use them)"
                )
        urls = [
            _resolve(description, location, s.scpd_url)
            for _, s in description.device.iter_services()
        ]
        unique = list(dict.fromkeys(urls))  # services often share one SCPD (Sonos, us)
        return description, unique, budget

    def _read_scpd(
        self, url: str, data: bytes, budget: LoadBudget
    ) -> tuple[ServiceDescription, str | None]:
        """The SCPD read from ``data``, or an empty one and why it cannot be used.

        Raises:
            RemoteProtocolError: the load's byte budget is spent (B11: the one way out).
        """
        budget.spend(len(data), url)
        try:
            return parse_scpd(data, max_bytes=self.max_description_bytes), None
        except RemoteProtocolError as exc:
            return ServiceDescription(), str(exc)

    @staticmethod
    def _scpd_missing(url: str, exc: Exception) -> tuple[ServiceDescription, str]:
        """An empty SCPD and why ``url`` could not be fetched (``exc``: what the fetch raised)."""
        if isinstance(exc, TransportError | LocalProtocolError):
            return ServiceDescription(), str(exc)
        # an unusable URL, whatever the HTTP client makes of it
        return ServiceDescription(), f"SCPD {url!r} is not a usable URL: {exc}"

    @staticmethod
    def _scpds_skipped(urls: list[str]) -> list[tuple[ServiceDescription, str | None]]:
        """What ``with_scpds=False`` gives every service."""
        return [(ServiceDescription(), "service description not loaded")] * len(urls)

    def _keep(
        self,
        location: str,
        boot_id: int | None,
        config_id: int | None,
        description: DeviceDescription,
        urls: list[str],
        fetched: list[tuple[ServiceDescription, str | None]],
    ) -> RemoteDevice:
        """The loaded device; remembered (M3) when every SCPD of it could be had."""
        loaded = dict(zip(urls, fetched, strict=True))
        scpds = {url: scpd for url, (scpd, _) in loaded.items()}
        errors = {url: error for url, (_, error) in loaded.items() if error is not None}
        if not errors:  # M3: a failed (or skipped) SCPD is not remembered
            self.descriptions.put(
                location,
                boot_id,
                config_id,
                LoadedDevice(description=description, scpds=tuple(scpds.items())),
            )
        return self._assemble(location, description, scpds, errors)

    def _assemble(
        self,
        location: str,
        description: DeviceDescription,
        scpds: Mapping[str, ServiceDescription],
        errors: Mapping[str, str],
    ) -> RemoteDevice:
        services = []
        for device, service in description.device.iter_services():
            url = _resolve(description, location, service.scpd_url)
            services.append(
                RemoteService(
                    device=device,
                    service=service,
                    scpd=scpds.get(url, ServiceDescription()),
                    scpd_error=errors.get(url),
                    control_url=_resolve(description, location, service.control_url),
                    event_url=_resolve(description, location, service.event_sub_url),
                    scpd_url=url,
                    _cp=self._caller(),
                )
            )
        return RemoteDevice(location=location, description=description, services=services)

    # ------------------------------------------------------------------- calls

    def _request_for(
        self, remote: RemoteService, action_name: str, arguments: Mapping[str, object]
    ) -> tuple[Action, dict[str, str], bytes]:
        """The action, and the headers and body of the request that calls it.

        Raises:
            TransportError: the service's SCPD could not be loaded, so nothing
                can be checked or sent.
            ActionArgumentError: unknown action or argument, wrong type or value.
            RemoteProtocolError: the service's controlURL is not a usable URL.
        """
        action = remote.scpd.action(action_name)
        if action is None and remote.scpd_error is not None:
            raise TransportError(
                f"{remote.qualified_name}: cannot call {action_name!r}, its service "
                f"description could not be loaded ({remote.scpd_error})"
            )
        if action is None:
            known = ", ".join(a.name for a in remote.scpd.actions) or "none"
            raise ActionArgumentError(
                401, f"{remote.qualified_name} has no action {action_name!r} (it has: {known})"
            )
        try:
            pairs = encode_arguments(remote.scpd, action.in_arguments, arguments)
        except UPnPError as exc:
            raise ActionArgumentError(exc.code, f"{action_name}: {exc.description}") from None
        if PAYLOADS.isEnabledFor(logging.INFO):
            PAYLOADS.info("call %s %s %s", remote.qualified_name, action_name, dict(pairs))
        headers, body = build_action_request(remote.service.service_type, action_name, pairs)
        _check_url(remote.control_url, f"{remote.qualified_name}: controlURL")
        return action, headers, body

    def _result_of(
        self, remote: RemoteService, action: Action, reply: HttpReply
    ) -> dict[str, UPnPValue]:
        """The out-arguments a reply to calling ``action`` holds.

        Raises:
            UPnPError: the device answered with a fault.
            HttpStatusError: an HTTP error, not a SOAP fault.
            RemoteProtocolError: the answer is not a SOAP response or fault.
        """
        action_name = action.name
        if reply.status == 200:
            # a fault sent with HTTP 200 is still a fault: parse_action_response raises it
            out = parse_action_response(reply.body, action_name)
            out, renamed = rename_lone_out_argument(action.out_arguments, out)
            if renamed is not None:
                if self.strict:
                    raise RemoteProtocolError(f"{remote.qualified_name} {action_name}: {renamed}")
                _LOG.warning("%s %s: %s", remote.qualified_name, action_name, renamed)
            values = decode_arguments(remote.scpd, action.out_arguments, out)
            if PAYLOADS.isEnabledFor(logging.INFO):
                PAYLOADS.info("result %s %s %s", remote.qualified_name, action_name, values)
            return values
        media_type = (reply.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not reply.body or media_type == "text/plain":  # an HTTP error, not a SOAP fault
            raise status_error("POST", remote.control_url, reply)
        try:
            error = parse_fault(reply.body)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(
                f"{action_name}: HTTP {reply.status} without a UPnP fault ({exc})"
            ) from None
        if PAYLOADS.isEnabledFor(logging.INFO):
            PAYLOADS.info(
                "fault %s %s %d %s",
                remote.qualified_name,
                action_name,
                error.code,
                error.description,
            )
        raise error


def _resolve(description: DeviceDescription, location: str, url: str) -> str:
    """``url`` of ``description`` made absolute; kept as written when it cannot be."""
    try:
        return description.absolute_url(location, url)
    except ValueError:  # e.g. "http://[::1/x.xml": kept as written, fails when used
        return url


class LoadBudget:
    """The bytes one load may still read (rule B11)."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, size: int, url: str) -> None:
        """Count ``size`` bytes read from ``url``; raise once the budget is over."""
        self.left -= size
        if self.left < 0:
            self.exhausted(url)

    def exhausted(self, url: str) -> None:
        """Raise the error that says the budget is spent (``url``: what was being read)."""
        raise RemoteProtocolError(
            f"loading the device would read over {self.limit} bytes "
            f"(limit max_load_bytes; at {url})"
        )


def status_error(method: str, url: str, reply: HttpReply) -> HttpStatusError:
    """What a device's HTTP error says: its status line and the first line of a text body.

    Both are cleaned of control characters (a device must not drive the
    terminal) and cut at 200 characters.
    """
    reason = _printable(reply.reason) or _standard_reason(reply.status)
    detail = ""
    media_type = (reply.headers.get("Content-Type") or "text/plain").split(";")[0].strip().lower()
    if media_type == "text/plain":
        lines = reply.body[:4096].decode("utf-8", "replace").strip().splitlines()
        detail = _printable(lines[0]) if lines else ""
        detail = detail.removeprefix(f"{reply.status} ")  # "400 Host header is not…"
    return HttpStatusError(method, url, reply.status, reason, detail)


def _printable(text: str, limit: int = 200) -> str:
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _standard_reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _check_url(url: str, what: str) -> None:
    """Raise RemoteProtocolError when a URL the device gave cannot be used."""
    try:
        parts = urlsplit(url)
        usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError as exc:
        raise RemoteProtocolError(f"{what} {url!r} is not a usable URL: {exc}") from None
    if not usable:
        raise RemoteProtocolError(f"{what} {url!r} is not an absolute http:// URL")
