"""The eventing suite: SUBSCRIBE, renewal, UNSUBSCRIBE, their errors, and NOTIFY.

Every evented service gets the grammar checks; the behaviour checks (a
callback on a stranger's address, a NOTIFY answered 500 or never answered)
run on the first evented service, a ConnectionManager if there is one. A
NOTIFY is judged by the core's reader (:func:`~upnpcm.core.subscription.read_notify`,
rules N1, N4); a SUBSCRIBE answer by :func:`~upnpcm.core.subscription.grant_problems`
(G6). Every SID granted is unsubscribed when the run ends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from upnpcm.aio.control_point import RemoteService
from upnpcm.check.catcher import Caught, Mode
from upnpcm.check.context import CheckContext, Exchange, per_service
from upnpcm.check.registry import (
    Finding,
    Severity,
    failed,
    passed,
    skipped,
    suite_rows,
)
from upnpcm.core.gena import parse_propertyset
from upnpcm.core.http import is_xml_media_type
from upnpcm.core.subscription import grant_problems, read_notify
from upnpcm.errors import RemoteProtocolError, SubscriptionError

__all__ = ["CHECKS", "REQUESTED"]

#: The TIMEOUT every SUBSCRIBE asks for.
REQUESTED: Final = "Second-15"
#: How long the initial event may take (the standard names no bound; a healthy device needs ms).
INITIAL_WAIT: Final = 10.0
#: How long to watch for NOTIFYs a device should not send (to a stranger; resends).
QUIET_WAIT: Final = 1.5
#: How many NOTIFYs within QUIET_WAIT after a 500 count as a storm.
STORM: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sub:
    """A subscription made for the checks."""

    path: str
    reply: Exchange
    sid: str

    @property
    def granted(self) -> bool:
        return self.reply.status == 200 and bool(self.sid)


async def _new(ctx: CheckContext, service: RemoteService, mode: Mode = "ok") -> _Sub:
    path, url = await ctx.callback(mode)
    reply = await ctx.subscribe(
        service, {"CALLBACK": f"<{url}>", "NT": "upnp:event", "TIMEOUT": REQUESTED}
    )
    return _Sub(path=path, reply=reply, sid=(reply.headers.get("SID") or "").strip())


async def _main(ctx: CheckContext, service: RemoteService) -> _Sub:
    """The subscription most checks use: made once per service."""
    key = f"subscription {service.event_url}"
    found = ctx.memo(key)
    if isinstance(found, _Sub):
        return found
    ctx.progress(f"subscribing to {service.qualified_name}")
    sub = await _new(ctx, service)
    ctx.remember(key, sub)
    return sub


async def _initial(ctx: CheckContext, service: RemoteService, sub: _Sub) -> Caught | None:
    """The first NOTIFY for ``sub`` (waiting for it once)."""
    catcher, _ = await ctx.catcher()
    if not catcher.caught(sub.path):
        ctx.progress(
            f"waiting up to {min(INITIAL_WAIT, ctx.timeout):g} s for the initial event of {service.qualified_name}"
        )
    caught = await catcher.wait(sub.path, 1, min(INITIAL_WAIT, ctx.timeout))
    return caught[0] if caught else None


#: A check of every evented service.
_each = per_service(
    CheckContext.evented_services, "no service with evented variables and an eventSubURL"
)


def _sent(method: str, headers: dict[str, str]) -> str:
    return method + "".join(f" {name}: {value}" for name, value in headers.items())


# ---------------------------------------------------------------- the main subscription


@_each
async def subscribe(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """G6: 200 with a SID and a TIMEOUT."""
    sub = await _main(ctx, service)
    sent = f"SUBSCRIBE CALLBACK, NT: upnp:event, TIMEOUT: {REQUESTED}"
    if sub.reply.status != 200:
        yield failed(service.qualified_name, sent=sent, received=sub.reply.received)
        return
    problems = grant_problems(sub.reply.headers)
    if problems:
        yield failed(service.qualified_name, sent=sent, received="; ".join(problems))
    else:
        yield passed(service.qualified_name, sent=sent, received=sub.reply.received)


async def _first_notify(
    ctx: CheckContext, service: RemoteService
) -> tuple[_Sub, Caught | None, str]:
    sub = await _main(ctx, service)
    if not sub.granted:
        return sub, None, f"no subscription ({sub.reply.received})"
    notify = await _initial(ctx, service, sub)
    if notify is None:
        return sub, None, f"no NOTIFY came within {min(INITIAL_WAIT, ctx.timeout):g} s"
    return sub, notify, ""


@_each
async def initial_event(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """E1: the first NOTIFY of a subscription comes, with its SID and SEQ 0."""
    sub, notify, why = await _first_notify(ctx, service)
    if notify is None:
        if sub.granted:
            yield failed(service.qualified_name, received=why)
        else:
            yield skipped(service.qualified_name, why)
        return
    sid = (notify.headers.get("SID") or "").strip()
    seq = (notify.headers.get("SEQ") or "").strip()
    received = f"NOTIFY SID: {sid}, SEQ: {seq}"
    if sid == sub.sid and seq == "0":
        yield passed(service.qualified_name, received=received)
    else:
        yield failed(
            service.qualified_name,
            received=received,
            detail=f"expected SID {sub.sid} and SEQ 0",
        )


@_each
async def initial_event_complete(
    ctx: CheckContext, service: RemoteService
) -> AsyncIterator[Finding]:
    """E1: the initial event carries every evented variable."""
    _, notify, why = await _first_notify(ctx, service)
    if notify is None:
        yield skipped(service.qualified_name, why)
        return
    try:
        changes = parse_propertyset(notify.body)
    except RemoteProtocolError as exc:
        yield skipped(service.qualified_name, f"the body is no propertyset ({exc})")
        return
    wanted = [v.name for v in service.scpd.evented_variables]
    missing = [name for name in wanted if name not in changes]
    received = f"{len(changes)} variables: {', '.join(sorted(changes))[:120]}"
    if missing:
        yield failed(
            service.qualified_name, received=received, detail=f"missing: {', '.join(missing)}"
        )
    else:
        yield passed(service.qualified_name, received=received)


@_each
async def notify_form(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """N1, N4: NOTIFY with NT upnp:event, NTS upnp:propchange, SID, SEQ, text/xml, a propertyset."""
    _, notify, why = await _first_notify(ctx, service)
    if notify is None:
        yield skipped(service.qualified_name, why)
        return
    problems: list[str] = []
    if notify.method != "NOTIFY":
        problems.append(f"method {notify.method}, not NOTIFY")
    if not is_xml_media_type(notify.headers.get("Content-Type")):
        problems.append(f"Content-Type {notify.headers.get('Content-Type')!r} is not text/xml")
    try:
        read_notify(notify.headers, notify.body)
    except SubscriptionError as exc:
        problems.append(str(exc))
    shown = ", ".join(
        f"{n}: {v}" for n, v in notify.headers if n.upper() in ("NT", "NTS", "CONTENT-TYPE")
    )
    if problems:
        yield failed(service.qualified_name, received="; ".join(problems), detail=shown)
    else:
        yield passed(service.qualified_name, received=shown)


@_each
async def renew(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """A renewal keeps the SID and grants a TIMEOUT."""
    sub = await _main(ctx, service)
    if not sub.granted:
        yield skipped(service.qualified_name, f"no subscription ({sub.reply.received})")
        return
    headers = {"SID": sub.sid, "TIMEOUT": REQUESTED}
    reply = await ctx.request("SUBSCRIBE", service.event_url, headers=headers)
    problems = grant_problems(reply.headers) if reply.status == 200 else [reply.received]
    sid = (reply.headers.get("SID") or "").strip()
    if reply.status == 200 and sid and sid != sub.sid:
        problems.append(f"the renewal answered SID {sid}, not {sub.sid}")
        ctx.cleanup.subscribed(service.event_url, sid)
    if problems:
        yield failed(
            service.qualified_name,
            sent=_sent("SUBSCRIBE", headers),
            received="; ".join(problems),
        )
    else:
        yield passed(
            service.qualified_name, sent=_sent("SUBSCRIBE", headers), received=reply.received
        )


@_each
async def unsubscribe(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """UNSUBSCRIBE answers 200 and ends the subscription (a renewal then gets 412)."""
    sub = await _main(ctx, service)
    if not sub.granted:
        yield skipped(service.qualified_name, f"no subscription ({sub.reply.received})")
        return
    reply = await ctx.unsubscribe(service, sub.sid)
    after = await ctx.request(
        "SUBSCRIBE", service.event_url, headers={"SID": sub.sid, "TIMEOUT": REQUESTED}
    )
    sent = f"UNSUBSCRIBE SID: {sub.sid}, then SUBSCRIBE SID: {sub.sid}"
    received = f"{reply.received}, then {after.received}"
    if reply.status == 200 and after.status == 412:
        yield passed(service.qualified_name, sent=sent, received=received)
    else:
        if after.status == 200:
            ctx.cleanup.subscribed(service.event_url, sub.sid)
        yield failed(service.qualified_name, sent=sent, received=received)


@_each
async def new_sid(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """A second SUBSCRIBE gets a SID of its own."""
    first = await _main(ctx, service)
    if not first.granted:
        yield skipped(service.qualified_name, f"no first subscription ({first.reply.received})")
        return
    second = await _new(ctx, service)
    if second.granted:
        await ctx.unsubscribe(service, second.sid)
    received = f"SIDs {first.sid} and {second.sid or second.reply.received}"
    if second.granted and second.sid != first.sid:
        yield passed(service.qualified_name, sent="SUBSCRIBE twice", received=received)
    else:
        yield failed(service.qualified_name, sent="SUBSCRIBE twice", received=received)


def _both(service: RemoteService, results: list[Finding], sent: str) -> Finding:
    """The first of two findings that does not hold, or one that says both do."""
    bad = [r for r in results if not r.ok]
    if bad:
        return bad[0]
    received = "; ".join(r.received for r in results)
    return passed(service.qualified_name, sent=sent, received=received)


def _unknown_sid() -> str:
    return f"uuid:{uuid.uuid4()}"


async def _expect_status(
    ctx: CheckContext, service: RemoteService, method: str, headers: dict[str, str], wanted: int
) -> Finding:
    reply = await ctx.request(method, service.event_url, headers=headers, max_bytes=64 * 1024)
    sid = (reply.headers.get("SID") or "").strip()
    if method == "SUBSCRIBE" and reply.status == 200 and sid:
        ctx.cleanup.subscribed(service.event_url, sid)  # granted by mistake: undo it
    sent = _sent(method, headers)
    if reply.status == wanted:
        return passed(service.qualified_name, sent=sent, received=reply.received)
    return failed(service.qualified_name, sent=sent, received=reply.received)


@_each
async def unknown_sid(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """G3: renewal of an unknown SID is 412 (never 404)."""
    yield await _expect_status(
        ctx, service, "SUBSCRIBE", {"SID": _unknown_sid(), "TIMEOUT": REQUESTED}, 412
    )


@_each
async def unsubscribe_unknown_sid(
    ctx: CheckContext, service: RemoteService
) -> AsyncIterator[Finding]:
    """G3: UNSUBSCRIBE of an unknown SID is 412."""
    yield await _expect_status(ctx, service, "UNSUBSCRIBE", {"SID": _unknown_sid()}, 412)


@_each
async def incompatible_headers(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """G1: SID with CALLBACK, and SID with NT, are 400 (on a live SID)."""
    live = await _new(ctx, service)
    if not live.granted:
        yield skipped(service.qualified_name, f"no subscription to name ({live.reply.received})")
        return
    _, url = await ctx.callback()
    results = [
        await _expect_status(
            ctx, service, "SUBSCRIBE", {"SID": live.sid, "CALLBACK": f"<{url}>"}, 400
        ),
        await _expect_status(ctx, service, "SUBSCRIBE", {"SID": live.sid, "NT": "upnp:event"}, 400),
    ]
    await ctx.unsubscribe(service, live.sid)
    yield _both(service, results, "SUBSCRIBE SID + CALLBACK; SUBSCRIBE SID + NT")


@_each
async def nt(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """G2: a SUBSCRIBE without NT, or with another NT, is 412."""
    _, url = await ctx.callback()
    results = [
        await _expect_status(
            ctx, service, "SUBSCRIBE", {"CALLBACK": f"<{url}>", "TIMEOUT": REQUESTED}, 412
        ),
        await _expect_status(
            ctx,
            service,
            "SUBSCRIBE",
            {"CALLBACK": f"<{url}>", "NT": "upnp:other", "TIMEOUT": REQUESTED},
            412,
        ),
    ]
    yield _both(service, results, "SUBSCRIBE without NT; SUBSCRIBE NT: upnp:other")


@_each
async def missing_callback(ctx: CheckContext, service: RemoteService) -> AsyncIterator[Finding]:
    """G2: a SUBSCRIBE without CALLBACK is 412."""
    yield await _expect_status(
        ctx, service, "SUBSCRIBE", {"NT": "upnp:event", "TIMEOUT": REQUESTED}, 412
    )


# ------------------------------------------------------------------------- behaviour


async def _behaviour_service(ctx: CheckContext) -> RemoteService | Finding:
    services = await ctx.evented_services()
    if not services:
        _, why = await ctx.device()
        return skipped("device", why or "no service with evented variables and an eventSubURL")
    managers = [s for s in services if ":service:ConnectionManager:" in s.service.service_type]
    return (managers or services)[0]


def _stranger_address(own: str) -> str | None:
    """A local address other than ``own``, of its family, to name as somebody else's.

    On loopback another loopback address (the NOTIFY stays on lo); elsewhere
    another address of one of this host's interfaces.
    """
    from upnpcm.aio.ssdp import resolve_interfaces

    mine = ipaddress.ip_address(own.split("%", 1)[0])
    if mine.version == 4 and mine.is_loopback:
        return "127.0.0.2" if own != "127.0.0.2" else "127.0.0.3"
    candidates = [
        i.ip
        for i in resolve_interfaces()
        if ipaddress.ip_address(i.ip).version == mine.version
        and i.ip != own
        and not ipaddress.ip_address(i.ip).is_loopback
    ]
    return candidates[0] if candidates else None


async def callstranger(ctx: CheckContext) -> AsyncIterator[Finding]:
    """U2, U3: a CALLBACK on another host than the subscriber's is refused (CVE-2020-12695)."""
    service = await _behaviour_service(ctx)
    if isinstance(service, Finding):
        yield service
        return
    catcher, own = await ctx.catcher()
    stranger = _stranger_address(own)
    if stranger is None:
        yield skipped(
            service.qualified_name, f"no second local address besides {own} to name as a stranger"
        )
        return
    path = catcher.path("ok")
    url = catcher.url(stranger, path)
    headers = {"CALLBACK": f"<{url}>", "NT": "upnp:event", "TIMEOUT": REQUESTED}
    sent = f"SUBSCRIBE from {own} with CALLBACK <{url}>"
    reply = await ctx.subscribe(service, headers, sent=sent)
    sid = (reply.headers.get("SID") or "").strip()
    if reply.status != 200:
        yield passed(service.qualified_name, sent=sent, received=f"refused: {reply.received}")
        return
    ctx.progress(f"watching {QUIET_WAIT:g} s for a NOTIFY to {stranger}")
    caught = await catcher.wait(path, 1, min(QUIET_WAIT, ctx.timeout))
    if sid:
        await ctx.unsubscribe(service, sid)
    if not caught:
        yield passed(
            service.qualified_name,
            sent=sent,
            received=f"{reply.received}, but no NOTIFY went to {stranger}",
        )
        return
    uda = await ctx.uda()
    yield failed(
        service.qualified_name,
        sent=sent,
        received=f"{reply.received}; a NOTIFY went to {stranger}",
        detail=(
            f"the device claims UDA {uda[0]}.{uda[1]}: only UDA 2.0 (2020 update) requires the "
            "check, but any device that sends events wherever a request says can be made to "
            "flood a third party"
        ),
        tolerated=uda < (2, 0),
    )


