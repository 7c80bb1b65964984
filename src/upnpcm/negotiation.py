"""Connection negotiation between a media server and a renderer (ConnectionManager:1 §2.4; rules P1-P3).

:func:`negotiate` reads the server's Source list and the renderer's Sink list,
picks the best compatible pair (:func:`~upnpcm.core.protocol_info.best_pairs`,
optionally limited to a MIME type or protocol), then prepares both ends:

1. the server, ``Direction=Output``, ``PeerConnectionManager`` = the
   renderer's ``<UDN>/<serviceId>``, ``PeerConnectionID`` -1 (not known yet);
2. the renderer, ``Direction=Input``, the server's ``<UDN>/<serviceId>`` and the
   ConnectionID the server just gave.

Both get the chosen *source* entry as ``RemoteProtocolInfo`` (the format that
will actually flow). A side that does not offer PrepareForConnection (absent
from its SCPD, or answering 401, as Sonos and many TVs do) falls back to the
implicit connection 0, and the result says so. A side that refuses (701, 702,
704, …) stops the negotiation: what was already prepared is torn down with
ConnectionComplete, and :class:`NegotiationError` says which side refused and
why. Any other failure while preparing the renderer (network error, timeout,
an answer that is not SOAP, cancellation) also tears the server's connection
down (best effort, within :data:`TEARDOWN_TIMEOUT` seconds) before the error
goes on; our own errors then name the server's ConnectionID.
:func:`disconnect` calls ConnectionComplete on both sides.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final, Literal

from upnpcm.aio.control_point import RemoteService
from upnpcm.core.http import decimal
from upnpcm.core.protocol_info import Pair, ProtocolInfo, best_pairs, canonical_mime, parse_list
from upnpcm.errors import (
    ConnectError,
    RemoteProtocolError,
    TransportError,
    UpnpCmError,
    UPnPError,
    UpnpTimeoutError,
)

__all__ = ["TEARDOWN_TIMEOUT", "Negotiation", "NegotiationError", "Side", "disconnect", "negotiate"]

Role = Literal["server", "renderer"]

#: Longest wait for the best-effort ConnectionComplete after a failed negotiation.
TEARDOWN_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One end of a negotiated connection."""

    role: Role
    device: str
    service: str
    peer_connection_manager: str
    connection_id: int
    av_transport_id: int = -1
    rcs_id: int = -1
    prepared: bool = True
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON shape the CLI prints."""
        out: dict[str, Any] = {
            "device": self.device,
            "service": self.service,
            "peerConnectionManager": self.peer_connection_manager,
            "connectionId": self.connection_id,
            "avTransportId": self.av_transport_id,
            "rcsId": self.rcs_id,
            "prepared": self.prepared,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiation:
    """A connection set up on both sides."""

    protocol_info: str
    pair: Pair
    server: Side
    renderer: Side
    candidates: int

    def as_json(self) -> dict[str, Any]:
        """The JSON shape the CLI prints."""
        return {
            "protocolInfo": self.protocol_info,
            "source": str(self.pair.source),
            "sink": str(self.pair.sink),
            "score": self.pair.score,
            "candidates": self.candidates,
            "server": self.server.as_json(),
            "renderer": self.renderer.as_json(),
        }


class NegotiationError(UpnpCmError):
    """A side refused (or nothing matched); what was set up has been torn down."""

    def __init__(
        self,
        message: str,
        *,
        side: Role | None,
        code: int | None,
        description: str | None,
        torn_down: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.side = side
        self.code = code
        self.description = description
        self.torn_down = torn_down or []

    def as_json(self) -> dict[str, Any]:
        """The JSON shape the CLI prints."""
        return {
            "error": str(self),
            "side": self.side,
            "code": self.code,
            "description": self.description,
            "tornDown": self.torn_down,
        }


def _offers(service: RemoteService, action: str) -> bool:
    return service.scpd.action(action) is not None


async def _prepare(
    role: Role,
    service: RemoteService,
    protocol_info: str,
    peer: RemoteService,
    peer_connection_id: int,
) -> Side:
    direction = "Output" if role == "server" else "Input"

    def side(connection_id: int, **extra: Any) -> Side:
        return Side(
            role=role,
            device=service.device.udn,
            service=service.qualified_name,
            peer_connection_manager=peer.peer_id,
            connection_id=connection_id,
            **extra,
        )

    if not _offers(service, "PrepareForConnection"):
        return side(0, prepared=False, note="PrepareForConnection is not offered: connection 0")
    try:
        result = await service.call(
            "PrepareForConnection",
            RemoteProtocolInfo=protocol_info,
            PeerConnectionManager=peer.peer_id,
            PeerConnectionID=peer_connection_id,
            Direction=direction,
        )
    except UPnPError as exc:
        if exc.code in (401, 602):
            return side(
                0, prepared=False, note=f"PrepareForConnection answered {exc.code}: connection 0"
            )
        raise
    connection_id = _int(result.get("ConnectionID"), 0)
    return side(
        connection_id,
        av_transport_id=_int(result.get("AVTransportID"), -1),
        rcs_id=_int(result.get("RcsID"), -1),
        note="the device answered ConnectionID 0" if connection_id == 0 else None,
    )


def _int(value: object, default: int) -> int:
    """An out-argument as an integer: already one (typed by the SCPD), else its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return decimal(str(value).strip(), default=default, signed=True)


