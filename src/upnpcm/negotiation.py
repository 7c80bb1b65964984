"""Connection negotiation between a media server and a renderer (ConnectionManager:1 §2.4; rules P1-P3).

:func:`negotiate` reads the server's Source list and the renderer's Sink list,
picks the best compatible pair (:func:`~upnpcm.core.protocol_info.best_pairs`,
optionally limited to a MIME type or protocol), then prepares both ends:

1. the server, ``Direction=Output``, ``PeerConnectionManager`` = the
   renderer's ``<UDN>/<serviceId>``, ``PeerConnectionID`` -1 (not known yet);
2. the renderer, ``Direction=Input``, the server's ``<UDN>/<serviceId>`` and the
   ConnectionID the server just gave.

Both get the chosen *source* entry as ``RemoteProtocolInfo`` (the format that
will actually flow). Given an ``item`` (a DIDL-Lite object from the server),
its own ``res@protocolInfo`` values are ranked against the Sink list instead
(rules F1, F2) and the chosen one is sent; without, a *format* is picked from
the Source list, audio and video before image profiles and raw PCM (rule F3),
and the result says it is a format, not an item. A side that does not offer
PrepareForConnection (absent from its SCPD, or answering 401 or 602, as Sonos
and many TVs do) falls back to the implicit connection 0, and the result says
so; its AVTransportID and RcsID are then what GetCurrentConnectionInfo(0)
answers, or 0 where it cannot be asked and the device hosts AVTransport /
RenderingControl (CM:1: connection 0 of a renderer uses instance 0), else -1. A side that refuses (701, 702,
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
from upnpcm.core.content import ResourceChoice, rank_pairs, rank_resources
from upnpcm.core.datatypes import as_int
from upnpcm.core.didl import DidlObject, Resource
from upnpcm.core.protocol_info import Pair, ProtocolInfo, best_pairs, canonical_mime, parse_list
from upnpcm.errors import (
    ConnectError,
    NegotiationError,
    RemoteProtocolError,
    TransportError,
    UpnpCmError,
    UPnPError,
    UpnpTimeoutError,
)

__all__ = [
    "TEARDOWN_TIMEOUT",
    "Negotiation",
    "NegotiationError",
    "Side",
    "choose_resource",
    "complete",
    "connect",
    "disconnect",
    "negotiate",
    "sink_list",
]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiation:
    """A connection set up on both sides."""

    protocol_info: str
    pair: Pair
    server: Side
    renderer: Side
    candidates: int
    #: ``item``: the protocolInfo is a res of an item; ``format``: an entry of the Source list.
    basis: Literal["item", "format"] = "format"
    resource: Resource | None = None
    note: str | None = None


def _offers(service: RemoteService, action: str) -> bool:
    return service.scpd.action(action) is not None


async def _connection_zero(service: RemoteService) -> tuple[int, int]:
    """AVTransportID and RcsID of connection 0: asked where possible, else what the device hosts."""
    if _offers(service, "GetCurrentConnectionInfo"):
        try:
            info = await service.call("GetCurrentConnectionInfo", ConnectionID=0)
            return (
                as_int(info.get("AVTransportID"), default=-1),
                as_int(info.get("RcsID"), default=-1),
            )
        except UPnPError:
            pass  # Sonos faults for connection 0: judge by the services below
    hosted = {svc.service_type.split(":")[-2] for svc in service.device.services}
    return (
        0 if "AVTransport" in hosted else -1,
        0 if "RenderingControl" in hosted else -1,
    )


async def _prepare(
    role: Role,
    service: RemoteService,
    protocol_info: str,
    peer: RemoteService | None,
    peer_connection_id: int,
) -> Side:
    direction = "Output" if role == "server" else "Input"

    def side(connection_id: int, **extra: Any) -> Side:
        return Side(
            role=role,
            device=service.device.udn,
            service=service.qualified_name,
            peer_connection_manager=peer.peer_id if peer is not None else "",
            connection_id=connection_id,
            **extra,
        )

    if not _offers(service, "PrepareForConnection"):
        av_transport, rcs = await _connection_zero(service)
        return side(
            0,
            av_transport_id=av_transport,
            rcs_id=rcs,
            prepared=False,
            note="PrepareForConnection is not offered: connection 0",
        )
    try:
        result = await service.call(
            "PrepareForConnection",
            RemoteProtocolInfo=protocol_info,
            PeerConnectionManager=peer.peer_id if peer is not None else "",
            PeerConnectionID=peer_connection_id,
            Direction=direction,
        )
    except UPnPError as exc:
        if exc.code in (401, 602):
            av_transport, rcs = await _connection_zero(service)
            return side(
                0,
                av_transport_id=av_transport,
                rcs_id=rcs,
                prepared=False,
                note=f"PrepareForConnection answered {exc.code}: connection 0",
            )
        raise
    connection_id = as_int(result.get("ConnectionID"), default=0)
    return side(
        connection_id,
        av_transport_id=as_int(result.get("AVTransportID"), default=-1),
        rcs_id=as_int(result.get("RcsID"), default=-1),
        note="the device answered ConnectionID 0" if connection_id == 0 else None,
    )


async def complete(service: RemoteService, connection_id: int) -> dict[str, Any]:
    """ConnectionComplete for ``connection_id`` (0 and absent actions skipped), bounded; its outcome."""
    return await _tear_down(service, connection_id)


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
        return RemoteProtocolError(f"{exc} ({note})", http_status=exc.http_status)
    return None


async def negotiate(
    server: RemoteService,
    renderer: RemoteService,
    *,
    mime: str | None = None,
    protocol: str | None = None,
    item: DidlObject | None = None,
) -> Negotiation:
    """Choose the protocolInfo (of ``item``, or a Source-list format) and prepare both sides.

    Raises:
        NegotiationError: nothing compatible, or a side refused (with its code).
        TransportError, RemoteProtocolError: a device could not be asked. If
            that was the renderer, the server's connection has been torn
            down first and the message names its ConnectionID.
    """
    resource: Resource | None = None
    if item is not None:
        sinks = await sink_list(renderer)
        ranked = [c for c in rank_resources(item.resources, sinks) if _within(c, mime, protocol)]
        chosen_res = choose_resource(item, ranked, sinks)
        assert chosen_res.sink is not None and chosen_res.resource.info is not None
        resource = chosen_res.resource
        chosen = Pair(source=chosen_res.resource.info, sink=chosen_res.sink, score=chosen_res.score)
        candidates = sum(1 for c in ranked if c.playable)
        note = f"the res of item {item.id!r} ({item.title}) the renderer ranks best"
    else:
        pairs = await _candidates(server, renderer, mime=mime, protocol=protocol)
        chosen, candidates = pairs[0], len(pairs)
        note = (
            "picked a format from the server's Source list, not an item: "
            "pass an item to send its own res@protocolInfo"
        )
    server_side, renderer_side = await connect(server, renderer, str(chosen.source))
    return Negotiation(
        protocol_info=str(chosen.source),
        pair=chosen,
        server=server_side,
        renderer=renderer_side,
        candidates=candidates,
        basis="item" if item is not None else "format",
        resource=resource,
        note=note,
    )


def _within(choice: ResourceChoice, mime: str | None, protocol: str | None) -> bool:
    info = choice.resource.info
    if info is None:
        return mime is None and protocol is None
    if mime is not None and not _mime_ok(info, mime):
        return False
    return protocol is None or info.protocol.lower() == protocol.lower()


async def sink_list(renderer: RemoteService) -> tuple[ProtocolInfo, ...]:
    """The renderer's Sink list (GetProtocolInfo)."""
    return parse_list(str((await renderer.call("GetProtocolInfo")).get("Sink", ""))).entries


