"""The control suite: read-only actions called right and wrong, and the fault form of errors.

Only actions whose name starts with ``Get`` are called (they change
nothing), with values the SCPD allows (:func:`~upnpcm.core.validate.sample_value`)
or, on purpose, with values it does not. Requests go out raw: the control
point would refuse to send a missing argument or an unknown action.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

from upnpcm.aio.control_point import RemoteService
from upnpcm.check.context import CheckContext, SoapExchange
from upnpcm.check.registry import (
    Finding,
    failed,
    passed,
    skipped,
    suite_rows,
)
from upnpcm.core.arguments import out_argument_problems, variable_for
from upnpcm.core.description import Action, StateVariable
from upnpcm.core.soap import fault_problems
from upnpcm.core.validate import out_of_range_value, sample_value, wrong_type_value

__all__ = ["CHECKS", "UNKNOWN_ACTION"]

#: The action name no service has.
UNKNOWN_ACTION: Final = "UpnpcmNoSuchAction"
#: Slower than this is a WARN (a control point's user waits; H9 allows 30 s).
SLOW: Final = 2.0
#: Covered by the connection manager suite (connection 0, unknown IDs).
_CM_INFO: Final = "GetCurrentConnectionInfo"


def _read_actions(service: RemoteService) -> list[Action]:
    return [a for a in service.scpd.actions if a.name.startswith("Get")]


def _is_cm(service: RemoteService) -> bool:
    return ":service:ConnectionManager:" in service.service.service_type


def _valid_pairs(service: RemoteService, action: Action) -> list[tuple[str, str]]:
    return [
        (arg.name, sample_value(variable_for(service.scpd, arg))) for arg in action.in_arguments
    ]


async def _read_calls(ctx: CheckContext) -> list[tuple[str, SoapExchange | str]]:
    """(subject, the call or why it was not made) for every Get action, once per run."""
    found = ctx.memo("read-calls")
    if isinstance(found, list):
        return found
    calls: list[tuple[str, SoapExchange | str]] = []
    for service in await ctx.services():
        for action in _read_actions(service):
            subject = f"{service.qualified_name} {action.name}"
            if _is_cm(service) and action.name == _CM_INFO:
                calls.append((subject, "covered by cm.connection-zero-info and cm.unknown-id"))
                continue
            ctx.progress(f"calling {subject}")
            calls.append(
                (subject, await ctx.soap(service, action.name, _valid_pairs(service, action)))
            )
    ctx.remember("read-calls", calls)
    return calls


async def read_actions(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Every Get action with valid values: its out-arguments, or a fault that is not 401/402."""
    calls = await _read_calls(ctx)
    if not calls:
        _, why = await ctx.device()
        yield skipped("device", why or "no service offers a Get action")
        return
    services = {
        f"{s.qualified_name} {a.name}": (s, a) for s in await ctx.services() for a in s.scpd.actions
    }
    for subject, call in calls:
        if isinstance(call, str):
            yield skipped(subject, call)
            continue
        service, action = services[subject]
        if call.error is not None:
            yield failed(subject, sent=call.sent, received=call.received)
        elif call.fault is not None:
            if call.fault.code in (401, 402):
                yield failed(
                    subject,
                    sent=call.sent,
                    received=call.received,
                    detail="valid arguments were sent",
                )
            else:
                yield passed(
                    subject,
                    sent=call.sent,
                    received=call.received,
                    detail="a fault of the action's own",
                )
        else:
            problems = out_argument_problems(service.scpd, action, call.out or ())
            if problems:
                yield failed(subject, sent=call.sent, received="; ".join(problems[:3]))
            else:
                yield passed(subject, sent=call.sent, received=call.received)


async def response_time(ctx: CheckContext) -> AsyncIterator[Finding]:
    """H9: every Get action answered within 30 s; over 2 s is a WARN."""
    calls = [(s, c) for s, c in await _read_calls(ctx) if isinstance(c, SoapExchange)]
    if not calls:
        yield skipped("device", "no Get action was called")
        return
    for subject, call in calls:
        took = f"{call.seconds * 1000:.0f} ms"
        if call.status is None:
            yield failed(
                subject, sent=call.sent, received=f"{call.received} after {call.seconds:.1f} s"
            )
        elif call.seconds > 30:
            yield failed(subject, sent=call.sent, received=f"answered after {took}")
        elif call.seconds > SLOW:
            yield failed(
                subject,
                sent=call.sent,
                received=f"answered after {took}",
                detail=f"over {SLOW:g} s: a control point's user waits (UDA allows 30 s)",
                tolerated=True,
            )
        else:
            yield passed(subject, sent=call.sent, received=took)