async def notify_500(ctx: CheckContext) -> AsyncIterator[Finding]:
    """What the device does when a NOTIFY is answered 500: no resend storm; it stays up."""
    service = await _behaviour_service(ctx)
    if isinstance(service, Finding):
        yield service
        return
    catcher, _ = await ctx.catcher()
    sub = await _new(ctx, service, "fail")
    if not sub.granted:
        yield skipped(service.qualified_name, f"no subscription ({sub.reply.received})")
        return
    first = await catcher.wait(sub.path, 1, min(INITIAL_WAIT, ctx.timeout))
    if not first:
        yield skipped(service.qualified_name, "no NOTIFY came to answer 500")
        await ctx.unsubscribe(service, sub.sid)
        return
    ctx.progress(f"answered a NOTIFY 500; watching {QUIET_WAIT:g} s")
    await asyncio.sleep(min(QUIET_WAIT, ctx.timeout))
    resent = len(catcher.caught(sub.path)) - 1
    renewal = await ctx.request(
        "SUBSCRIBE", service.event_url, headers={"SID": sub.sid, "TIMEOUT": REQUESTED}
    )
    await ctx.unsubscribe(service, sub.sid)
    kept = {200: "kept the subscription", 412: "dropped the subscription"}.get(renewal.status or 0)
    what = f"resent it {resent} times in {QUIET_WAIT:g} s; a renewal then got {renewal.received}"
    if kept is None:
        yield failed(
            service.qualified_name,
            sent="NOTIFY answered 500",
            received=what,
            detail="the device no longer answers renewals properly",
        )
    elif resent > STORM:
        yield failed(
            service.qualified_name,
            sent="NOTIFY answered 500",
            received=what,
            detail="a resend storm",
        )
    else:
        yield passed(
            service.qualified_name, sent="NOTIFY answered 500", received=f"{what} ({kept})"
        )


