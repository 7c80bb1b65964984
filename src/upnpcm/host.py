"""Run a hosted device: HTTP (description, SOAP, GENA) and SSDP.

::

    async with DeviceHost(DeviceSettings(port=0), state_dir=tmp) as host:
        print(host.description_url("127.0.0.1"))
        host.set_protocol_info("renderer", sink="http-get:*:audio/flac:*")

    async with DeviceHost(Device(device_type=..., services=[MyService()]), settings=...) as host:
        ...

A device of one's own (:class:`~upnpcm.hosting.Device`) is hosted the same
way; its services are started before the first request, stopped after the
last, and changes they make outside a request are delivered on the next turn
of the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace
from pathlib import Path
from typing import Final

from upnpcm.aio.http_server import HttpLimits
from upnpcm.aio.notifier import NotifyFaults
from upnpcm.aio.server import DeviceServer
from upnpcm.aio.ssdp import Interface, SsdpServer, reachable_addresses, resolve_interfaces
from upnpcm.core.activity import ActivityLog
from upnpcm.core.connection_manager import ConnectionManager
from upnpcm.core.delivery import DeliveryPolicy
from upnpcm.core.device import DeviceCore, DeviceLimits, Page, Resource
from upnpcm.core.http import normalise_ip
from upnpcm.core.ssdp import SsdpConfig
from upnpcm.hosting import Device, device_spec
from upnpcm.profiles import DeviceSpec, build_device_spec
from upnpcm.service import Service
from upnpcm.settings import DeviceSettings
from upnpcm.state import StateStore
from upnpcm.status import CONTENT_SECURITY_POLICY, MEDIA_TYPES, StatusPage

__all__ = ["DeviceHost"]

_LOG: Final = logging.getLogger("upnpcm.host")


def _served(interfaces: list[Interface], hosts: tuple[str, ...]) -> list[Interface]:
    """The interface addresses HTTP also listens on: every LOCATION advertised must answer.

    Raises:
        ValueError: none of them is served (``--interface`` and ``--host`` disagree).
    """
    if not hosts:
        return interfaces
    served = {normalise_ip(h) for h in hosts if h not in ("0.0.0.0", "::")}  # noqa: S104
    kept = [
        i
        for i in interfaces
        if normalise_ip(i.ip) in served
        or ("0.0.0.0" in hosts and i.family == socket.AF_INET)  # noqa: S104
        or ("::" in hosts and i.family == socket.AF_INET6)
    ]
    if not kept:
        where = ", ".join(i.ip for i in interfaces)
        raise ValueError(
            f"SSDP would advertise {where}, but HTTP listens only on {', '.join(hosts)}: "
            "choose an --interface that holds one of the --host addresses"
        )
    return kept


class DeviceHost:
    """A device built from settings, a :class:`~upnpcm.hosting.Device`, or a ready spec, served.

    ``DeviceHost(device, settings=DeviceSettings(...))`` hosts a device of
    one's own; the settings then give only the network side (addresses,
    port, SSDP, GENA and HTTP limits, action timeout). The HTTP connection
    caps and timeouts come from ``settings.http`` (the ``[http]`` table);
    ``http_limits`` replaces all of them (and the sizes) at once
    (:class:`~upnpcm.aio.http_server.HttpLimits`; rules B1-B4 by default).
    """

    def __init__(
        self,
        device: DeviceSettings | Device | None = None,
        *,
        settings: DeviceSettings | None = None,
        state_dir: Path | str | None = None,
        spec: DeviceSpec | None = None,
        http_limits: HttpLimits | None = None,
    ) -> None:
        if isinstance(device, DeviceSettings):  # DeviceHost(settings): a profile's device
            settings, device = device, None
        self.settings = settings or DeviceSettings()
        self.store = StateStore(state_dir)
        #: The device of one's own being hosted (None for a profile's).
        self.device = device
        if spec is None and device is not None:
            spec = device_spec(device, self.settings, self.store)
        self.spec = spec or build_device_spec(self.settings, self.store)
        #: The hosted services built with the public API, in description order.
        self.services: tuple[Service, ...] = tuple(
            hosted.handler for hosted in self.spec.services if isinstance(hosted.handler, Service)
        )
        self._flush_scheduled = False
        self.ssdp: SsdpServer | None = None
        #: BOOTID.UPNP.ORG of the current boot (taken from the state directory at every start).
        self.boot_id: int | None = None
        resources: dict[str, Resource | Page] = dict(self.spec.resources)
        #: ``/status`` (None with ``status_page`` off).
        self.status: StatusPage | None = None
        if self.settings.status_page:
            own = self.spec.resources.get("/status")  # a profile's own text (Sonos) stays
            self.status = StatusPage(
                self.spec, text=None if own is None else own.body, boot_id=lambda: self.boot_id
            )
            resources["/status"] = Page(
                media_types=MEDIA_TYPES,
                render=self.status.render,
                headers=(
                    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                    ("X-Content-Type-Options", "nosniff"),
                ),
            )
        self.core = DeviceCore(
            self.spec.description,
            self.spec.services,
            description_path=self.spec.description_path,
            description_xml=self.spec.description_xml,
            resources=resources,
            activity=ActivityLog() if self.status is not None else None,
            limits=DeviceLimits(
                allowed_hosts=frozenset(self.settings.allowed_hosts),
                action_timeout=self.settings.action_timeout,
            ),
            gena_policy=self.spec.gena_policy,
            delivery=DeliveryPolicy(
                min_interval=self.settings.gena.min_interval,
                initial_retry=self.spec.initial_event_retry,
            ),
            server_header=self.spec.server_header,
            gena_headers=self.spec.gena_headers,
        )
        port = self.settings.port if self.settings.port is not None else self.spec.default_port
        hosts = self.settings.host or None
        if http_limits is None:
            http_limits = replace(
                HttpLimits(max_body=self.core.limits.max_body), **self.settings.http.overrides()
            )
        if self.status is not None:
            self.status.attach(self.core)
        self.server = DeviceServer(
            self.core,
            host=hosts,
            port=port,
            limits=http_limits,
        )
        #: Whether the device is serving (False before start, after stop, while offline).
        self.online = False

    async def start(self) -> None:
        """Start the services, then serve HTTP, then SSDP (when enabled).

        Raises:
            OSError: a port or interface could not be used.
            ValueError: an ``interfaces`` selector matches nothing.
        """
        for service in self.services:
            service.attach(self._wake)
            await service.on_start()
        try:
            await self._come_up()
        except BaseException:
            await self._stop_services()
            raise

    async def _come_up(self) -> None:
        """Serve HTTP, then SSDP (when enabled), with the next BOOTID."""
        await self.server.start()
        self.boot_id = self.store.next_boot_id()
        self.online = True
        _LOG.info("serving %s on port %d", self.spec.profile, self.server.port)
        if self.status is not None:
            self.status.started(asyncio.get_running_loop().time())
        if self.spec.on_up is not None:
            self.spec.on_up(self)
        if self.settings.ssdp:
            try:
                await self._start_ssdp()
            except BaseException:
                # SsdpServer.start closed the sockets it had opened; forget it.
                self.ssdp = None
                self.online = False
                await self.server.stop()
                raise

    async def _go_down(self, *, byebye: bool) -> None:
        """Stop SSDP (with or without byebye) and HTTP; the services keep their state."""
        self.online = False
        if self.server.requested_port == 0 and self.server.addresses:
            self.server.requested_port = self.server.port  # it comes back where it was
        if self.ssdp is not None:
            if byebye:
                await self.ssdp.stop()
            else:
                self.ssdp.close()
            self.ssdp = None
        await self.server.stop()

    async def reboot(self, *, port: int | None = None, downtime: float = 0.0) -> None:
        """Restart as a device does (rule T5): byebye, every subscription forgotten, BOOTID +1, alive.

        The services keep their state; renewals of the old subscriptions get
        412 (G3). ``port`` serves on another port from now on; ``downtime``
        seconds pass between going down and coming back.
        """
        await self._go_down(byebye=True)
        self.core.forget_subscriptions()
        if port is not None:
            self.server.requested_port = port
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self._come_up()

    async def go_offline(self, *, byebye: bool = False) -> None:
        """Leave the network (a pulled cable: no byebye unless asked); subscriptions are kept."""
        if self.online:
            await self._go_down(byebye=byebye)

    async def go_online(self, *, port: int | None = None) -> None:
        """Come back (on ``port`` if given) with the next BOOTID, as a device rejoining does."""
        if port is not None:
            self.server.requested_port = port
        if not self.online:
            await self._come_up()

    @property
    def notify_faults(self) -> NotifyFaults:
        """Injected NOTIFY faults (``delay``, ``fail``), applied to every delivery from now on."""
        return self.server.notifier.faults

    async def _start_ssdp(self) -> None:
        selectors = self.settings.interfaces or tuple(
            h
            for h in self.settings.host
            if h not in ("0.0.0.0", "::")  # noqa: S104
        )
        interfaces = _served(resolve_interfaces(selectors), self.settings.host)
        assert self.boot_id is not None  # taken by _come_up
        config = SsdpConfig(
            server=self.spec.server_header,
            boot_id=self.boot_id,
            config_id=self.spec.config_id if self.spec.ssdp_config_id else None,
            max_age=self.spec.max_age,
            cache_control=self.spec.cache_control,
            headers=self.spec.ssdp_headers,
        )
        self.ssdp = SsdpServer(
            self.spec.description.device,
            config,
            http_port=self.server.port,
            description_path=self.spec.description_path,
            interfaces=interfaces,
        )
        await self.ssdp.start()
        _LOG.info("SSDP on %s, BOOTID %d", ", ".join(i.ip for i in interfaces), self.boot_id)

    async def stop(self) -> None:
        """Say byebye (SSDP), stop serving (subscriptions end; NOTIFYs are cancelled), stop the services."""
        await self._go_down(byebye=True)
        await self._stop_services()

    async def _stop_services(self) -> None:
        for service in self.services:
            service.attach(None)
        for service in reversed(self.services):
            try:
                await service.on_stop()
            except Exception:
                _LOG.exception("%s failed to stop", type(service).__name__)

    def _wake(self) -> None:
        """A service changed outside a request: deliver on the next turn of the loop."""
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.server.flush_events()

    def service(self, name: str) -> Service:
        """The hosted service whose type, ID or URL name is ``name`` (first match).

        Raises:
            KeyError: no such service.
        """
        for service in self.services:
            if name in (service.service_type, service.service_id, service.name):
                return service
        raise KeyError(f"no hosted service {name!r}")

    async def __aenter__(self) -> DeviceHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound HTTP port."""
        return self.server.port

    def description_url(self, ip: str) -> str:
        """The LOCATION of the root description as reached at ``ip``."""
        return self.server.url(ip, self.spec.description_path)

    def description_urls(self) -> list[str]:
        """The description's URL at every address the server can be reached on."""
        bound = [ip for ip, _ in self.server.addresses]
        return [self.description_url(ip) for ip in reachable_addresses(bound)]

    def connection_manager(self, role: str) -> ConnectionManager:
        """The ConnectionManager of ``"renderer"`` or ``"server"``.

        Raises:
            KeyError: that role is not hosted.
        """
        return self.spec.connection_managers[role]

    def set_protocol_info(
        self, role: str, *, source: str | None = None, sink: str | None = None
    ) -> None:
        """Change a ConnectionManager's lists at run time; subscribers get the change."""
        self.connection_manager(role).set_protocol_info(source=source, sink=sink)
        self.server.flush_events()