async def _complete(service: RemoteService, connection_id: int) -> dict[str, Any]:
    outcome: dict[str, Any] = {"service": service.qualified_name, "connectionId": connection_id}
    if connection_id == 0:
        outcome["skipped"] = "connection 0 is implicit: nothing to complete"
    elif not _offers(service, "ConnectionComplete"):
        outcome["skipped"] = "ConnectionComplete is not offered"
    else:
        try:
            await service.call("ConnectionComplete", ConnectionID=connection_id)
            outcome["completed"] = True
        except UPnPError as exc:
            outcome["completed"] = False
            outcome["error"] = {"code": exc.code, "description": exc.description}
    return outcome


async def _tear_down(service: RemoteService, connection_id: int) -> dict[str, Any]:
    """Best-effort :func:`_complete`: bounded, and any failure is reported, not raised."""
    try:
        async with asyncio.timeout(TEARDOWN_TIMEOUT):
            return await _complete(service, connection_id)
    except (UpnpCmError, TimeoutError) as exc:
        return {
            "service": service.qualified_name,
            "connectionId": connection_id,
            "completed": False,
            "error": {"code": None, "description": str(exc) or type(exc).__name__},
        }


def _with_connection(exc: BaseException, note: str) -> BaseException | None:
    """``exc`` again with ``note`` appended to its message, when its type allows; else None."""
    for kind in (UpnpTimeoutError, ConnectError, TransportError):
        if type(exc) is kind:
            return kind(f"{exc} ({note})")
    if type(exc) is RemoteProtocolError:
        return RemoteProtocolError(f"{exc} ({note})", status_hint=exc.status_hint)
    return None


async def negotiate(
    server: RemoteService,
    renderer: RemoteService,
    *,
    mime: str | None = None,
    protocol: str | None = None,
) -> Negotiation:
    """Choose the best protocolInfo pair and prepare both sides (module docstring).

    Raises:
        NegotiationError: nothing compatible, or a side refused (with its code).
        TransportError, RemoteProtocolError: a device could not be asked. If
            that was the renderer, the server's connection has been torn
            down first and the message names its ConnectionID.
    """
    source_text = (await server.call("GetProtocolInfo")).get("Source", "")
    sink_text = (await renderer.call("GetProtocolInfo")).get("Sink", "")
    sources = parse_list(str(source_text)).entries
    sinks = parse_list(str(sink_text)).entries
    if mime is not None:
        sources = tuple(s for s in sources if _mime_ok(s, mime))
    if protocol is not None:
        sources = tuple(s for s in sources if s.protocol.lower() == protocol.lower())
    pairs = best_pairs(sources, sinks)
    if not pairs:
        limits = " ".join(
            x
            for x in (f"mime={mime}" if mime else "", f"protocol={protocol}" if protocol else "")
            if x
        )
        raise NegotiationError(
            f"no entry of the server's Source list ({len(sources)} considered{', ' + limits if limits else ''}) "
            f"matches the renderer's Sink list ({len(sinks)} entries)",
            side=None,
            code=701,
            description="Incompatible protocol info",
        )
    chosen = pairs[0]
    protocol_info = str(chosen.source)
    try:
        server_side = await _prepare("server", server, protocol_info, renderer, -1)
    except UPnPError as exc:
        raise NegotiationError(
            f"the server refused PrepareForConnection: {exc}",
            side="server",
            code=exc.code,
            description=exc.description,
        ) from exc
    try:
        renderer_side = await _prepare(
            "renderer", renderer, protocol_info, server, server_side.connection_id
        )
    except UPnPError as exc:
        torn = [await _tear_down(server, server_side.connection_id)] if server_side.prepared else []
        raise NegotiationError(
            f"the renderer refused PrepareForConnection: {exc}",
            side="renderer",
            code=exc.code,
            description=exc.description,
            torn_down=torn,
        ) from exc
    except BaseException as exc:  # network, garbage, cancellation: still undo the server side
        if not server_side.prepared:
            raise
        outcome = await _tear_down(server, server_side.connection_id)
        done = "torn down" if outcome.get("completed") else "could not be torn down"
        note = f"the server's connection {server_side.connection_id} {done}"
        again = _with_connection(exc, note)
        if again is None:
            raise
        raise again from exc
    return Negotiation(
        protocol_info=protocol_info,
        pair=chosen,
        server=server_side,
        renderer=renderer_side,
        candidates=len(pairs),
    )


def _mime_ok(entry: ProtocolInfo, mime: str) -> bool:
    if entry.content_format.strip() == "*":
        return True
    return entry.mime.canonical == canonical_mime(mime.split(";", 1)[0])


async def disconnect(
    server: RemoteService, server_connection: int, renderer: RemoteService, renderer_connection: int
) -> dict[str, Any]:
    """ConnectionComplete on both sides (renderer first); each side's outcome."""
    return {
        "renderer": await _complete(renderer, renderer_connection),
        "server": await _complete(server, server_connection),
    }
