"""Action arguments checked and converted against an SCPD (UDA 1.1 §3.2.2).

Device side (:func:`decode_in_arguments`): the raw ``(name, text)`` pairs of a
request become typed values, or :class:`UPnPError`:

* 402 Invalid Args: a missing, extra or duplicated argument, or a value that is
  not of the argument's data type (a service may choose to ignore arguments its
  SCPD does not list, rule I6: Sonos zone players do, and SoCo relies on it);
* 601 Argument Value Out of Range: outside the ``allowedValueRange``, off its
  step, or not in the ``allowedValueList`` (UDA 1.1 table 3-3 defines 601 so:
  "... or is not in the allowed value list"), unless the service names its
  own code for that variable (``value_faults``, rule I4: AVTransport answers a
  seek mode or play speed it does not list with 710 / 717).

Control-point side (:func:`encode_arguments`) applies the same checks before
anything is sent. :func:`out_argument_problems` judges a response the way a
conformance checker must (H8: every out-argument, in SCPD order, of its type). Arguments may arrive in any order (real control points are
sloppy); they are always *sent* in SCPD order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from upnpcm.core.datatypes import UPnPValue, from_wire, to_wire
from upnpcm.core.description import Action, Argument, ServiceDescription, StateVariable
from upnpcm.errors import UPnPError

__all__ = [
    "check_allowed",
    "decode_arguments",
    "decode_in_arguments",
    "encode_arguments",
    "out_argument_problems",
    "rename_lone_out_argument",
    "variable_for",
]


def variable_for(scpd: ServiceDescription, argument: Argument) -> StateVariable:
    """The state variable that types ``argument`` (a plain string if the SCPD lacks it)."""
    var = scpd.state_variable(argument.related_state_variable)
    if var is None:  # rare (a sloppy SCPD): no cache, so nothing unbounded at module level
        var = StateVariable(name=argument.related_state_variable, data_type="string")
    return var


def check_allowed(var: StateVariable, value: UPnPValue, text: str, arg_name: str) -> None:
    """Enforce ``allowedValueList`` and ``allowedValueRange`` of ``var`` (both 601)."""
    if var.allowed_values is not None and text not in var.allowed_values:
        raise UPnPError(601, f"{arg_name}={text!r} is not one of {', '.join(var.allowed_values)}")
    value_range = var.allowed_range
    if value_range is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    from decimal import Decimal, InvalidOperation  # rare: only ranged variables need it

    try:
        minimum = Decimal(value_range.minimum.strip()) if value_range.minimum.strip() else None
        maximum = Decimal(value_range.maximum.strip()) if value_range.maximum.strip() else None
        step = (
            Decimal(value_range.step.strip())
            if value_range.step and value_range.step.strip()
            else None
        )
    except InvalidOperation:
        return  # the SCPD's own range is garbage: nothing sensible to enforce
    number = Decimal(str(value))
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise UPnPError(
            601, f"{arg_name}={text} is outside {value_range.minimum}..{value_range.maximum}"
        )
    if step and minimum is not None and (number - minimum) % step != 0:
        raise UPnPError(601, f"{arg_name}={text} is not on a step of {value_range.step}")


def decode_in_arguments(
    scpd: ServiceDescription,
    action: Action,
    pairs: Sequence[tuple[str, str]],
    *,
    value_faults: Mapping[str, int] | None = None,
    ignore_extra: bool = False,
) -> dict[str, UPnPValue]:
    """Check and convert the in-arguments of a request (device side).

    ``value_faults`` maps a state variable's name to the error code a value
    outside its allowed list or range gets instead of 601 (rule I4).
    ``ignore_extra`` drops arguments the action does not list instead of
    answering 402 (rule I6); a duplicate is still 402.

    Raises:
        UPnPError: 402 or 601 (or the ``value_faults`` code) as described in
            the module docstring.
    """
    expected = action.in_arguments
    if len(pairs) != len(expected) and not ignore_extra:
        names = {name for name, _ in pairs}
        missing = [a.name for a in expected if a.name not in names]
        if missing:
            raise UPnPError(402, f"missing argument {missing[0]}")
    typed = scpd.typed_arguments(action)
    values: dict[str, UPnPValue] = {}
    for name, text in pairs:
        entry = typed.get(name)
        if entry is None or entry[0].direction != "in":
            if ignore_extra:
                continue  # I6: the service ignores what its SCPD does not list
            raise UPnPError(402, f"unexpected argument {name}")
        if name in values:
            raise UPnPError(402, f"duplicate argument {name}")
        var = entry[1]
        value = from_wire(var.data_type, text)
        if var.allowed_values is not None or var.allowed_range is not None:
            try:
                check_allowed(var, value, text, name)
            except UPnPError as exc:
                code = value_faults.get(var.name) if value_faults else None
                if code is None:
                    raise
                raise UPnPError(code, exc.description) from None
        values[name] = value
    for arg in expected:
        if arg.name not in values:
            raise UPnPError(402, f"missing argument {arg.name}")
    return values


def encode_arguments(
    scpd: ServiceDescription,
    arguments: Iterable[Argument],
    values: Mapping[str, object],
) -> list[tuple[str, str]]:
    """Check and convert values for ``arguments`` into wire pairs, in SCPD order.

    Used for a control point's in-arguments and a device's out-arguments.

    Raises:
        UPnPError: 402 for a missing/unknown argument or a wrong type, 601
            for a value outside the allowed list or range.
    """
    arguments = tuple(arguments)
    known = {arg.name for arg in arguments}
    if not known.issuperset(values):  # an unknown name is reported before anything else
        for name in values:
            if name not in known:
                raise UPnPError(402, f"unexpected argument {name}")
    pairs: list[tuple[str, str]] = []
    for arg in arguments:
        if arg.name not in values:
            raise UPnPError(402, f"missing argument {arg.name}")
        var = variable_for(scpd, arg)
        text = to_wire(var.data_type, values[arg.name])
        if var.allowed_values is not None or var.allowed_range is not None:
            check_allowed(var, from_wire(var.data_type, text), text, arg.name)
        pairs.append((arg.name, text))
    return pairs


def decode_arguments(
    scpd: ServiceDescription,
    arguments: Iterable[Argument],
    pairs: Sequence[tuple[str, str]],
    *,
    strict: bool = False,
) -> dict[str, UPnPValue]:
    """Convert wire pairs (e.g. a response's out-arguments) to typed values.

    Lenient by default, as a control point must be: unknown names are kept as
    strings, a value that does not parse as its type is kept as text, and a
    missing argument is simply absent. With ``strict`` those raise 402.
    """
    by_name = {arg.name: arg for arg in arguments}
    values: dict[str, UPnPValue] = {}
    for name, text in pairs:
        arg = by_name.get(name)
        if arg is None:
            if strict:
                raise UPnPError(402, f"unexpected argument {name}")
            values[name] = text
            continue
        var = variable_for(scpd, arg)
        try:
            values[name] = from_wire(var.data_type, text)
        except UPnPError:
            if strict:
                raise
            values[name] = text
    if strict:
        for name in by_name:
            if name not in values:
                raise UPnPError(402, f"missing argument {name}")
    return values


def out_argument_problems(
    scpd: ServiceDescription, action: Action, pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """H8: how a response's out-arguments differ from the SCPD's (names, order, types).

    For a conformance checker; a control point reads responses with the
    lenient :func:`decode_arguments`.
    """
    wanted = [arg.name for arg in action.out_arguments]
    got = [name for name, _ in pairs]
    problems: list[str] = []
    missing = [name for name in wanted if name not in got]
    extra = [name for name in got if name not in wanted]
    if missing:
        problems.append(f"missing out-argument {', '.join(missing)}")
    if extra:
        problems.append(f"unknown out-argument {', '.join(extra)}")
    if not missing and not extra and got != wanted:
        problems.append(f"out-arguments in the order {', '.join(got)}, not {', '.join(wanted)}")
    by_name = {arg.name: arg for arg in action.out_arguments}
    for name, text in pairs:
        arg = by_name.get(name)
        if arg is None:
            continue
        var = variable_for(scpd, arg)
        try:
            from_wire(var.data_type, text)
        except UPnPError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            problems.append(f"{name}={shown!r} is not a {var.data_type}")
    return problems


def rename_lone_out_argument(
    arguments: Iterable[Argument], pairs: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], str | None]:
    """Read a lone out-argument under the SCPD's name when the device misnames it (rule D4).

    When the action has exactly one out-argument and the answer holds exactly
    one value under another name (gerbera answers GetCurrentConnectionIDs with
    ``ConnectionID``), the value is returned under the SCPD's name together
    with a sentence saying so; otherwise the pairs come back as they are, and None.
    """
    expected = [arg.name for arg in arguments]
    if len(expected) != 1 or len(pairs) != 1 or pairs[0][0] == expected[0]:
        return list(pairs), None
    name, text = pairs[0]
    note = f"the answer's only value is named {name!r}, the SCPD's only out-argument {expected[0]!r}: read as {expected[0]}"
    return [(expected[0], text)], note
