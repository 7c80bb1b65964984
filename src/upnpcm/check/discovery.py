"""The discovery suite: M-SEARCH answered right (and wrong ones ignored), announcements complete.

Runs only on the interfaces the user chose (``--interface``): searching is
multicast, and where it goes is the user's decision. What the device should
send is the core's (:func:`~upnpcm.core.ssdp.advertisements` of its
description, :func:`~upnpcm.core.ssdp.matches` for each search target);
whether a message is complete too (rules S7, A6, A7). All searches go out once
per run, paced below any device's rate limit, then every check reads what
came back; announcements are heard for the whole run (and ``--listen``
seconds more).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from upnpcm.aio.ssdp import resolve_interfaces
from upnpcm.check.context import CheckContext, shorten
from upnpcm.check.registry import (
    CheckFn,
    Finding,
    Severity,
    failed,
    passed,
    skipped,
    suite_rows,
)
from upnpcm.check.ssdp_probe import Heard, Search, SsdpProbe, group_of
from upnpcm.core.description import Device, parse_device_description
from upnpcm.core.discovery import MIN_MAX_AGE, announcement_problems, max_age, reply_problems
from upnpcm.core.http import decimal, plain_ip
from upnpcm.core.ssdp import Advertisement, advertisements, build_msearch, matches
from upnpcm.errors import RemoteProtocolError

__all__ = ["CHECKS", "prepare"]

#: MX of the ssdp:all search whose reply times are judged.
ALL_MX: Final = 2
#: Searches sent per second (below the 10 a device may allow one source, rule S5).
RATE: Final = 8.0
#: How late after MX a reply may arrive (network and scheduling).
SLACK: Final = 0.5


@dataclass(slots=True, kw_only=True)
class _Plan:
    """What was searched and heard."""

    root: Device
    ads: list[Advertisement]
    udns: set[str]
    positive: dict[str, Search] = field(default_factory=dict)
    negative: dict[str, Search] = field(default_factory=dict)


def _ours(plan: _Plan, heard: Heard) -> bool:
    usn = heard.message.get("USN") if heard.message is not None else None
    return bool(usn) and (usn or "").split("::", 1)[0] in plan.udns


def _raw(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _negative_searches(root: Device, host: str) -> dict[str, bytes]:
    """The searches a device must not answer, by name."""
    versions: dict[str, int] = {}
    for device in root.iter_devices():
        head, _, version_text = device.device_type.rpartition(":")
        version = decimal(version_text)  # at most 20 ASCII digits (rule B8)
        if version is not None:
            versions[head] = max(versions.get(head, 0), version)
    head, _, _ = root.device_type.rpartition(":")
    higher = f"{head}:{versions.get(head, 0) + 1}"
    start, host_line, man = "M-SEARCH * HTTP/1.1", f"HOST: {host}", 'MAN: "ssdp:discover"'
    return {
        "unknown UDN": build_msearch(f"uuid:{uuid.uuid4()}", mx=1, host=host),
        f"higher version ({higher.rsplit(':', 2)[-2]}:{higher.rsplit(':', 1)[-1]})": build_msearch(
            higher, mx=1, host=host
        ),
        "missing MAN": _raw([start, host_line, "MX: 1", "ST: ssdp:all"]),
        "missing MX": _raw([start, host_line, man, "ST: ssdp:all"]),
        "empty MX": _raw([start, host_line, man, "MX:", "ST: ssdp:all"]),
        "non-integer MX": _raw([start, host_line, man, "MX: one", "ST: ssdp:all"]),
        "negative MX": _raw([start, host_line, man, "MX: -1", "ST: ssdp:all"]),
        "missing ST": _raw([start, host_line, man, "MX: 1"]),
        "empty ST": _raw([start, host_line, man, "MX: 1", "ST:"]),
        "request-URI not *": _raw(["M-SEARCH / HTTP/1.1", host_line, man, "MX: 1", "ST: ssdp:all"]),
    }


def _targets(root: Device) -> list[str]:
    targets = ["ssdp:all", "upnp:rootdevice"]
    targets += [d.udn for d in root.iter_devices()]
    targets += list(dict.fromkeys(d.device_type for d in root.iter_devices()))
    targets += list(dict.fromkeys(s.service_type for _, s in root.iter_services()))
    return targets


async def prepare(ctx: CheckContext) -> None:
    """Start hearing announcements at the start of the run (when an interface was chosen)."""
    if not ctx.options.interfaces:
        return
    try:
        probe = SsdpProbe(resolve_interfaces(ctx.options.interfaces))
        await probe.listen()
    except (ValueError, OSError) as exc:
        ctx.remember("ssdp-error", f"cannot use SSDP on {', '.join(ctx.options.interfaces)}: {exc}")
        return
    ctx.remember("ssdp-probe", probe)
    ctx.on_close(probe.close)


async def _plan(ctx: CheckContext) -> _Plan | str:
    """Send every search once per run; the plan with what came back, or why not."""
    found = ctx.memo("ssdp-plan")
    if isinstance(found, _Plan | str):
        return found
    result = await _make_plan(ctx)
    ctx.remember("ssdp-plan", result)
    return result


async def _make_plan(ctx: CheckContext) -> _Plan | str:
    if not ctx.options.interfaces:
        return "no interface chosen for multicast (--interface IF)"
    error = ctx.memo("ssdp-error")
    if isinstance(error, str):
        return error
    probe = ctx.memo("ssdp-probe")
    if not isinstance(probe, SsdpProbe):
        await prepare(ctx)
        probe = ctx.memo("ssdp-probe")
        if not isinstance(probe, SsdpProbe):
            return str(ctx.memo("ssdp-error") or "SSDP could not be started")
    description, why = await ctx.description()
    if description is None:
        return why
    root = description.device
    plan = _Plan(root=root, ads=advertisements(root), udns={d.udn for d in root.iter_devices()})
    _, host = group_of(probe.interfaces[0])
    for target in _targets(root):
        mx = ALL_MX if target == "ssdp:all" else 1
        plan.positive[target] = Search(
            name=target, datagram=build_msearch(target, mx=mx, host=host), mx=mx
        )
    for name, datagram in _negative_searches(root, host).items():
        plan.negative[name] = Search(name=name, datagram=datagram, mx=1)
    searches = [*plan.positive.values(), *plan.negative.values()]
    ctx.progress(
        f"{len(searches)} M-SEARCHes at {RATE:g}/s, listening until each MX (1-{ALL_MX} s) is over"
    )
    await probe.search(searches, rate=RATE, slack=SLACK + 1.0)  # late replies are heard as late
    for search in plan.positive.values():
        for heard in search.replies:
            if heard.message is not None and _ours(plan, heard) and heard.message.get("SERVER"):
                ctx.remember("ssdp-server", heard.message.get("SERVER"))
                break
    if not any(_ours(plan, h) for s in searches for h in s.replies) and not any(
        _ours(plan, h) for h in probe.announcements
    ):
        return (
            f"the device answered no search on {', '.join(ctx.options.interfaces)}: "
            "it is not reachable by multicast there"
        )
    return plan


async def _announcements(ctx: CheckContext) -> tuple[_Plan | str, list[Heard]]:
    """The plan and every announcement of the device heard (after the --listen window)."""
    plan = await _plan(ctx)
    if isinstance(plan, str):
        return plan, []
    probe = ctx.memo("ssdp-probe")
    assert isinstance(probe, SsdpProbe)
    if ctx.options.listen > 0 and not ctx.memo("ssdp-listened"):
        ctx.progress(f"listening {ctx.options.listen:g} s for ssdp:alive and ssdp:byebye")
        await asyncio.sleep(ctx.options.listen)
        ctx.remember("ssdp-listened", True)
    heard = [
        h
        for h in probe.announcements
        if h.message is not None and h.message.kind == "NOTIFY" and _ours(plan, h)
    ]
    return plan, heard


def _pairs(plan: _Plan, st: str) -> set[tuple[str, str]]:
    return {(ad.nt if st == "ssdp:all" else st, ad.usn) for ad in plan.ads if matches(ad, st)}


def _got(plan: _Plan, search: Search) -> set[tuple[str, str]]:
    return {
        (h.message.get("ST") or "", h.message.get("USN") or "")
        for h in search.replies
        if h.message is not None and _ours(plan, h)
    }


def _coverage(plan: _Plan, st: str) -> Finding:
    search = plan.positive[st]
    wanted = _pairs(plan, st)
    got = _got(plan, search)
    missing = sorted(usn for _, usn in wanted - got)
    sent = f"M-SEARCH ST: {st} MX: {search.mx}"
    received = f"{len(got)} of {len(wanted)} replies"
    if missing:
        return failed(
            st, sent=sent, received=received, detail=f"missing USN {', '.join(missing[:4])}"
        )
    return passed(st, sent=sent, received=received)


async def _each(ctx: CheckContext, targets: list[str] | None) -> AsyncIterator[Finding]:
    plan = await _plan(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    for st in targets if targets is not None else []:
        yield _coverage(plan, st)


async def search_all(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S4: ssdp:all gets one reply per advertisement (3 + 2d + k)."""
    async for finding in _each(ctx, ["ssdp:all"]):
        yield finding