def choose_resource(
    item: DidlObject, ranked: list[ResourceChoice], sinks: tuple[ProtocolInfo, ...]
) -> ResourceChoice:
    """The best playable res of ``ranked`` (from :func:`rank_resources`).

    Raises:
        NegotiationError: 701, no res is playable; the message names the Sink
            entries closest to each res.
    """
    if ranked and ranked[0].playable:
        return ranked[0]
    from upnpcm.core.content import closest_sinks

    lines = []
    for choice in ranked:
        info = choice.resource.info
        if info is None:
            lines.append(f"{choice.resource.protocol_info} ({choice.reasons[0]})")
            continue
        near = "; ".join(
            f"{sink} ({', '.join(reasons)})" for sink, reasons in closest_sinks(info, sinks)
        )
        lines.append(f"{info} — closest Sink entries: {near or 'none'}")
    what = "\n  ".join(lines) or "the item has no res"
    raise NegotiationError(
        f"the renderer takes none of the formats of {item.title!r}:\n  {what}",
        side=None,
        code=701,
        description="Incompatible protocol info",
    )


async def connect(
    server: RemoteService | None, renderer: RemoteService, protocol_info: str
) -> tuple[Side, Side]:
    """PrepareForConnection on the server (if any), then the renderer, with ``protocol_info``.

    Raises:
        NegotiationError: a side refused; what was prepared has been torn down.
        TransportError, RemoteProtocolError: as :func:`negotiate`.
    """
    if server is None:
        server_side = Side(
            role="server",
            device="",
            service="",
            peer_connection_manager=renderer.peer_id,
            connection_id=-1,
            prepared=False,
            note="no server: a plain URL",
        )
    else:
        try:
            server_side = await _prepare("server", server, protocol_info, renderer, -1)
        except UPnPError as exc:
            raise NegotiationError(
                f"the server refused PrepareForConnection: {exc}",
                side="server",
                code=exc.code,
                description=exc.description,
            ) from exc
    peer_id = server_side.connection_id if server is not None else -1
    try:
        renderer_side = await _prepare("renderer", renderer, protocol_info, server, peer_id)
    except UPnPError as exc:
        torn = (
            [await _tear_down(server, server_side.connection_id)]
            if server is not None and server_side.prepared
            else []
        )
        raise NegotiationError(
            f"the renderer refused PrepareForConnection: {exc}",
            side="renderer",
            code=exc.code,
            description=exc.description,
            torn_down=torn,
        ) from exc
    except BaseException as exc:  # network, garbage, cancellation: still undo the server side
        if server is None or not server_side.prepared:
            raise
        outcome = await _tear_down(server, server_side.connection_id)
        done = "torn down" if outcome.get("completed") else "could not be torn down"
        note = f"the server's connection {server_side.connection_id} {done}"
        again = _with_connection(exc, note)
        if again is None:
            raise
        raise again from exc
    return server_side, renderer_side


async def _candidates(
    server: RemoteService, renderer: RemoteService, *, mime: str | None, protocol: str | None
) -> list[Pair]:
    """The compatible (Source, Sink) pairs, best first, within ``mime`` and ``protocol``.

    Raises:
        NegotiationError: 701, nothing compatible.
    """
    source_text = (await server.call("GetProtocolInfo")).get("Source", "")
    sources = parse_list(str(source_text)).entries
    sinks = await sink_list(renderer)
    if mime is not None:
        sources = tuple(s for s in sources if _mime_ok(s, mime))
    if protocol is not None:
        sources = tuple(s for s in sources if s.protocol.lower() == protocol.lower())
    pairs = rank_pairs(best_pairs(sources, sinks))  # rule F3
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
    return pairs


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
