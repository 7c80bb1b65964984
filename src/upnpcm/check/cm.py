"""The connection manager suite: the ConnectionManager's actions, IDs and events.

Read-only checks run on every ConnectionManager. Where PrepareForConnection
and ConnectionComplete are offered, each Sink entry (Direction Input) and
each Source entry (Output) goes through a whole connection: prepare, see the
ID in GetCurrentConnectionIDs and in a CurrentConnectionIDs event, read it
back with GetCurrentConnectionInfo, complete it, see it gone and evented.
That walk is done once (by ``cm.prepare``) and each of its checks reports its
part. Every connection is recorded for cleanup the moment it exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from upnpcm.aio.control_point import RemoteService
from upnpcm.check.catcher import Caught
from upnpcm.check.context import CheckContext, SoapExchange, per_service, shorten
from upnpcm.check.registry import (
    CheckFn,
    Finding,
    Severity,
    failed,
    passed,
    skipped,
    suite_rows,
)
from upnpcm.core.arguments import out_argument_problems
from upnpcm.core.connection_manager import parse_connection_ids
from upnpcm.core.http import decimal
from upnpcm.core.protocol_info import ProtocolInfo, ProtocolInfoList, match, parse_list
from upnpcm.core.subscription import read_notify
from upnpcm.errors import ProtocolInfoError, RemoteProtocolError, SubscriptionError

__all__ = ["CHECKS", "INCOMPATIBLE", "PEER_CONNECTION_MANAGER"]

#: The peer named in PrepareForConnection: a ConnectionManager that exists nowhere.
PEER_CONNECTION_MANAGER: Final = (
    "uuid:7570-6e70-636d-4368-65636b000001/urn:upnp-org:serviceId:ConnectionManager"
)
PEER_CONNECTION_ID: Final = 4242
#: A protocolInfo no device sinks or sources.
INCOMPATIBLE: Final = "http-get:*:application/x-upnpcm-incompatible:*"
#: CM:1 asks for CurrentConnectionIDs events; the checker waits this long at most.
EVENT_WAIT: Final = 30.0
_STATUSES: Final = (
    "OK",
    "ContentFormatMismatch",
    "InsufficientBandwidth",
    "UnreliableChannel",
    "Unknown",
)


def _offers(service: RemoteService, action: str) -> bool:
    return service.scpd.action(action) is not None


async def _protocol_info(ctx: CheckContext, service: RemoteService) -> SoapExchange:
    key = f"protocol-info {service.control_url}"
    found = ctx.memo(key)
    if isinstance(found, SoapExchange):
        return found
    ctx.progress(f"{service.qualified_name} GetProtocolInfo")
    call = await ctx.soap(service, "GetProtocolInfo", [])
    ctx.remember(key, call)
    return call


def _lists(call: SoapExchange) -> dict[str, str] | None:
    if call.out is None:
        return None
    out = dict(call.out)
    return {"Source": out.get("Source", ""), "Sink": out.get("Sink", "")}


async def _ids(
    ctx: CheckContext, service: RemoteService
) -> tuple[SoapExchange, tuple[int, ...] | None, str]:
    call = await ctx.soap(service, "GetCurrentConnectionIDs", [])
    if call.out is None:
        return call, None, call.received
    text = dict(call.out).get("ConnectionIDs")
    if text is None:
        return call, None, "no ConnectionIDs out-argument"
    try:
        return call, parse_connection_ids(text), ""
    except RemoteProtocolError as exc:
        return call, None, f"ConnectionIDs {text!r}: {exc}"


#: A check of every ConnectionManager.
_each = per_service(CheckContext.connection_managers, "no ConnectionManager with a usable SCPD")


# ------------------------------------------------------------------------ read-only


@_each
async def protocol_info(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """GetProtocolInfo: every entry of Source and Sink has the four protocolInfo fields."""
    call = await _protocol_info(ctx, service)
    lists = _lists(call)
    if lists is None:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)
        return
    bad = [
        f"{name} entry {entry.text!r}: {entry.reason}"
        for name, text in lists.items()
        for entry in parse_list(text).invalid
    ]
    counts = ", ".join(f"{name}: {len(parse_list(text))} entries" for name, text in lists.items())
    if bad:
        yield failed(service.qualified_name, sent=call.sent, received="; ".join(bad[:3]))
    else:
        yield passed(service.qualified_name, sent=call.sent, received=counts)


@_each
async def protocol_info_empty(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """No empty entry and no trailing comma in Source and Sink."""
    call = await _protocol_info(ctx, service)
    lists = _lists(call)
    if lists is None:
        yield skipped(service.qualified_name, f"GetProtocolInfo failed ({call.received})")
        return
    found: list[str] = []
    for name, text in lists.items():
        parsed: ProtocolInfoList = parse_list(text)
        if parsed.trailing_comma:
            found.append(f"{name} ends with a comma")
        others = [i for i in parsed.empty if not (parsed.trailing_comma and i == parsed.parts - 1)]
        if others:
            found.append(f"{name} has {len(others)} empty entr{'y' if len(others) == 1 else 'ies'}")
    if found:
        yield failed(
            service.qualified_name,
            sent=call.sent,
            received="; ".join(found),
            detail="control points that split on ',' get an empty protocolInfo (Sonos sends a trailing comma)",
        )
    else:
        yield passed(service.qualified_name, sent=call.sent)


@_each
async def connection_ids(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """GetCurrentConnectionIDs: distinct IDs, each known to GetCurrentConnectionInfo."""
    call, ids, why = await _ids(ctx, service)
    if ids is None:
        yield failed(service.qualified_name, sent=call.sent, received=why)
        return
    unknown: list[str] = []
    for connection_id in ids[:5]:
        info = await ctx.soap(
            service, "GetCurrentConnectionInfo", [("ConnectionID", str(connection_id))]
        )
        if info.fault_code == 706 or info.error is not None:
            unknown.append(f"listed ID {connection_id}: GetCurrentConnectionInfo {info.received}")
    if unknown:
        yield failed(service.qualified_name, sent=call.sent, received="; ".join(unknown[:2]))
    else:
        yield passed(service.qualified_name, sent=call.sent, received=call.received)


@_each
async def connection_zero_ids(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """Without PrepareForConnection, CurrentConnectionIDs is "0"."""
    if _offers(service, "PrepareForConnection"):
        yield skipped(
            service.qualified_name, "PrepareForConnection is offered: no implicit connection 0"
        )
        return
    call = await ctx.soap(service, "GetCurrentConnectionIDs", [])
    text = dict(call.out or ()).get("ConnectionIDs")
    if text == "0":
        yield passed(service.qualified_name, sent=call.sent, received=call.received)
    elif text == "":
        yield failed(
            service.qualified_name,
            sent=call.sent,
            received=call.received,
            detail='a Sonos zone player answers "" (no connection); control points tolerate it',
            tolerated=True,
        )
    else:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)


def _zero_info_problems(out: dict[str, str]) -> list[str]:
    problems: list[str] = []
    for name, allowed in (
        ("RcsID", ("0", "-1")),
        ("AVTransportID", ("0", "-1")),
        ("PeerConnectionManager", ("",)),
        ("PeerConnectionID", ("-1",)),
        ("Direction", ("Input", "Output")),
        ("Status", ("OK", "Unknown")),
    ):
        value = out.get(name)
        if value is None or value.strip() not in allowed:
            problems.append(f"{name}={value!r}, not {' or '.join(repr(a) for a in allowed)}")
    protocol = out.get("ProtocolInfo", "")
    if protocol:
        try:
            ProtocolInfo.parse(protocol)
        except ProtocolInfoError:
            problems.append(f"ProtocolInfo={protocol!r} is neither '' nor a protocolInfo")
    return problems


@_each
async def connection_zero_info(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """Without PrepareForConnection, GetCurrentConnectionInfo(0) answers the implicit connection."""
    if _offers(service, "PrepareForConnection"):
        yield skipped(
            service.qualified_name, "PrepareForConnection is offered: no implicit connection 0"
        )
        return
    call = await ctx.soap(service, "GetCurrentConnectionInfo", [("ConnectionID", "0")])
    if call.fault_code == 402:
        yield failed(
            service.qualified_name,
            sent=call.sent,
            received=call.received,
            detail="Sonos firmware is reported to fault for ID 0; control points must tolerate it",
            tolerated=True,
        )
        return
    if call.out is None:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)
        return
    problems = _zero_info_problems(dict(call.out))
    if problems:
        yield failed(service.qualified_name, sent=call.sent, received="; ".join(problems[:3]))
    else:
        yield passed(service.qualified_name, sent=call.sent, received=call.received)


async def _unknown_id(ctx: CheckContext, service: RemoteService) -> int:
    _, ids, _ = await _ids(ctx, service)
    return max(ids or (0,)) + 4711


@_each
async def unknown_id(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """GetCurrentConnectionInfo of an ID not in GetCurrentConnectionIDs: 706."""
    connection_id = await _unknown_id(ctx, service)
    call = await ctx.soap(
        service, "GetCurrentConnectionInfo", [("ConnectionID", str(connection_id))]
    )
    if call.fault_code == 706:
        yield passed(service.qualified_name, sent=call.sent, received=call.received)
    else:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)


@_each
async def complete_unknown_id(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """ConnectionComplete of an unknown ID: 706."""
    if not _offers(service, "ConnectionComplete"):
        yield skipped(service.qualified_name, "ConnectionComplete is not offered")
        return
    connection_id = await _unknown_id(ctx, service)
    call = await ctx.soap(service, "ConnectionComplete", [("ConnectionID", str(connection_id))])
    if call.fault_code == 706:
        yield passed(service.qualified_name, sent=call.sent, received=call.received)
    else:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)


# ------------------------------------------------------------------- a whole connection


@dataclass(slots=True)
class _Walk:
    """What one entry's connection showed, one finding per check."""

    subject: str
    found: dict[str, Finding] = field(default_factory=dict)