async def notify_unanswered(ctx: CheckContext) -> AsyncIterator[Finding]:
    """A NOTIFY never answered does not hold up another subscriber's events."""
    service = await _behaviour_service(ctx)
    if isinstance(service, Finding):
        yield service
        return
    catcher, _ = await ctx.catcher()
    stuck = await _new(ctx, service, "hang")
    if not stuck.granted:
        yield skipped(service.qualified_name, f"no subscription ({stuck.reply.received})")
        return
    other: _Sub | None = None
    try:
        if not await catcher.wait(stuck.path, 1, min(INITIAL_WAIT, ctx.timeout)):
            yield skipped(service.qualified_name, "no NOTIFY came to leave unanswered")
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        other = await _new(ctx, service)
        if not other.granted:
            yield skipped(
                service.qualified_name, f"no second subscription ({other.reply.received})"
            )
            return
        wait = min(5.0, ctx.timeout)
        ctx.progress(
            f"one NOTIFY left unanswered; waiting up to {wait:g} s for another subscriber's"
        )
        arrived = await catcher.wait(other.path, 1, wait)
        sent = "a NOTIFY left unanswered, then a second SUBSCRIBE"
        if arrived:
            took = arrived[0].at - started
            yield passed(
                service.qualified_name,
                sent=sent,
                received=f"the second subscriber's initial event came after {took:.2f} s",
            )
        else:
            yield failed(
                service.qualified_name,
                sent=sent,
                received=f"no initial event for the second subscriber within {wait:g} s",
                detail="while one NOTIFY is unanswered the device holds back the next (at least to the same host)",
            )
    finally:
        catcher.release(stuck.path)
        await ctx.unsubscribe(service, stuck.sid)
        if other is not None and other.granted:
            await ctx.unsubscribe(service, other.sid)