async def _each_service(
    ctx: CheckContext,
    pick: Callable[[RemoteService], tuple[str, list[tuple[str, str]]] | str],
) -> AsyncIterator[tuple[RemoteService, SoapExchange | str]]:
    """For every service, the call ``pick`` chooses (action, pairs), or the reason there is none."""
    services = await ctx.services()
    for service in services:
        choice = pick(service)
        if isinstance(choice, str):
            yield service, choice
            continue
        action, pairs = choice
        ctx.progress(f"calling {service.qualified_name} {action}")
        yield service, await ctx.soap(service, action, pairs)


async def _unknown_action_calls(ctx: CheckContext) -> list[tuple[RemoteService, SoapExchange]]:
    found = ctx.memo("unknown-action-calls")
    if isinstance(found, list):
        return found
    calls: list[tuple[RemoteService, SoapExchange]] = []
    async for service, call in _each_service(ctx, lambda s: (UNKNOWN_ACTION, [])):
        assert isinstance(call, SoapExchange)
        calls.append((service, call))
    ctx.remember("unknown-action-calls", calls)
    return calls


def _expect(
    subject: str, call: SoapExchange | str, codes: tuple[int, ...], *, also_ok: bool = False
) -> Finding:
    """A fault with one of ``codes`` (or, with ``also_ok``, a 200) holds; anything else not."""
    if isinstance(call, str):
        return skipped(subject, call)
    if call.fault_code in codes or (also_ok and call.out is not None):
        return passed(subject, sent=call.sent, received=call.received)
    return failed(subject, sent=call.sent, received=call.received)  # the row says what is required


async def unknown_action(ctx: CheckContext) -> AsyncIterator[Finding]:
    """401 for an action the service does not have."""
    calls = await _unknown_action_calls(ctx)
    if not calls:
        yield skipped("device", "no service with a usable SCPD")
    for service, call in calls:
        yield _expect(service.qualified_name, call, (401,))


async def fault_form(ctx: CheckContext) -> AsyncIterator[Finding]:
    """H5: an error answer is exactly the UPnPError fault (judged on the unknown-action answers)."""
    calls = await _unknown_action_calls(ctx)
    if not calls:
        yield skipped("device", "no service with a usable SCPD")
    for service, call in calls:
        if call.status is None:
            yield skipped(service.qualified_name, f"no answer to judge ({call.received})")
            continue
        if call.status == 200 and call.fault is None:
            yield skipped(
                service.qualified_name, "the unknown action was answered 200: no fault to judge"
            )
            continue
        problems = fault_problems(call.status, call.content_type, call.body)
        if problems:
            yield failed(service.qualified_name, sent=call.sent, received="; ".join(problems[:4]))
        else:
            yield passed(service.qualified_name, sent=call.sent, received=call.received)


def _missing_argument(service: RemoteService) -> tuple[str, list[tuple[str, str]]] | str:
    for action in _read_actions(service):
        if action.in_arguments:
            return action.name, _valid_pairs(service, action)[:-1]
    return "no Get action with in-arguments"


def _extra_argument(service: RemoteService) -> tuple[str, list[tuple[str, str]]] | str:
    for action in _read_actions(service):
        if not (_is_cm(service) and action.name == _CM_INFO):
            return action.name, [*_valid_pairs(service, action), ("UpnpcmExtra", "1")]
    return "no Get action"


def _with_bad_value(
    make: Callable[[StateVariable], str | None], none: str
) -> Callable[[RemoteService], tuple[str, list[tuple[str, str]]] | str]:
    """Pick the first Get action with an in-argument ``make`` has a bad value for."""

    def pick(service: RemoteService) -> tuple[str, list[tuple[str, str]]] | str:
        for action in _read_actions(service):
            for index, arg in enumerate(action.in_arguments):
                bad = make(variable_for(service.scpd, arg))
                if bad is not None:
                    pairs = _valid_pairs(service, action)
                    pairs[index] = (arg.name, bad)
                    return action.name, pairs
        return none

    return pick


_wrong_type = _with_bad_value(wrong_type_value, "no Get action with a non-string in-argument")
_out_of_range = _with_bad_value(
    out_of_range_value, "no Get action with an allowedValueList or allowedValueRange in-argument"
)


async def missing_argument(ctx: CheckContext) -> AsyncIterator[Finding]:
    """402 when an in-argument is left out."""
    async for service, call in _each_service(ctx, _missing_argument):
        yield _expect(service.qualified_name, call, (402,))