@dataclass(slots=True)
class _Events:
    """The CurrentConnectionIDs events of one subscription.

    ``silent`` says, for added (True) and removed (False) IDs, why no event
    is awaited any more: one that never came, so later ones are not waited for.
    """

    path: str = ""
    sid: str = ""
    why_not: str = ""
    silent: dict[bool, str] = field(default_factory=dict)


def _event_ids(caught: Sequence[Caught], since: float) -> list[set[str]]:
    """The CurrentConnectionIDs values evented after ``since``, each as a set of ID texts."""
    values: list[set[str]] = []
    for notify in caught:
        if notify.at < since:
            continue
        try:
            message = read_notify(notify.headers, notify.body)
        except SubscriptionError:
            continue
        text = message.changes.get("CurrentConnectionIDs")
        if text is not None:
            values.append({item.strip() for item in text.split(",") if item.strip()})
    return values


async def _wait_event(
    ctx: CheckContext, events: _Events, since: float, wanted: str, present: bool
) -> tuple[bool, str]:
    """Wait for a CurrentConnectionIDs event (after ``since``) with or without ``wanted``."""
    if events.why_not:
        return False, events.why_not
    if present in events.silent:
        return False, events.silent[present]
    catcher, _ = await ctx.catcher()
    loop = asyncio.get_running_loop()
    limit = min(EVENT_WAIT, ctx.timeout)
    deadline = loop.time() + limit
    seen = 0
    while True:
        caught = catcher.caught(events.path)
        for ids in _event_ids(caught, since):
            if (wanted in ids) == present:
                return True, ""
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        seen = len(caught)
        await catcher.wait(events.path, seen + 1, remaining)
    return (
        False,
        f"no CurrentConnectionIDs event {'with' if present else 'without'} {wanted} within {limit:g} s",
    )


