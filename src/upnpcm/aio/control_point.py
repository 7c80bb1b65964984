"""Control point: load any UPnP device and call any action of any of its services.

::

    async with ControlPoint() as cp:                       # or ControlPoint(session=aiohttp_session)
        device = await cp.load("http://192.0.2.7:1400/xml/device_description.xml")
        cm = device.service("MediaRenderer/ConnectionManager")
        result = await cm.call("GetCurrentConnectionInfo", ConnectionID=0)

Loading fetches the description and every SCPD (each at most 1 MiB, 10 s, no
redirects) within bounds a hostile device cannot stretch:
at most ``max_devices`` devices and ``max_services`` services per description,
``max_load_bytes`` for the description and its SCPDs together, fetched
``scpd_concurrency`` at a time; past any of them the load fails with a
:class:`RemoteProtocolError` naming the limit. Every URL the control point
would use must be on the description's own host (its port, or one from 1024
up): a description pointing elsewhere is refused, naming the URLs, unless
``allow_foreign_urls``. Loading is tolerant of real devices: element order,
vendor elements, ``#TOKEN#`` text, no URLBase (URLs resolve against LOCATION).
A service whose SCPD cannot be fetched or parsed (or whose SCPDURL is not a
usable URL) is kept, with the reason in :attr:`RemoteService.scpd_error`, so
one broken vendor service does not hide a device; calling an action of such a
service raises :class:`TransportError` with that reason. A controlURL or
eventSubURL that does not resolve is kept as written and fails only when used.

Each control point keeps what it loaded (:class:`~upnpcm.core.memo.DescriptionCache`):
loading the same LOCATION again, under the same BOOTID and
CONFIGID (when known from SSDP), fetches nothing; ``ControlPoint(cache=False)``
always fetches. Keep one control point for a sequence of calls.

Calls are checked against the SCPD before anything is sent (a wrong name,
type or value raises :class:`ActionArgumentError`), results are converted to
Python values, and a SOAP fault raises :class:`UPnPError` with its code and
(optional, as on Sonos) description. Parsed payloads are logged on
``upnpcm.payloads`` (the CLI's ``-DD``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from upnpcm.aio.http_client import HttpClient, HttpReply, LeanHttpClient
from upnpcm.core.arguments import decode_arguments, encode_arguments, rename_lone_out_argument
from upnpcm.core.datatypes import UPnPValue
from upnpcm.core.description import (
    MAX_DESCRIPTION_BYTES,
    Device,
    DeviceDescription,
    Service,
    ServiceDescription,
    parse_device_description,
    parse_scpd,
)
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

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ControlPoint", "RemoteDevice", "RemoteService", "short_type", "status_error"]

PAYLOADS: Final = logging.getLogger("upnpcm.payloads")
_LOG: Final = logging.getLogger("upnpcm.control_point")
# Rules B7 and B11 (docs/rules.md) bound a load; rule D5 keeps it on the description's host.
#: Load limits: devices and services one description may list, bytes one load may read
#: (description and SCPDs), SCPDs fetched at once.
MAX_DEVICES: Final = 32
MAX_SERVICES: Final = 128
MAX_LOAD_BYTES: Final = 8 * 1024 * 1024
SCPD_CONCURRENCY: Final = 4


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
    _cp: ControlPoint | None = field(default=None, repr=False)

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
        return await self._cp.call(self, action, arguments)


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


class ControlPoint:
    """Loads devices and calls actions; optionally on a caller's aiohttp session.

    Use as an async context manager (or call :meth:`close`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        http: HttpClient | None = None,
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
        if http is not None:
            self.http: HttpClient = http
        elif session is not None:
            from upnpcm.aio.http_client import AiohttpHttpClient

            self.http = AiohttpHttpClient(session)
        else:
            self.http = LeanHttpClient()
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

    async def __aenter__(self) -> ControlPoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the HTTP client (a caller's session is left open)."""
        await self.http.close()

    # ----------------------------------------------------------------- loading

    async def _get(self, url: str) -> bytes:
        reply = await self.http.request(
            "GET", url, timeout=self.timeout, max_bytes=self.max_description_bytes
        )
        if reply.status != 200:
            raise status_error("GET", url, reply)
        return reply.body

    async def load(
        self,
        location: str,
        *,
        boot_id: int | None = None,
        config_id: int | None = None,
        with_scpds: bool = True,
    ) -> RemoteDevice:
        """Fetch and parse a device description and every SCPD it lists.

        What this control point loaded from ``location`` before, under the
        same ``boot_id`` and ``config_id`` (BOOTID.UPNP.ORG, CONFIGID.UPNP.ORG
        from SSDP; None when not known), is used again without a fetch.
        With ``with_scpds=False`` only the description is fetched (enough to
        list devices and services; nothing is remembered); every service then
        has an empty SCPD and says so in :attr:`RemoteService.scpd_error`.

        Raises:
            TransportError: the description could not be fetched (not 200,
                too big, too slow, unreachable).
            RemoteProtocolError: the description is not a usable device
                description, goes over a load limit (named in the message),
                or points at another host (the URLs are named).
        """
        # rule D2: tolerant of what real devices serve (core/description.py); rules M3/M4: reuse
        kept = self.descriptions.get(location, boot_id, config_id)
        if kept is not None:  # it passed the checks below when it was loaded
            return self._assemble(location, kept.description, dict(kept.scpds), {})
        document = await self._get(location)
        budget = _Budget(self.max_load_bytes)
        budget.spend(len(document), location)
        description = parse_device_description(
            document,
            max_bytes=self.max_description_bytes,
            max_devices=self.max_devices,
            max_services=self.max_services,
        )
        del document
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

        def resolve(url: str) -> str:
            try:
                return description.absolute_url(location, url)
            except ValueError:  # e.g. "http://[::1/x.xml": kept as written, fails when used
                return url

        urls = [resolve(s.scpd_url) for _, s in description.device.iter_services()]
        unique = list(dict.fromkeys(urls))  # services often share one SCPD (Sonos, us)
        if with_scpds:
            fetched = await self._load_scpds(unique, budget)
        else:
            fetched = [(ServiceDescription(), "service description not loaded")] * len(unique)
        loaded = dict(zip(unique, fetched, strict=True))
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
        def resolve(url: str) -> str:
            try:
                return description.absolute_url(location, url)
            except ValueError:
                return url

        services = []
        for device, service in description.device.iter_services():
            url = resolve(service.scpd_url)
            services.append(
                RemoteService(
                    device=device,
                    service=service,
                    scpd=scpds.get(url, ServiceDescription()),
                    scpd_error=errors.get(url),
                    control_url=resolve(service.control_url),
                    event_url=resolve(service.event_sub_url),
                    scpd_url=url,
                    _cp=self,
                )
            )
        return RemoteDevice(location=location, description=description, services=services)

    async def _load_scpds(
        self, urls: list[str], budget: _Budget
    ) -> list[tuple[ServiceDescription, str | None]]:
        """Every SCPD of ``urls``, ``scpd_concurrency`` at a time; the first over-budget one ends all."""
        gate = asyncio.Semaphore(max(1, self.scpd_concurrency))

        async def one(url: str) -> tuple[ServiceDescription, str | None]:
            async with gate:
                return await self._load_scpd(url, budget)

        tasks = [asyncio.ensure_future(one(url)) for url in urls]
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _load_scpd(self, url: str, budget: _Budget) -> tuple[ServiceDescription, str | None]:
        """One SCPD, or an empty one and the reason it could not be had.

        Raises:
            RemoteProtocolError: the load's byte budget is spent (the one way out).
        """
        if budget.left <= 0:
            budget.exhausted(url)
        try:
            data = await self._get(url)
        except (TransportError, LocalProtocolError) as exc:
            return ServiceDescription(), str(exc)
        except ValueError as exc:  # an unusable URL, whatever the HTTP client makes of it
            return ServiceDescription(), f"SCPD {url!r} is not a usable URL: {exc}"
        budget.spend(len(data), url)
        try:
            return parse_scpd(data, max_bytes=self.max_description_bytes), None
        except RemoteProtocolError as exc:
            return ServiceDescription(), str(exc)

    # ------------------------------------------------------------------- calls

    async def call(
        self, remote: RemoteService, action_name: str, arguments: Mapping[str, object]
    ) -> dict[str, UPnPValue]:
        """Call an action of ``remote`` (see :meth:`RemoteService.call`).

        Raises (besides those of :meth:`RemoteService.call`):
            TransportError: the service's SCPD could not be loaded
                (:attr:`RemoteService.scpd_error`), so nothing can be checked or sent.
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
        reply = await self.http.request(
            "POST", remote.control_url, headers=headers, body=body, timeout=self.timeout
        )
        if reply.status == 200:
            try:
                out = parse_action_response(reply.body, action_name)
            except UPnPError:
                raise  # a fault sent with HTTP 200 is still a fault
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


class _Budget:
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