async def search_root(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S4: upnp:rootdevice gets the root's reply."""
    async for finding in _each(ctx, ["upnp:rootdevice"]):
        yield finding


async def search_uuid(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S4: uuid:<UDN> of each device gets its reply."""
    plan = await _plan(ctx)
    targets = None if isinstance(plan, str) else [d.udn for d in plan.root.iter_devices()]
    async for finding in _each(ctx, targets):
        yield finding


async def search_types(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S4: each device and service type gets one reply per device that has it."""
    plan = await _plan(ctx)
    targets = None if isinstance(plan, str) else _targets(plan.root)[2 + len(plan.udns) :]
    async for finding in _each(ctx, targets):
        yield finding


def _all_replies(plan: _Plan) -> list[tuple[Search, Heard]]:
    return [(s, h) for s in plan.positive.values() for h in s.replies if _ours(plan, h)]


async def reply_form(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S7: every reply is complete."""
    plan = await _plan(ctx)
    if isinstance(plan, str):
        yield skipped("replies", plan)
        return
    problems = sorted(
        {
            f"{shorten(h.message.get('USN') or '?', 60)}: {problem}"
            for _, h in _all_replies(plan)
            if h.message is not None
            for problem in reply_problems(h.message)
        }
    )
    count = len(_all_replies(plan))
    if problems:
        yield failed(
            "replies",
            received="; ".join(problems[:3]),
            detail=f"{len(problems)} problems in {count} replies",
        )
    else:
        yield passed("replies", received=f"{count} replies complete")


async def reply_delay(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S2: replies arrive within MX, spread over it."""
    plan = await _plan(ctx)
    if isinstance(plan, str):
        yield skipped("ssdp:all", plan)
        return
    search = plan.positive["ssdp:all"]
    times = sorted(h.at - search.sent_at for h in search.replies if _ours(plan, h))
    sent = f"M-SEARCH ST: ssdp:all MX: {search.mx}"
    if not times:
        yield skipped("ssdp:all", "no reply to time")
        return
    received = f"{len(times)} replies between {times[0]:.2f} s and {times[-1]:.2f} s"
    if times[-1] > search.mx + SLACK:
        yield failed(
            "ssdp:all", sent=sent, received=received, detail=f"later than MX {search.mx} s"
        )
    elif len(times) > 1 and times[-1] - times[0] < 0.1:
        yield failed(
            "ssdp:all",
            sent=sent,
            received=received,
            detail="all at once: replies should be spread over MX so searchers are not flooded",
            tolerated=True,
        )
    else:
        yield passed("ssdp:all", sent=sent, received=received)


async def no_reply(ctx: CheckContext) -> AsyncIterator[Finding]:
    """S1, S2, S4: searches that must get no reply get none."""
    plan = await _plan(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    for name, search in plan.negative.items():
        first_line = search.datagram.split(b"\r\n", 1)[0].decode()
        lines = [
            line
            for line in search.datagram.decode().split("\r\n")[1:]
            if line and not line.startswith("HOST")
        ]
        sent = f"{first_line} | {' | '.join(lines)}"
        answers = [h for h in search.replies if _ours(plan, h)]
        if answers:
            yield failed(name, sent=sent, received=f"{len(answers)} replies")
        else:
            yield passed(name, sent=sent, received="no reply")


def _messages(plan: _Plan, announcements: list[Heard]) -> list[Heard]:
    return [h for _, h in _all_replies(plan)] + announcements


async def max_age_check(ctx: CheckContext) -> AsyncIterator[Finding]:
    """A7: CACHE-CONTROL max-age of at least 1800 s."""
    plan, heard = await _announcements(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    ages = sorted(
        {
            age
            for h in _messages(plan, heard)
            if h.message is not None
            and (age := max_age(h.message.get("CACHE-CONTROL"))) is not None
        }
    )
    if not ages:
        yield skipped("device", "no max-age to judge (see ssdp.reply-form)")
    elif ages[0] < MIN_MAX_AGE:
        yield failed(
            "device",
            received=f"max-age {', '.join(map(str, ages))}",
            detail="below 1800 s: caches forget the device between announcements",
        )
    else:
        yield passed("device", received=f"max-age {', '.join(map(str, ages))}")


async def location(ctx: CheckContext) -> AsyncIterator[Finding]:
    """LOCATION fetches this device's description; its host is the sender (rule D1)."""
    plan, heard = await _announcements(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    by_location: dict[str, set[str]] = {}
    for h in _messages(plan, heard):
        value = h.message.get("LOCATION") if h.message is not None else None
        if value:
            by_location.setdefault(value, set()).add(h.source[0])
    if not by_location:
        yield skipped("device", "no LOCATION to judge (see ssdp.reply-form)")
        return
    for value, sources in sorted(by_location.items()):
        reply = await ctx.request("GET", value, sent=f"GET {value}")
        udn = None
        if reply.status == 200:
            try:
                udn = parse_device_description(reply.body).device.udn
            except RemoteProtocolError:
                udn = None
        if udn != plan.root.udn:
            yield failed(
                value,
                sent=reply.sent,
                received=reply.received if udn is None else f"the description of {udn}",
                detail=f"expected the description of {plan.root.udn}",
            )
            continue
        host = plain_ip(urlsplit(value).hostname or "")
        strangers = sorted(s for s in sources if plain_ip(s) != host)
        if strangers:
            yield failed(
                value,
                received=f"sent from {', '.join(strangers)}",
                detail="LOCATION's host is not the sender: control points that guard against SSRF ignore it",
                tolerated=True,
            )
        else:
            yield passed(value, sent=reply.sent, received=f"the description of {udn}")


async def usn(ctx: CheckContext) -> AsyncIterator[Finding]:
    """A5, S4: every (ST or NT, USN) pair is one the description gives; ST echoes the search."""
    plan, heard = await _announcements(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    known = {(ad.nt, ad.usn) for ad in plan.ads}
    problems: set[str] = set()
    for search in plan.positive.values():
        for h in search.replies:
            if h.message is None or not _ours(plan, h):
                continue
            st, got_usn = h.message.get("ST") or "", h.message.get("USN") or ""
            if search.name != "ssdp:all" and st != search.name:
                problems.add(f"a search for {search.name} was answered with ST {st}")
            pair_st = st if search.name == "ssdp:all" else _nt_of(plan, got_usn)
            if (pair_st, got_usn) not in known:
                problems.add(f"reply ST {st} USN {got_usn} is not in the description")
    for h in heard:
        assert h.message is not None
        pair = (h.message.get("NT") or "", h.message.get("USN") or "")
        if pair not in known:
            problems.add(f"announcement NT {pair[0]} USN {pair[1]} is not in the description")
    if problems:
        yield failed(
            "device", received="; ".join(sorted(problems)[:3]), detail=f"{len(problems)} problems"
        )
    else:
        yield passed("device", received=f"{len(known)} advertisements, all consistent")


def _nt_of(plan: _Plan, usn_value: str) -> str:
    for ad in plan.ads:
        if ad.usn == usn_value:
            return ad.nt
    return ""


async def bootid(ctx: CheckContext) -> AsyncIterator[Finding]:
    """A4: BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG present and stable (UDA 1.1)."""
    plan, heard = await _announcements(ctx)
    if isinstance(plan, str):
        yield skipped("device", plan)
        return
    messages = sorted(_messages(plan, heard), key=lambda h: h.at)
    uda = await ctx.uda()
    boot_ids = [h.message.get("BOOTID.UPNP.ORG") if h.message else None for h in messages]
    if uda < (1, 1) and not any(boot_ids):
        yield skipped("device", f"the device claims UDA {uda[0]}.{uda[1]}, which has no BOOTID")
        return
    problems: list[str] = []
    if any(b is None for b in boot_ids):
        problems.append(
            f"{sum(b is None for b in boot_ids)} of {len(messages)} messages without BOOTID.UPNP.ORG"
        )
    config_ids = {h.message.get("CONFIGID.UPNP.ORG") for h in messages if h.message is not None}
    if uda >= (1, 1) and None in config_ids:
        problems.append("messages without CONFIGID.UPNP.ORG")
    if len(config_ids - {None}) > 1:
        problems.append(
            f"CONFIGID.UPNP.ORG changes: {', '.join(sorted(c or '' for c in config_ids))}"
        )
    boot: str | None = None
    for h, value in zip(messages, boot_ids, strict=True):
        assert h.message is not None
        if value is None:
            continue
        if boot is not None and value != boot:
            if (h.message.get("NTS") or "").lower() == "ssdp:alive" and _after_byebye(messages, h):
                new, old = decimal(value), decimal(boot)
                if new is None or old is None or new <= old:
                    problems.append(f"BOOTID went from {boot} to {value} at a restart, not up")
            else:
                problems.append(f"BOOTID changed from {boot} to {value} without a restart")
        boot = value
    seen = ", ".join(sorted({b for b in boot_ids if b}))
    if problems:
        yield failed("device", received="; ".join(problems[:3]), detail=f"BOOTIDs seen: {seen}")
    else:
        yield passed(
            "device",
            received=f"BOOTID {seen}, CONFIGID {', '.join(sorted(c or '' for c in config_ids))}",
        )


def _after_byebye(messages: list[Heard], alive: Heard) -> bool:
    return any(
        h.message is not None
        and (h.message.get("NTS") or "").lower() == "ssdp:byebye"
        and h.at < alive.at
        for h in messages
    )


def _announced(plan: _Plan, heard: list[Heard], nts: str) -> tuple[list[Heard], Finding | None]:
    found = [
        h for h in heard if h.message is not None and (h.message.get("NTS") or "").lower() == nts
    ]
    if not found:
        return found, skipped(
            "device",
            f"no {nts} heard during the run (restart the device while `check --listen SECONDS` listens)",
        )
    return found, None


def _set_finding(plan: _Plan, found: list[Heard], nts: str) -> Finding:
    wanted = {(ad.nt, ad.usn) for ad in plan.ads}
    got = {
        (h.message.get("NT") or "", h.message.get("USN") or "")
        for h in found
        if h.message is not None
    }
    problems = sorted(
        {p for h in found if h.message is not None for p in announcement_problems(h.message)}
    )
    missing = sorted(usn for _, usn in wanted - got)
    received = f"{len(got & wanted)} of {len(wanted)} advertisements"
    if missing or problems:
        detail = "; ".join(
            ([f"missing {', '.join(missing[:3])}"] if missing else []) + problems[:3]
        )
        return failed("device", sent=f"(heard {nts})", received=received, detail=detail)
    return passed("device", sent=f"(heard {nts})", received=received)


def _announcement_check(nts: str, doc: str) -> CheckFn:
    """A check that every advertisement was announced with ``nts``, each complete."""

    async def run(ctx: CheckContext) -> AsyncIterator[Finding]:
        plan, heard = await _announcements(ctx)
        if isinstance(plan, str):
            yield skipped("device", plan)
            return
        found, skip = _announced(plan, heard, nts)
        yield skip or _set_finding(plan, found, nts)

    run.__doc__ = doc
    return run


alive_set = _announcement_check(
    "ssdp:alive", "A1, A5, A6: ssdp:alive for every advertisement (3 + 2d + k), each complete."
)
byebye = _announcement_check(
    "ssdp:byebye", "A3, A6: ssdp:byebye for every advertisement when the device stops."
)


_check = suite_rows("discovery")


CHECKS: Final = (
    _check(
        "ssdp.search-all",
        "M-SEARCH ssdp:all",
        "one reply for every advertisement of the description (3 + 2d + k)",
        "UDA 1.1 §1.3.2, §1.2.2; rules S4, A5",
        search_all,
    ),
    _check(
        "ssdp.search-root",
        "M-SEARCH upnp:rootdevice",
        "the root device's reply",
        "UDA 1.1 §1.3.2; rule S4",
        search_root,
    ),
    _check(
        "ssdp.search-uuid",
        "M-SEARCH uuid:<UDN> for every device",
        "that device's reply",
        "UDA 1.1 §1.3.2; rule S4",
        search_uuid,
    ),
    _check(
        "ssdp.search-type",
        "M-SEARCH for every device and service type",
        "one reply per device having it, ST as searched",
        "UDA 1.1 §1.3.2; rule S4",
        search_types,
    ),
    _check(
        "ssdp.reply-form",
        "every search reply is complete",
        "HTTP/1.1 200 with CACHE-CONTROL max-age, EXT, LOCATION, SERVER, ST, USN",
        "UDA 1.1 §1.3.3; rule S7",
        reply_form,
    ),
    _check(
        "ssdp.reply-delay",
        "reply times against MX",
        "every reply within MX seconds, spread over it",
        "UDA 1.1 §1.3.3; rule S2",
        reply_delay,
    ),
    _check(
        "ssdp.no-reply",
        "searches that must get no reply",
        "no reply to an unknown UDN, a higher version than offered, a missing MAN, a missing, "
        "empty, non-integer or negative MX, a missing or empty ST, a request-URI other than *",
        "UDA 1.1 §1.3.2; rules S1, S2, S4",
        no_reply,
    ),
    _check(
        "ssdp.max-age",
        "CACHE-CONTROL max-age",
        "at least 1800 seconds",
        "UDA 1.1 §1.2.2; rule A7",
        max_age_check,
        Severity.SHOULD,
    ),
    _check(
        "ssdp.location",
        "LOCATION of replies and announcements",
        "it fetches this device's description, and its host is the sender's address",
        "UDA 1.1 §1.2.2, §1.3.3; rule D1",
        location,
    ),
    _check(
        "ssdp.usn",
        "ST/NT and USN against the description",
        "every (ST or NT, USN) pair is an advertisement of the description; ST echoes the search",
        "UDA 1.1 §1.2.2, §1.3.3; rules A5, S4",
        usn,
    ),
    _check(
        "ssdp.bootid",
        "BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG",
        "both in every message (UDA 1.1); one BOOTID per boot, greater after a restart; one CONFIGID",
        "UDA 1.1 §1.2.2; rule A4",
        bootid,
    ),
    _check(
        "ssdp.alive",
        "ssdp:alive announcements",
        "one ssdp:alive for every advertisement (3 + 2d + k), each with HOST, CACHE-CONTROL, "
        "LOCATION, NT, NTS, SERVER, USN",
        "UDA 1.1 §1.2.2; rules A1, A5, A6",
        alive_set,
    ),
    _check(
        "ssdp.byebye",
        "ssdp:byebye when the device stops",
        "one ssdp:byebye for every advertisement, each with HOST, NT, NTS, USN",
        "UDA 1.1 §1.2.4; rules A3, A6",
        byebye,
    ),
)