async def _subscribe_events(ctx: CheckContext, service: RemoteService) -> _Events:
    if not service.service.event_sub_url:
        return _Events(why_not="the service has no eventSubURL")
    path, url = await ctx.callback()
    reply = await ctx.subscribe(
        service, {"CALLBACK": f"<{url}>", "NT": "upnp:event", "TIMEOUT": "Second-300"}
    )
    sid = (reply.headers.get("SID") or "").strip()
    if reply.status != 200 or not sid:
        return _Events(why_not=f"could not subscribe to its events ({reply.received})")
    return _Events(path=path, sid=sid)


async def _listed(
    ctx: CheckContext, service: RemoteService
) -> tuple[SoapExchange, set[str] | None]:
    """GetCurrentConnectionIDs read leniently (cm.connection-ids judges its form)."""
    call = await ctx.soap(service, "GetCurrentConnectionIDs", [])
    text = dict(call.out or ()).get("ConnectionIDs")
    if text is None:
        return call, None
    return call, {item.strip() for item in text.split(",") if item.strip()}


def _entries(lists: dict[str, str]) -> list[tuple[str, str]]:
    return [("Input", str(e)) for e in parse_list(lists["Sink"])] + [
        ("Output", str(e)) for e in parse_list(lists["Source"])
    ]


