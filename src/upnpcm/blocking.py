"""A blocking control point: load a device and call its actions without an event loop.

::

    from upnpcm.blocking import ControlPoint

    with ControlPoint() as cp:
        device = cp.load("http://192.0.2.7:1400/xml/device_description.xml")
        cm = device.service("MediaRenderer/ConnectionManager")
        print(cp.call(cm, "GetCurrentConnectionInfo", {"ConnectionID": 0}))

For scripts, a REPL and tests where asyncio is in the way, and for
``upnpcm call`` (no event loop to import and start: bench/RESULTS.md). It does
what :class:`upnpcm.aio.control_point.ControlPoint` does, with the same
arguments, limits, checks, errors and description cache — both run the steps
of :class:`upnpcm.core.control.ControlPointCore` — except that SCPDs are
fetched one after the other. Importing it imports no asyncio.

HTTP is :class:`BlockingHttpClient`: one connection per request, the bytes of
:func:`~upnpcm.core.http_reply.encode_request` out, the reply read by a
:class:`~upnpcm.core.http_reply.ReplyReader`; the same contract as the asyncio
clients (no redirects, body capped at ``max_bytes``, connect and total time
bounded, the same ``-D``/``-DDD`` log).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Final, Unpack

from upnpcm.core.control import (
    ActionCaller,
    ControlPointCore,
    ControlPointSettings,
    LoadBudget,
    RemoteDevice,
    RemoteService,
)
from upnpcm.core.datatypes import UPnPValue
from upnpcm.core.description import ServiceDescription
from upnpcm.core.http import format_host
from upnpcm.core.http_reply import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_HEAD,
    USER_AGENT,
    HttpReply,
    ReplyReader,
    connect_error,
    encode_request,
    split_url,
)
from upnpcm.errors import (
    LocalProtocolError,
    TransportError,
    UpnpTimeoutError,
)
from upnpcm.httplog import log_reply, log_request

__all__ = ["BlockingHttpClient", "ControlPoint"]

#: Bytes asked of the socket at a time.
_READ_SIZE: Final = 65536


class BlockingHttpClient:
    """One connection per request, llhttp for the reply; no pooling, no redirects.

    ``source_address`` is the local IP address requests are sent from (default:
    the one the kernel picks).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        user_agent: str = USER_AGENT,
        source_address: str | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.user_agent = user_agent
        self.source_address = source_address

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_head: int = DEFAULT_MAX_HEAD,
        head_only: bool = False,
    ) -> HttpReply:
        """Send one request and return the whole reply.

        The arguments and errors are those of
        :meth:`upnpcm.aio.http_client.LeanHttpClient.request`.

        Raises:
            LocalProtocolError: not a usable ``http://`` URL.
            ConnectError: the peer cannot be reached or hung up.
            UpnpTimeoutError: no connection within ``connect_timeout``, or
                over ``timeout`` seconds in all.
            TransportError: the reply is not HTTP, switches protocols (101)
                or is too large.
        """
        host, port, target = split_url(url)
        wire = encode_request(
            method, host, port, target, headers or {}, body, user_agent=self.user_agent
        )
        started = log_request(method, url, wire.partition(b"\r\n\r\n")[0].decode("latin-1"), body)
        deadline = time.monotonic() + timeout
        reader = ReplyReader(url, max_bytes=max_bytes, max_head=max_head, head_only=head_only)
        with self._connect(host, port, deadline) as sock:
            try:
                sock.settimeout(_left(deadline))
                sock.sendall(wire)
            except TimeoutError:
                raise _late(method, url, timeout) from None
            except OSError:
                pass  # the peer may have answered already (an early 413): read what it sent
            reply = self._read(sock, reader, deadline, method, url, timeout)
        log_reply(method, url, started, reply)
        return reply

    def close(self) -> None:
        """Nothing to release: every request had its own connection."""

    def _connect(self, host: str, port: int, deadline: float) -> socket.socket:
        """A connection to ``host``:``port`` within ``connect_timeout`` (and the deadline).

        Raises:
            UpnpTimeoutError: no connection in time.
            ConnectError: refused, unreachable, or any other socket error.
        """
        where = format_host(host, port)
        wait = min(self.connect_timeout, max(0.0, deadline - time.monotonic()))
        source = None if self.source_address is None else (self.source_address, 0)
        try:
            literal = _ip_family(host)
            if literal is None:  # a name: resolved, each address tried in turn
                return socket.create_connection((host, port), timeout=wait, source_address=source)
            sock = socket.socket(literal, socket.SOCK_STREAM)
            try:
                sock.settimeout(wait)
                if source is not None:
                    sock.bind(source)
                sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
            return sock
        except TimeoutError:  # an OSError too: this clause must come first
            raise UpnpTimeoutError(
                f"cannot connect to {where}: no answer within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise connect_error(host, port, exc) from exc

    @staticmethod
    def _read(
        sock: socket.socket,
        reader: ReplyReader,
        deadline: float,
        method: str,
        url: str,
        timeout: float,
    ) -> HttpReply:
        """Read until ``reader`` has the reply, the peer hangs up, or the deadline passes."""
        while True:
            try:
                sock.settimeout(_left(deadline))
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                raise _late(method, url, timeout) from None
            except OSError:
                data = b""  # reset by the peer: what was read is all there is
            if not data:
                return reader.eof()
            reply = reader.feed(data)
            if reply is not None:
                return reply


def _ip_family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal (no resolver needed), None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; a timeout error if none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _late(method: str, url: str, timeout: float) -> UpnpTimeoutError:
    return UpnpTimeoutError(f"{method} {url}: no complete reply within {timeout:g} s")


class ControlPoint(ControlPointCore):
    """Loads devices and calls actions, blocking; use as a context manager (or not).

    The arguments are those of :class:`upnpcm.aio.control_point.ControlPoint`
    (an aiohttp session aside); ``http`` is a :class:`BlockingHttpClient`.
    """

    def __init__(
        self,
        *,
        http: BlockingHttpClient | None = None,
        **settings: Unpack[ControlPointSettings],
    ) -> None:
        """``settings``: those of :class:`~upnpcm.core.control.ControlPointCore`.

        ``scpd_concurrency`` is accepted and has no effect: SCPDs are fetched
        one at a time.
        """
        self.http = http if http is not None else BlockingHttpClient()
        super().__init__(**settings)

    def _caller(self) -> ActionCaller:
        return self

    def __enter__(self) -> ControlPoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP client."""
        self.http.close()

    def _get(self, url: str) -> bytes:
        reply = self.http.request(
            "GET", url, timeout=self.timeout, max_bytes=self.max_description_bytes
        )
        return self._document(url, reply)

    def load(
        self,
        location: str,
        *,
        boot_id: int | None = None,
        config_id: int | None = None,
        with_scpds: bool = True,
    ) -> RemoteDevice:
        """Fetch and parse a device description and every SCPD it lists.

        As :meth:`upnpcm.aio.control_point.ControlPoint.load` (the same
        arguments, cache and errors), the SCPDs fetched one at a time.
        """
        kept = self._recall(location, boot_id, config_id)
        if kept is not None:
            return kept
        description, urls, budget = self._read_description(location, self._get(location))
        if with_scpds:
            fetched = [self._load_scpd(url, budget) for url in urls]
        else:
            fetched = self._scpds_skipped(urls)
        return self._keep(location, boot_id, config_id, description, urls, fetched)

    def _load_scpd(self, url: str, budget: LoadBudget) -> tuple[ServiceDescription, str | None]:
        """One SCPD, or an empty one and the reason it could not be had.

        Raises:
            RemoteProtocolError: the load's byte budget is spent (the one way out).
        """
        if budget.left <= 0:
            budget.exhausted(url)
        try:
            data = self._get(url)
        except (TransportError, LocalProtocolError, ValueError) as exc:
            return self._scpd_missing(url, exc)
        return self._read_scpd(url, data, budget)

    def call(
        self,
        remote: RemoteService,
        action_name: str,
        arguments: Mapping[str, object] | None = None,
    ) -> dict[str, UPnPValue]:
        """Call ``action_name`` of ``remote`` with ``arguments`` (by name); the out-arguments.

        As :meth:`upnpcm.aio.control_point.RemoteService.call` (the same checks
        and errors). ``await remote.call(...)`` works too, and blocks.
        """
        action, headers, body = self._request_for(remote, action_name, arguments or {})
        reply = self.http.request(
            "POST", remote.control_url, headers=headers, body=body, timeout=self.timeout
        )
        return self._result_of(remote, action, reply)