_check = suite_rows("eventing")


CHECKS: Final = (
    _check(
        "gena.subscribe",
        f"SUBSCRIBE (TIMEOUT {REQUESTED})",
        "HTTP 200 with SID: uuid:… and TIMEOUT: Second-<seconds>",
        "UDA 1.1 §4.1.2; rule G6",
        subscribe,
    ),
    _check(
        "gena.initial-event",
        "the initial event comes",
        "a NOTIFY with the granted SID and SEQ 0, after the SUBSCRIBE answer",
        "UDA 1.1 §4.2; rule E1",
        initial_event,
    ),
    _check(
        "gena.initial-event-complete",
        "the initial event carries every evented variable",
        'one property for every state variable with sendEvents="yes"',
        "UDA 1.1 §4.2; rule E1",
        initial_event_complete,
    ),
    _check(
        "gena.notify-form",
        "the form of a NOTIFY",
        "NOTIFY with NT: upnp:event, NTS: upnp:propchange, SID, SEQ, CONTENT-TYPE text/xml "
        "and an e:propertyset body",
        "UDA 1.1 §4.2; rules N1, N4",
        notify_form,
    ),
    _check(
        "gena.renew",
        "a renewal keeps the SID",
        "SUBSCRIBE with SID and TIMEOUT: HTTP 200, the same SID and a TIMEOUT",
        "UDA 1.1 §4.1.3; rule G6",
        renew,
    ),
    _check(
        "gena.unsubscribe",
        "UNSUBSCRIBE ends the subscription",
        "HTTP 200, and a renewal of that SID afterwards gets 412",
        "UDA 1.1 §4.1.4; rule G3",
        unsubscribe,
    ),
    _check(
        "gena.new-sid",
        "a second SUBSCRIBE gets a new SID",
        "every subscription has a SID of its own",
        "UDA 1.1 §4.1.2; rule G5",
        new_sid,
    ),
    _check(
        "gena.unknown-sid",
        "renewal of an unknown SID",
        "HTTP 412 Precondition Failed (a 404 makes control points give up for good)",
        "UDA 1.1 §4.1.3; rule G3",
        unknown_sid,
    ),
    _check(
        "gena.unsubscribe-unknown-sid",
        "UNSUBSCRIBE of an unknown SID",
        "HTTP 412 Precondition Failed",
        "UDA 1.1 §4.1.4; rule G3",
        unsubscribe_unknown_sid,
    ),
    _check(
        "gena.incompatible-headers",
        "SID together with CALLBACK or NT",
        "HTTP 400 Incompatible header fields",
        "UDA 1.1 §4.1.2, §4.1.3; rule G1",
        incompatible_headers,
    ),
    _check(
        "gena.nt",
        "SUBSCRIBE without NT or with another NT",
        "HTTP 412 Precondition Failed",
        "UDA 1.1 §4.1.2; rule G2",
        nt,
    ),
    _check(
        "gena.missing-callback",
        "SUBSCRIBE without CALLBACK",
        "HTTP 412 Precondition Failed",
        "UDA 1.1 §4.1.2; rule G2",
        missing_callback,
    ),
    _check(
        "gena.callstranger",
        "a CALLBACK on another host than the subscriber's",
        "refused (412), or at least no NOTIFY sent there (a WARN before UDA 2.0)",
        "UDA 2.0 §4.1.2 (CVE-2020-12695 update); rules U2, U3, U4",
        callstranger,
    ),
    _check(
        "gena.notify-500",
        "a NOTIFY answered 500",
        "no resend storm (at most 3 in 1.5 s), and renewals still answered 200 or 412",
        "UDA 1.1 §4.2, §4.1.3; rule E4",
        notify_500,
        Severity.SHOULD,
    ),
    _check(
        "gena.notify-unanswered",
        "a NOTIFY never answered",
        "another subscriber's initial event still comes within 5 s",
        "UDA 1.1 §4.2, §4.3 (event delivery per subscriber); rule T2",
        notify_unanswered,
        Severity.SHOULD,
    ),
)