def _info_problems(out: dict[str, str], entry: str, direction: str) -> list[str]:
    problems: list[str] = []
    given = out.get("ProtocolInfo", "")
    if given != entry:
        try:
            same = bool(match(ProtocolInfo.parse(given), ProtocolInfo.parse(entry)))
        except ProtocolInfoError:
            same = False
        if not same:
            problems.append(f"ProtocolInfo={given!r}, asked {entry!r}")
    if out.get("PeerConnectionManager") != PEER_CONNECTION_MANAGER:
        problems.append(f"PeerConnectionManager={out.get('PeerConnectionManager')!r}")
    if (out.get("PeerConnectionID") or "").strip() != str(PEER_CONNECTION_ID):
        problems.append(
            f"PeerConnectionID={out.get('PeerConnectionID')!r}, asked {PEER_CONNECTION_ID}"
        )
    if out.get("Direction") != direction:
        problems.append(f"Direction={out.get('Direction')!r}, asked {direction}")
    if out.get("Status") not in _STATUSES:
        problems.append(f"Status={out.get('Status')!r}")
    return problems


async def _walk_one(
    ctx: CheckContext,
    service: RemoteService,
    events: _Events,
    direction: str,
    entry: str,
    walk: _Walk,
) -> None:
    loop = asyncio.get_running_loop()
    subject = walk.subject
    found = walk.found
    not_prepared = "the connection was not prepared"
    _, ids_before = await _listed(ctx, service)
    call = await ctx.soap(
        service,
        "PrepareForConnection",
        [
            ("RemoteProtocolInfo", entry),
            ("PeerConnectionManager", PEER_CONNECTION_MANAGER),
            ("PeerConnectionID", str(PEER_CONNECTION_ID)),
            ("Direction", direction),
        ],
    )
    prepared_at = loop.time() - call.seconds
    out = dict(call.out or ())
    id_text = (out.get("ConnectionID") or "").strip()
    connection_id = decimal(id_text, signed=True)
    if connection_id is not None and call.out is not None:
        ctx.cleanup.prepared(service, connection_id)
    action = service.scpd.action("PrepareForConnection")
    problems = (
        out_argument_problems(service.scpd, action, call.out or ()) if action and call.out else []
    )
    if call.out is None or connection_id is None:
        found["cm.prepare"] = failed(subject, sent=call.sent, received=call.received)
        for key in (
            "cm.prepare-listed",
            "cm.prepare-info",
            "cm.prepare-evented",
            "cm.complete",
            "cm.complete-evented",
        ):
            found[key] = skipped(subject, not_prepared)
        return
    if str(connection_id) in (ids_before or ()):
        problems.append(f"ConnectionID {connection_id} was already live")
    if connection_id < 0:
        problems.append(f"ConnectionID {connection_id} is negative")
    found["cm.prepare"] = (
        failed(subject, sent=call.sent, received="; ".join(problems))
        if problems
        else passed(subject, sent=call.sent, received=call.received)
    )
    listed, ids = await _listed(ctx, service)
    if ids is not None and str(connection_id) in ids:
        found["cm.prepare-listed"] = passed(subject, sent=listed.sent, received=listed.received)
    else:
        found["cm.prepare-listed"] = failed(
            subject,
            sent=listed.sent,
            received=listed.received,
            detail=f"ConnectionID {connection_id} is not listed",
        )
    info = await ctx.soap(
        service, "GetCurrentConnectionInfo", [("ConnectionID", str(connection_id))]
    )
    if info.out is None:
        found["cm.prepare-info"] = failed(subject, sent=info.sent, received=info.received)
    else:
        info_problems = _info_problems(dict(info.out), entry, direction)
        found["cm.prepare-info"] = (
            failed(subject, sent=info.sent, received="; ".join(info_problems[:3]))
            if info_problems
            else passed(subject, sent=info.sent, received=shorten(info.received, 120))
        )
    ctx.progress(
        f"{subject}: waiting up to {min(EVENT_WAIT, ctx.timeout):g} s for a CurrentConnectionIDs event"
    )
    ok, why = await _wait_event(ctx, events, prepared_at, str(connection_id), True)
    if ok:
        found["cm.prepare-evented"] = passed(subject, received=f"an event listing {connection_id}")
    elif events.why_not:
        found["cm.prepare-evented"] = skipped(subject, events.why_not)
    else:
        found["cm.prepare-evented"] = failed(subject, received=why)
        events.silent.setdefault(True, f"none came for an earlier connection either ({why})")
    done = await ctx.soap(service, "ConnectionComplete", [("ConnectionID", str(connection_id))])
    completed_at = loop.time() - done.seconds
    after, ids_after = await _listed(ctx, service)
    if done.out is not None and ids_after is not None and str(connection_id) not in ids_after:
        ctx.cleanup.completed(service, connection_id)
        found["cm.complete"] = passed(
            subject, sent=done.sent, received=f"{done.received}; then {after.received}"
        )
    else:
        detail = "" if done.out is None else f"then {after.sent}: {after.received}"
        found["cm.complete"] = failed(
            subject, sent=done.sent, received=done.received, detail=detail
        )
        found["cm.complete-evented"] = skipped(subject, "the connection was not removed")
        return
    ctx.progress(f"{subject}: waiting for the event of ConnectionComplete")
    ok, why = await _wait_event(ctx, events, completed_at, str(connection_id), False)
    if ok:
        found["cm.complete-evented"] = passed(subject, received=f"an event without {connection_id}")
    elif events.why_not:
        found["cm.complete-evented"] = skipped(subject, events.why_not)
    else:
        found["cm.complete-evented"] = failed(subject, received=why)
        events.silent.setdefault(False, f"none came for an earlier connection either ({why})")