async def extra_argument(ctx: CheckContext) -> AsyncIterator[Finding]:
    """402 for an argument the action does not have (UDA 1.1 lets a device ignore it: 200).

    A fault the action answers without the extra argument too says nothing of
    how the extra one is handled (a vendor service that ignores it, and does
    not support the action): nothing to judge.
    """
    async for service, call in _each_service(ctx, _extra_argument):
        code = call.fault_code if isinstance(call, SoapExchange) else None
        choice = _extra_argument(service)
        if isinstance(call, SoapExchange) and code is not None and code != 402:
            assert not isinstance(choice, str)  # a call was made, so an action was chosen
            action, pairs = choice[0], choice[1][:-1]  # the same call without the extra one
            plain = await ctx.soap(service, action, pairs)
            if plain.fault_code == code:
                yield skipped(
                    service.qualified_name,
                    f"{action} answers UPnP error {code} without the extra argument too",
                )
                continue
        yield _expect(service.qualified_name, call, (402,), also_ok=True)


async def wrong_type(ctx: CheckContext) -> AsyncIterator[Finding]:
    """402 (or 600) for a value that is not of the argument's type."""
    async for service, call in _each_service(ctx, _wrong_type):
        yield _expect(service.qualified_name, call, (402, 600))


async def out_of_range(ctx: CheckContext) -> AsyncIterator[Finding]:
    """600 or 601 for a value outside the allowedValueList or range (402 tolerated)."""
    uda = await ctx.uda()
    async for service, call in _each_service(ctx, _out_of_range):
        subject = service.qualified_name
        code = call.fault_code if isinstance(call, SoapExchange) else None
        if isinstance(call, SoapExchange) and code is not None and 700 <= code < 800:
            yield failed(
                subject,
                sent=call.sent,
                received=call.received,
                detail="a code of the service's own, not UDA's 600/601: generic control points miss it",
                tolerated=True,
            )
            continue
        if isinstance(call, SoapExchange) and code == 402:
            if uda < (1, 1):
                yield passed(
                    subject,
                    sent=call.sent,
                    received=call.received,
                    detail="UDA 1.0 has 402 for this",
                )
            else:
                yield failed(
                    subject,
                    sent=call.sent,
                    received=call.received,
                    detail="UDA 1.1 names 600/601 for a value outside the allowed ones; 402 is the UDA 1.0 code",
                    tolerated=True,
                )
            continue
        yield _expect(subject, call, (600, 601))


_check = suite_rows("control")


CHECKS: Final = (
    _check(
        "ctl.read-actions",
        "every Get action called with valid values",
        "HTTP 200 with every out-argument, in SCPD order, of its type (or a fault of the "
        "action's own, never 401/402)",
        "UDA 1.1 §3.2.2; rule H8",
        read_actions,
    ),
    _check(
        "ctl.response-time",
        "response time of every Get action",
        "an answer within 30 s (over 2 s: a warning)",
        "UDA 1.1 §3.2.2; rule H9",
        response_time,
    ),
    _check(
        "ctl.unknown-action",
        "an action the service does not have",
        "UPnP error 401 Invalid Action",
        "UDA 1.1 §3.2.2 (table 3-3); rule H5",
        unknown_action,
    ),
    _check(
        "ctl.missing-argument",
        "an in-argument left out",
        "UPnP error 402 Invalid Args",
        "UDA 1.1 §3.2.2 (table 3-3)",
        missing_argument,
    ),
    _check(
        "ctl.extra-argument",
        "an argument the action does not have",
        "UPnP error 402 Invalid Args (UDA 1.1 lets a device ignore it and answer 200)",
        "UDA 1.0 §3.2.2; UDA 1.1 §3.2.2 (table 3-3)",
        extra_argument,
    ),
    _check(
        "ctl.wrong-type",
        "a value not of the argument's data type",
        "UPnP error 402 Invalid Args (or 600 Argument Value Invalid)",
        "UDA 1.1 §3.2.2 (table 3-3), §2.5 (table 2-4)",
        wrong_type,
    ),
    _check(
        "ctl.out-of-range",
        "a value outside the allowedValueList or allowedValueRange",
        "UPnP error 600 Argument Value Invalid or 601 Argument Value Out of Range (a service's "
        "own 7xx code, or 402 from UDA 1.1 on: a warning)",
        "UDA 1.1 §3.2.2 (table 3-3)",
        out_of_range,
    ),
    _check(
        "ctl.fault-form",
        "the form of an error answer",
        "HTTP 500, text/xml, a SOAP Fault with faultcode s:Client, faultstring UPnPError and "
        "detail/UPnPError/errorCode in urn:schemas-upnp-org:control-1-0",
        "UDA 1.1 §3.2.2; SOAP 1.1 §4.4; rule H5",
        fault_form,
    ),
)
