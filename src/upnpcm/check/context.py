"""What every check works with: the device under check, raw requests, shared state, cleanup.

The checks send what a control point would refuse to send (unknown actions,
missing arguments, SID with NT …), so requests go out through the raw HTTP
client (:class:`~upnpcm.aio.http_client.LeanHttpClient`) with bodies built by
the core (:func:`~upnpcm.core.soap.build_action_request`); the device is
loaded once by the control point. Every request and every wait is bounded by
``CheckOptions.timeout``. What a check leaves behind on the device (a
connection, a subscription) is recorded in :class:`Cleanup` and undone when
the run ends, however it ends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

from upnpcm.aio.control_point import ControlPoint, RemoteDevice, RemoteService
from upnpcm.aio.http_client import HttpReply, LeanHttpClient
from upnpcm.check.catcher import Mode, NotifyCatcher
from upnpcm.check.registry import CheckFn, Finding, skipped
from upnpcm.core.connection_manager import CONNECTION_MANAGER_TYPE
from upnpcm.core.description import (
    MAX_DESCRIPTION_BYTES,
    DeviceDescription,
    parse_device_description,
)
from upnpcm.core.discovery import uda_version
from upnpcm.core.http import Headers
from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault
from upnpcm.core.xml import Element, parse_xml
from upnpcm.errors import RemoteProtocolError, TransportError, UPnPError

__all__ = [
    "CheckContext",
    "CheckOptions",
    "Cleanup",
    "Exchange",
    "ServiceCheck",
    "SoapExchange",
    "per_service",
]

#: How much of a value a row shows.
_SHOWN: Final = 60


def shorten(text: str, limit: int = _SHOWN) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    """How a run is done.

    ``timeout`` bounds every request and every wait (seconds). ``changes``
    False skips every step that changes the device's state (``--no-changes``).
    ``interfaces`` are the SSDP interfaces (names or addresses); with none the
    discovery suite is skipped. ``listen`` is how long to keep listening for
    announcements after the searches (restart the device meanwhile to check
    alive, byebye and BOOTID).
    """

    timeout: float = 30.0
    changes: bool = True
    interfaces: tuple[str, ...] = ()
    listen: float = 0.0
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One request and its answer (or why there was none)."""

    sent: str
    status: int | None = None
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    error: str | None = None
    seconds: float = 0.0

    @property
    def received(self) -> str:
        """The answer, in a few words."""
        if self.status is None:
            return self.error or "no answer"
        shown = [
            f"{n}: {shorten(v, 48)}" for n, v in self.headers if n.upper() in ("SID", "TIMEOUT")
        ]
        return f"HTTP {self.status}" + (f" ({', '.join(shown)})" if shown else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class SoapExchange:
    """One action call and what came back: out-arguments, a fault, or an error."""

    sent: str
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    out: tuple[tuple[str, str], ...] | None = None
    fault: UPnPError | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def received(self) -> str:
        """The answer, in a few words."""
        if self.error is not None:
            return self.error
        if self.fault is not None:
            text = f" {self.fault.description}" if self.fault.description else ""
            return f"HTTP {self.status}, UPnP error {self.fault.code}{text}"
        pairs = ", ".join(f"{n}={shorten(v, 40)!r}" for n, v in self.out or ())
        return shorten(f"HTTP {self.status} {pairs}".strip(), 160)

    @property
    def fault_code(self) -> int | None:
        """The UPnPError code, or None when the answer was no fault."""
        return self.fault.code if self.fault is not None else None


@dataclass(slots=True)
class Cleanup:
    """What the run left on the device: connections to complete, SIDs to unsubscribe."""

    connections: dict[tuple[str, int], RemoteService] = field(default_factory=dict)
    sids: dict[tuple[str, str], None] = field(default_factory=dict)

    def prepared(self, service: RemoteService, connection_id: int) -> None:
        """A connection the device made for us."""
        self.connections[(service.control_url, connection_id)] = service

    def completed(self, service: RemoteService, connection_id: int) -> None:
        """That connection is gone."""
        self.connections.pop((service.control_url, connection_id), None)

    def subscribed(self, event_url: str, sid: str) -> None:
        """A SID the device granted us."""
        self.sids[(event_url, sid)] = None

    def unsubscribed(self, event_url: str, sid: str) -> None:
        """That SID is gone."""
        self.sids.pop((event_url, sid), None)


def _argument_text(pairs: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={shorten(value, 40)}" for name, value in pairs)


class CheckContext:
    """The device under check and the means to talk to it (one per run)."""

    def __init__(
        self,
        location: str,
        options: CheckOptions,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.location = location
        self.options = options
        self.http = LeanHttpClient()
        self.cp = ControlPoint(http=self.http, timeout=options.timeout)
        self.cleanup = Cleanup()
        self._progress = progress or (lambda text: None)
        self._memo: dict[str, object] = {}
        self._catcher: NotifyCatcher | None = None
        self._device: RemoteDevice | None = None
        self._device_error: str | None = None
        self._loaded = False
        self._closers: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ general

    def progress(self, text: str) -> None:
        """Say what the run is doing (the progress line)."""
        self._progress(text)

    def memo(self, key: str) -> object | None:
        """Something a check computed for others (None: not yet)."""
        return self._memo.get(key)

    def remember(self, key: str, value: object) -> None:
        """Keep ``value`` for the checks that follow."""
        self._memo[key] = value

    @property
    def timeout(self) -> float:
        """The bound of every request and wait."""
        return self.options.timeout

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` when the run ends (a socket a suite opened)."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Stop the catcher and release the HTTP client (cleanup is the runner's job)."""
        for closer in self._closers:
            closer()
        self._closers.clear()
        if self._catcher is not None:
            await self._catcher.stop()
            self._catcher = None
        await self.cp.close()

    # --------------------------------------------------------------- requests

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        sent: str = "",
        max_bytes: int = MAX_DESCRIPTION_BYTES,
    ) -> Exchange:
        """One raw request, bounded by the timeout; never raises for the network."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        path = urlsplit(url).path or "/"
        what = sent or f"{method} {path}" + "".join(
            f" {name}: {shorten(value, 48)}" for name, value in (headers or {}).items()
        )
        try:
            reply: HttpReply = await self.http.request(
                method,
                url,
                headers=headers,
                body=body,
                timeout=self.options.timeout,
                max_bytes=max_bytes,
            )
        except TransportError as exc:
            return Exchange(sent=what, error=str(exc), seconds=loop.time() - started)
        except ValueError as exc:  # LocalProtocolError: not a usable URL
            return Exchange(sent=what, error=f"not a usable URL: {exc}", seconds=0.0)
        return Exchange(
            sent=what,
            status=reply.status,
            headers=reply.headers,
            body=reply.body,
            seconds=loop.time() - started,
        )

    async def soap(
        self,
        service: RemoteService,
        action: str,
        pairs: Sequence[tuple[str, str]],
        *,
        service_type: str | None = None,
    ) -> SoapExchange:
        """Call ``action`` with exactly these argument pairs (no SCPD checks)."""
        headers, body = build_action_request(
            service_type or service.service.service_type, action, list(pairs)
        )
        sent = f"{action}({_argument_text(pairs)})"
        exchange = await self.request(
            "POST", service.control_url, headers=headers, body=body, sent=sent
        )
        base = SoapExchange(
            sent=sent,
            status=exchange.status,
            content_type=exchange.headers.get("Content-Type"),
            body=exchange.body,
            seconds=exchange.seconds,
        )
        if exchange.status is None:
            return replace(base, error=exchange.error)
        if exchange.status == 200:
            try:
                out = parse_action_response(exchange.body, action)
            except UPnPError as fault:
                return replace(base, fault=fault)
            except RemoteProtocolError as exc:
                return replace(base, error=f"HTTP 200 that is no SOAP response ({exc})")
            return replace(base, out=tuple(out))
        try:
            return replace(base, fault=parse_fault(exchange.body))
        except RemoteProtocolError as exc:
            return replace(base, error=f"HTTP {exchange.status} without a UPnP fault ({exc})")

    # ----------------------------------------------------------- the device

    async def description_reply(self) -> Exchange:
        """GET of the description URL (once)."""
        found = self.memo("description-reply")
        if isinstance(found, Exchange):
            return found
        reply = await self.request("GET", self.location)
        self.remember("description-reply", reply)
        return reply

    async def description_root(self) -> tuple[Element | None, str]:
        """The description parsed by the one safe parser, or None and why."""
        reply = await self.description_reply()
        if reply.status != 200:
            return None, f"the description could not be fetched ({reply.received})"
        try:
            return parse_xml(reply.body, max_bytes=MAX_DESCRIPTION_BYTES, strip_padding=True), ""
        except RemoteProtocolError as exc:
            return None, f"the description is not usable XML ({exc})"

    async def description(self) -> tuple[DeviceDescription | None, str]:
        """The parsed description model, or None and why."""
        reply = await self.description_reply()
        if reply.status != 200:
            return None, f"the description could not be fetched ({reply.received})"
        try:
            return parse_device_description(reply.body), ""
        except RemoteProtocolError as exc:
            return None, f"the description is not a usable device description ({exc})"

    async def device(self) -> tuple[RemoteDevice | None, str]:
        """The device loaded by the control point (once), or None and why."""
        if not self._loaded:
            self._loaded = True
            try:
                self._device = await self.cp.load(self.location)
            except (TransportError, RemoteProtocolError, ValueError) as exc:
                self._device_error = f"the device could not be loaded ({exc})"
        return self._device, self._device_error or ""

    async def uda(self) -> tuple[int, int]:
        """The UDA version the device claims: the higher of its specVersion and SERVER token."""
        description, _ = await self.description()
        versions = [description.spec_version] if description is not None else [(1, 0)]
        server = (await self.description_reply()).headers.get("Server")
        for seen in (server, self.memo("ssdp-server")):
            version = uda_version(seen if isinstance(seen, str) else None)
            if version is not None:
                versions.append(version)
        return max(versions)

    async def services(self) -> list[RemoteService]:
        """Every service whose SCPD could be loaded."""
        device, _ = await self.device()
        return [s for s in device.services if s.scpd_error is None] if device else []

    async def connection_managers(self) -> list[RemoteService]:
        """Every ConnectionManager service (any version) with a usable SCPD."""
        prefix = CONNECTION_MANAGER_TYPE.rsplit(":", 1)[0] + ":"
        return [s for s in await self.services() if s.service.service_type.startswith(prefix)]

    async def evented_services(self) -> list[RemoteService]:
        """Every service with evented variables and an event URL."""
        return [
            s for s in await self.services() if s.scpd.evented_variables and s.service.event_sub_url
        ]

    # ----------------------------------------------------------- eventing

    async def device_ip(self) -> str:
        """The device's IP address (the description URL's host, resolved)."""
        host = urlsplit(self.location).hostname or "127.0.0.1"
        try:
            return str(ipaddress.ip_address(host.split("%", 1)[0]))
        except ValueError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return str(infos[0][4][0])

    async def catcher(self) -> tuple[NotifyCatcher, str]:
        """The NOTIFY catcher (started once) and the local address the device reaches it at."""
        from upnpcm.aio.events import local_address_for

        device_ip = await self.device_ip()
        callback_ip = local_address_for(device_ip)
        if self._catcher is None:
            catcher = NotifyCatcher()
            await catcher.start(["::" if ":" in callback_ip else "0.0.0.0"])  # noqa: S104 - any local address: the stranger check uses a second one
            self._catcher = catcher
        return self._catcher, callback_ip

    async def callback(self, mode: Mode = "ok") -> tuple[str, str]:
        """A fresh catcher path and its CALLBACK URL."""
        catcher, host = await self.catcher()
        path = catcher.path(mode)
        return path, catcher.url(host, path)

    async def subscribe(
        self, service: RemoteService, headers: dict[str, str], *, sent: str = ""
    ) -> Exchange:
        """A raw SUBSCRIBE; a granted SID is recorded for cleanup."""
        exchange = await self.request(
            "SUBSCRIBE", service.event_url, headers=headers, sent=sent, max_bytes=64 * 1024
        )
        sid = (exchange.headers.get("SID") or "").strip()
        if exchange.status == 200 and sid:
            self.cleanup.subscribed(service.event_url, sid)
        return exchange

    async def unsubscribe(self, service: RemoteService, sid: str) -> Exchange:
        """A raw UNSUBSCRIBE of ``sid``; the SID is forgotten when the device says 200 or 412."""
        exchange = await self.request(
            "UNSUBSCRIBE", service.event_url, headers={"SID": sid}, max_bytes=64 * 1024
        )
        if exchange.status in (200, 412):
            self.cleanup.unsubscribed(service.event_url, sid)
        return exchange

    async def undo(self) -> None:
        """Complete every connection and end every subscription this run made (bounded)."""
        for (_, connection_id), service in list(self.cleanup.connections.items()):
            self.progress(f"cleanup: ConnectionComplete({connection_id})")
            reply = await self.soap(
                service, "ConnectionComplete", [("ConnectionID", str(connection_id))]
            )
            if reply.out is not None or reply.fault_code == 706:
                self.cleanup.completed(service, connection_id)
        for event_url, sid in list(self.cleanup.sids):
            self.progress(f"cleanup: UNSUBSCRIBE {sid}")
            exchange = await self.request(
                "UNSUBSCRIBE", event_url, headers={"SID": sid}, max_bytes=64 * 1024
            )
            if exchange.status in (200, 412):
                self.cleanup.unsubscribed(event_url, sid)


ServiceCheck = Callable[[CheckContext, RemoteService], AsyncIterator[Finding]]


def per_service(
    services: Callable[[CheckContext], Awaitable[list[RemoteService]]], nothing: str
) -> Callable[[ServiceCheck], CheckFn]:
    """Make a check of a function of one service: it runs for each of ``services(ctx)``.

    With none, the check is one SKIP row saying why (the device's load error, or ``nothing``).
    """

    def wrap(one: ServiceCheck) -> CheckFn:
        async def run(ctx: CheckContext) -> AsyncIterator[Finding]:
            chosen = await services(ctx)
            if not chosen:
                _, why = await ctx.device()
                yield skipped("device", why or nothing)
            for service in chosen:
                async for finding in one(ctx, service):
                    yield finding

        run.__doc__ = one.__doc__
        return run

    return wrap