async def _walks(ctx: CheckContext, service: RemoteService) -> list[_Walk] | str:
    """Walk every entry once per run; the walks, or why there are none."""
    key = f"walks {service.control_url}"
    found = ctx.memo(key)
    if isinstance(found, list | str):
        return found
    result: list[_Walk] | str
    if not _offers(service, "PrepareForConnection"):
        result = "PrepareForConnection is not offered"
    elif not _offers(service, "ConnectionComplete"):
        result = "ConnectionComplete is not offered: a prepared connection could not be undone"
    else:
        lists = _lists(await _protocol_info(ctx, service))
        entries = _entries(lists) if lists is not None else []
        if lists is None:
            result = "GetProtocolInfo failed"
        elif not entries:
            result = "the Source and Sink lists are empty"
        else:
            events = await _subscribe_events(ctx, service)
            walks: list[_Walk] = []
            try:
                for number, (direction, entry) in enumerate(entries, 1):
                    ctx.progress(
                        f"{service.qualified_name} PrepareForConnection {number}/{len(entries)}"
                    )
                    walk = _Walk(
                        subject=f"{service.qualified_name} {direction} {shorten(entry, 70)}"
                    )
                    walks.append(walk)
                    await _walk_one(ctx, service, events, direction, entry, walk)
            finally:
                if events.sid:
                    await ctx.unsubscribe(service, events.sid)
            result = walks
    ctx.remember(key, result)
    return result


