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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Unpack

from upnpcm.aio.http_client import HttpClient, LeanHttpClient
from upnpcm.core.control import (
    ActionCaller,
    ControlPointCore,
    ControlPointSettings,
    LoadBudget,
    RemoteDevice,
    RemoteService,
    short_type,
    status_error,
)
from upnpcm.core.datatypes import UPnPValue
from upnpcm.core.description import ServiceDescription
from upnpcm.errors import LocalProtocolError, TransportError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ControlPoint", "RemoteDevice", "RemoteService", "short_type", "status_error"]


class ControlPoint(ControlPointCore):
    """Loads devices and calls actions; optionally on a caller's aiohttp session.

    Use as an async context manager (or call :meth:`close`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        http: HttpClient | None = None,
        **settings: Unpack[ControlPointSettings],
    ) -> None:
        """``settings``: those of :class:`~upnpcm.core.control.ControlPointCore`."""
        if http is not None:
            self.http: HttpClient = http
        elif session is not None:
            from upnpcm.aio.http_client import AiohttpHttpClient

            self.http = AiohttpHttpClient(session)
        else:
            self.http = LeanHttpClient()
        super().__init__(**settings)

    def _caller(self) -> ActionCaller:
        return self

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
        return self._document(url, reply)

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
        kept = self._recall(location, boot_id, config_id)
        if kept is not None:
            return kept
        description, urls, budget = self._read_description(location, await self._get(location))
        if with_scpds:
            fetched = await self._load_scpds(urls, budget)
        else:
            fetched = self._scpds_skipped(urls)
        return self._keep(location, boot_id, config_id, description, urls, fetched)

    async def _load_scpds(
        self, urls: list[str], budget: LoadBudget
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

    async def _load_scpd(
        self, url: str, budget: LoadBudget
    ) -> tuple[ServiceDescription, str | None]:
        """One SCPD, or an empty one and the reason it could not be had.

        Raises:
            RemoteProtocolError: the load's byte budget is spent (the one way out).
        """
        if budget.left <= 0:
            budget.exhausted(url)
        try:
            data = await self._get(url)
        except (TransportError, LocalProtocolError, ValueError) as exc:
            return self._scpd_missing(url, exc)
        return self._read_scpd(url, data, budget)

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
        action, headers, body = self._request_for(remote, action_name, arguments)
        reply = await self.http.request(
            "POST", remote.control_url, headers=headers, body=body, timeout=self.timeout
        )
        return self._result_of(remote, action, reply)