def _walk_check(check_id: str) -> CheckFn:
    async def one(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
        walks = await _walks(ctx, service)
        if isinstance(walks, str):
            yield skipped(service.qualified_name, walks)
            return
        for walk in walks:
            yield walk.found.get(check_id) or skipped(walk.subject, "not reached")

    one.__doc__ = f"The {check_id} part of every connection walked."
    return _each(one)


@_each
async def incompatible(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """PrepareForConnection with a protocolInfo the device cannot handle: 701."""
    if not _offers(service, "PrepareForConnection") or not _offers(service, "ConnectionComplete"):
        yield skipped(
            service.qualified_name,
            "PrepareForConnection and ConnectionComplete are not both offered",
        )
        return
    lists = _lists(await _protocol_info(ctx, service))
    if lists is None or not (lists["Sink"].strip() or lists["Source"].strip()):
        yield skipped(service.qualified_name, "no Source or Sink list to be incompatible with")
        return
    direction = "Input" if parse_list(lists["Sink"]).entries else "Output"
    call = await ctx.soap(
        service,
        "PrepareForConnection",
        [
            ("RemoteProtocolInfo", INCOMPATIBLE),
            ("PeerConnectionManager", PEER_CONNECTION_MANAGER),
            ("PeerConnectionID", str(PEER_CONNECTION_ID)),
            ("Direction", direction),
        ],
    )
    id_text = dict(call.out or ()).get("ConnectionID", "").strip()
    if call.out is not None and id_text.lstrip("-").isdigit():
        ctx.cleanup.prepared(service, int(id_text))  # it should not exist: undo it
    if call.fault_code == 701:
        yield passed(service.qualified_name, sent=call.sent, received=call.received)
    else:
        yield failed(service.qualified_name, sent=call.sent, received=call.received)


_check = suite_rows("cm")


_CM: Final = "ISO/IEC 29341-17-11 (CM:1"
CHECKS: Final = (
    _check(
        "cm.protocol-info",
        "GetProtocolInfo entries are well-formed",
        "every Source and Sink entry is <protocol>:<network>:<contentFormat>:<additionalInfo>",
        f"{_CM} §2.2.1, §2.2.2, §2.5.2); rules R1, P1",
        protocol_info,
    ),
    _check(
        "cm.protocol-info-empty",
        "no empty protocolInfo entries",
        "no empty entry and no trailing comma in Source and Sink",
        f"{_CM} §2.2.1); UDA 1.1 §2.5 (CSV lists); rule P2",
        protocol_info_empty,
        severity=Severity.SHOULD,
    ),
    _check(
        "cm.connection-ids",
        "GetCurrentConnectionIDs parses",
        "comma-separated distinct ConnectionIDs, each known to GetCurrentConnectionInfo",
        f"{_CM} §2.2.3, §2.4.4); rule R2",
        connection_ids,
    ),
    _check(
        "cm.connection-zero-ids",
        "connection 0 is listed when PrepareForConnection is absent",
        'CurrentConnectionIDs is "0"',
        f"{_CM} §2.2.3, §2.4.2); rule R2",
        connection_zero_ids,
    ),
    _check(
        "cm.connection-zero-info",
        "GetCurrentConnectionInfo(0) when PrepareForConnection is absent",
        'RcsID and AVTransportID 0 or -1, PeerConnectionManager "", PeerConnectionID -1, '
        "Direction Input or Output, Status OK or Unknown",
        f"{_CM} §2.4.5); rule R3",
        connection_zero_info,
    ),
    _check(
        "cm.unknown-id",
        "GetCurrentConnectionInfo of an unknown ID",
        "UPnP error 706 Invalid connection reference",
        f"{_CM} §2.4.5); rule R3",
        unknown_id,
    ),
    _check(
        "cm.complete-unknown-id",
        "ConnectionComplete of an unknown ID",
        "UPnP error 706 Invalid connection reference",
        f"{_CM} §2.4.3); rule R5",
        complete_unknown_id,
        changes_state=True,
    ),
    _check(
        "cm.prepare",
        "PrepareForConnection for every Sink and Source entry",
        "HTTP 200 with a new, non-negative ConnectionID, AVTransportID and RcsID",
        f"{_CM} §2.4.2); rule R4",
        _walk_check("cm.prepare"),
        changes_state=True,
    ),
    _check(
        "cm.prepare-listed",
        "a prepared connection is listed",
        "its ConnectionID is in GetCurrentConnectionIDs",
        f"{_CM} §2.4.4); rule R2",
        _walk_check("cm.prepare-listed"),
        changes_state=True,
    ),
    _check(
        "cm.prepare-info",
        "GetCurrentConnectionInfo of a prepared connection",
        "ProtocolInfo, PeerConnectionManager, PeerConnectionID and Direction as asked; a valid Status",
        f"{_CM} §2.4.5); rule R3",
        _walk_check("cm.prepare-info"),
        changes_state=True,
    ),
    _check(
        "cm.prepare-evented",
        "a prepared connection is evented",
        "a CurrentConnectionIDs event holding the new ID within 30 s",
        f"{_CM} §2.3); UDA 1.1 §4.2; rule R7",
        _walk_check("cm.prepare-evented"),
        changes_state=True,
    ),
    _check(
        "cm.complete",
        "ConnectionComplete removes the connection",
        "HTTP 200, and the ID leaves GetCurrentConnectionIDs",
        f"{_CM} §2.4.3); rule R5",
        _walk_check("cm.complete"),
        changes_state=True,
    ),
    _check(
        "cm.complete-evented",
        "a completed connection is evented",
        "a CurrentConnectionIDs event without the ID within 30 s",
        f"{_CM} §2.3); UDA 1.1 §4.2; rule R7",
        _walk_check("cm.complete-evented"),
        changes_state=True,
    ),
    _check(
        "cm.incompatible",
        "PrepareForConnection with an incompatible protocolInfo",
        "UPnP error 701 Incompatible protocol info",
        f"{_CM} §2.4.2); rule R4",
        incompatible,
        changes_state=True,
    ),
)
