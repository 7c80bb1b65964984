"""Services of one's own: actions declared as methods, state as variables (rules I1-I5, Q1-Q5).

A service is a class. Its SCPD is either XML text (``scpd = "<scpd>…"``, served
byte for byte) or built from declarations: :class:`StateVariable` class
attributes and :func:`action` methods. Action methods receive their
in-arguments checked and converted (the device core answers 402/601 before
the method runs) and return their out-arguments; raising (or returning) a
:class:`~upnpcm.errors.UPnPError` answers that exact fault, any other
exception 501. ``async def`` actions work too: they are awaited by the
adapter, at most ``action_timeout`` seconds (rule I2).

::

    class Counter(Service):
        service_type = "urn:example-com:service:Counter:1"

        Count = StateVariable("ui4", default=0)  # evented (sendEvents="yes")
        A_ARG_TYPE_Step = StateVariable("ui4", minimum=1, maximum=10)  # A_ARG_TYPE_: not evented

        @action(args={"Step": A_ARG_TYPE_Step}, out={"NewCount": Count})
        def increment(self, step: int) -> int:
            self.Count += step  # evented to subscribers
            return self.Count

Names: an action is the method's name in CamelCase (``increment`` ->
``Increment``) unless given (``@action("SetAVTransportURI")``); with an XML
SCPD a method also matches an action whose name differs only in case and
underscores. Each in-argument is passed to the parameter of the same name,
or of the same name in snake_case (``InstanceID`` -> ``instance_id``,
``CurrentURIMetaData`` -> ``current_uri_meta_data``); a method with
``**kwargs`` receives the rest by their SCPD names. Out-arguments: a mapping
(SCPD names or their snake_case), a single value when there is one, a tuple
in SCPD order, or None when there are none.

State: ``self.state[name]`` (or a :class:`StateVariable` attribute) is a
service-level variable; setting an evented one queues a GENA event. Services
with a ``last_change_namespace`` (AVTransport, RenderingControl) keep their
state per instance (``self.instance(0)["TransportState"] = "PLAYING"``,
``inst.set("Volume", 30, channel="Master")``): every such change goes out
through the moderated ``LastChange`` variable the library maintains
(:mod:`upnpcm.core.lastchange`). Values are checked against the SCPD when set
(a wrong one is the implementation's bug: ValueError).

Rule I5: an action listed in the SCPD without a method answers
``unimplemented_code`` (602 Optional Action Not Implemented by default);
:meth:`Service.fail_next` makes the next call(s) of an action answer a given
fault before the method runs (fault injection for tests). Changes made
outside an action (a timer, a task, a test "pressing a button") are delivered
too: the host is woken to drain them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypeVar, overload

from upnpcm.core.arguments import check_allowed
from upnpcm.core.connection_manager import StateVariablesChanged
from upnpcm.core.datatypes import DATA_TYPES, INTEGER_RANGES, UPnPValue, from_wire, to_wire
from upnpcm.core.description import (
    Action,
    AllowedValueRange,
    Argument,
    ServiceDescription,
    parse_scpd,
    render_scpd,
)
from upnpcm.core.description import StateVariable as VariableModel
from upnpcm.core.lastchange import LastChange
from upnpcm.errors import UpnpCmError, UPnPError

__all__ = ["Instance", "Service", "StateVariable", "action"]

_F = TypeVar("_F", bound=Callable[..., Any])
LAST_CHANGE: Final = "LastChange"
#: Results that are certainly not awaitable (no isinstance walk for them).
_PLAIN: Final = frozenset({dict, tuple, str, int, bool, float, bytes, UPnPError})


def _norm(name: str) -> str:
    """The key names are matched by: case and underscores do not count."""
    return name.replace("_", "").lower()


def _camel(name: str) -> str:
    """``set_volume`` -> ``SetVolume``; a name without underscores keeps its letters."""
    if "_" not in name:
        return name[:1].upper() + name[1:]
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


class StateVariable:
    """A state variable: declares it (for an SCPD built in Python) and gives typed access.

    Args:
        data_type: a UPnP data type (``ui4``, ``string``, ``boolean`` …);
            with an XML SCPD it may be left out (the SCPD's is used).
        default: the initial value (also the SCPD's ``defaultValue``).
        evented: ``sendEvents``; by default yes, except for ``A_ARG_TYPE_*``.
        allowed: the ``allowedValueList``.
        minimum, maximum, step: the ``allowedValueRange``.
        name: the variable's name when it differs from the attribute's.

    Reading the attribute on a service gives the service-level value;
    assigning it sets ``service.state[name]`` (evented if the variable is).
    """

    def __init__(
        self,
        data_type: str | None = None,
        *,
        default: object = None,
        evented: bool | None = None,
        allowed: Iterable[str] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        step: float | None = None,
        name: str | None = None,
    ) -> None:
        if data_type is not None and data_type not in DATA_TYPES:
            raise ValueError(f"unknown UPnP data type {data_type!r}")
        if (minimum is None) != (maximum is None):
            raise ValueError("an allowed range needs both minimum and maximum")
        self.data_type = data_type
        self.default = default
        self.evented = evented
        self.allowed = None if allowed is None else tuple(allowed)
        self.range = (
            None
            if minimum is None or maximum is None
            else AllowedValueRange(
                minimum=_number(minimum),
                maximum=_number(maximum),
                step=None if step is None else _number(step),
            )
        )
        self.name = name or ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    @overload
    def __get__(self, service: None, owner: type) -> StateVariable: ...
    @overload
    def __get__(self, service: Service, owner: type) -> Any: ...
    def __get__(self, service: Service | None, owner: type) -> Any:
        if service is None:
            return self
        return service.state[self.name]

    def __set__(self, service: Service, value: object) -> None:
        service.state[self.name] = value

    def model(self) -> VariableModel:
        """The SCPD entry this declaration stands for."""
        data_type = self.data_type or "string"
        evented = self.evented
        if evented is None:
            evented = not self.name.startswith("A_ARG_TYPE_")
        default = None if self.default is None else to_wire(data_type, self.default)
        return VariableModel(
            name=self.name,
            data_type=data_type,
            send_events=evented,
            default_value=default,
            allowed_values=self.allowed,
            allowed_range=self.range,
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class _ActionSpec:
    name: str | None
    #: (argument, variable): a StateVariable's name is known only once its class is made.
    args: tuple[tuple[str, str | StateVariable], ...] | None
    out: tuple[tuple[str, str | StateVariable], ...] | None
    cacheable: bool

    @staticmethod
    def names(
        pairs: tuple[tuple[str, str | StateVariable], ...] | None,
    ) -> list[tuple[str, str]]:
        """(argument, variable name) pairs."""
        return [
            (arg, var.name if isinstance(var, StateVariable) else var) for arg, var in pairs or ()
        ]


@overload
def action(name: _F, /) -> _F: ...
@overload
def action(
    name: str | None = None,
    /,
    *,
    args: Mapping[str, str | StateVariable] | None = None,
    out: Mapping[str, str | StateVariable] | None = None,
    cacheable: bool = False,
) -> Callable[[_F], _F]: ...
def action(
    name: str | _F | None = None,
    /,
    *,
    args: Mapping[str, str | StateVariable] | None = None,
    out: Mapping[str, str | StateVariable] | None = None,
    cacheable: bool = False,
) -> _F | Callable[[_F], _F]:
    """Mark a method as the implementation of an action.

    Args:
        name: the action's name (default: the method's name in CamelCase, or
            with an XML SCPD the action it matches).
        args: in-arguments in SCPD order, each with its state variable (an
            SCPD built in Python only; an XML SCPD already says).
        out: out-arguments in SCPD order, each with its state variable.
        cacheable: the answer depends only on the arguments and the service's
            state, so the device may answer repeats from a cache that every
            state change invalidates (rule M1).
    """
    if callable(name):
        return action()(name)

    spec = _ActionSpec(
        name,
        None if args is None else tuple(args.items()),
        None if out is None else tuple(out.items()),
        cacheable,
    )

    def mark(method: _F) -> _F:
        method.__upnp_action__ = spec  # type: ignore[attr-defined]
        return method

    return mark


# ------------------------------------------------------------------ state


class _Converter:
    """A variable's values to (wire text, typed value), checked against its SCPD entry.

    A bad value is the implementation's bug: ValueError, never a fault. The common
    cases (an int in an integral range, a str of an allowed list, a bool) skip the
    general conversion; the answers are the same.
    """

    __slots__ = ("_allowed", "_bounds", "_integer", "variable")

    def __init__(self, variable: VariableModel) -> None:
        self.variable = variable
        self._integer = variable.data_type in INTEGER_RANGES or variable.data_type == "int"
        self._allowed = (
            frozenset(variable.allowed_values) if variable.allowed_values is not None else None
        )
        self._bounds: tuple[int, int, int] | None = None
        bounds = INTEGER_RANGES.get(variable.data_type)
        value_range = variable.allowed_range
        if self._integer and value_range is not None:
            try:
                low, high = int(value_range.minimum), int(value_range.maximum)
                step = int(value_range.step) if value_range.step else 1
            except ValueError:
                self._integer = False  # a range of another shape: the general path checks it
            else:
                if bounds is not None:
                    low, high = max(low, bounds[0]), min(high, bounds[1])
                self._bounds = (low, high, step)
        elif bounds is not None:
            self._bounds = (bounds[0], bounds[1], 1)

    def __call__(self, value: object) -> tuple[str, UPnPValue]:
        if type(value) is int and self._integer and self._bounds is not None:
            low, high, step = self._bounds
            if low <= value <= high and (step == 1 or (value - low) % step == 0):
                return str(value), value
        elif type(value) is str and self._allowed is not None:
            if value in self._allowed and self.variable.data_type == "string":
                return value, value
        elif type(value) is bool and self.variable.data_type == "boolean":
            return ("1" if value else "0"), value
        return self._general(value)

    def _general(self, value: object) -> tuple[str, UPnPValue]:
        variable = self.variable
        try:
            text = to_wire(variable.data_type, value)
            typed = from_wire(variable.data_type, text)
            if variable.allowed_values is not None or variable.allowed_range is not None:
                check_allowed(variable, typed, text, variable.name)
        except (UPnPError, UpnpCmError) as exc:
            raise ValueError(f"{variable.name} = {value!r}: {exc}") from None
        return text, typed


class StateTable:
    """The service-level state variables of a service, by name (``service.state``)."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._values: dict[str, UPnPValue] = {}

    def __getitem__(self, name: str) -> Any:
        variable = self._service._variable(name)
        if name in self._values:
            return self._values[name]
        if variable.default_value is None:
            return None
        return from_wire(variable.data_type, variable.default_value)

    def __setitem__(self, name: str, value: object) -> None:
        variable = self._service._variable(name)
        if name == LAST_CHANGE and self._service._last_change is not None:
            raise ValueError("LastChange is maintained by the library: set instance variables")
        text, typed = self._service._converters[name](value)
        if name in self._values and self._values[name] == typed:
            return
        self._values[name] = typed
        self._service._state_changed(name if variable.send_events else None, text)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def update(self, values: Mapping[str, object] | None = None, /, **more: object) -> None:
        """Set several variables."""
        for name, value in {**(values or {}), **more}.items():
            self[name] = value

    def wire(self, name: str) -> str:
        """The wire text of a variable's current value ("" when it has none)."""
        variable = self._service._variable(name)
        if name in self._values:
            return to_wire(variable.data_type, self._values[name])
        return variable.default_value or ""


class Instance:
    """One instance (an InstanceID) of a LastChange service; its changes go out through LastChange."""

    def __init__(self, service: Service, instance_id: int) -> None:
        self._service = service
        self.id = instance_id
        self._values: dict[tuple[str, str], UPnPValue] = {}

    def get(self, name: str, channel: str = "", default: Any = None) -> Any:
        """The value of ``name`` (on ``channel``), or ``default`` when it has none."""
        return self._values.get((name, channel), default)

    def set(self, name: str, value: object, *, channel: str = "", force: bool = False) -> None:
        """Set ``name`` (on ``channel``); a change goes out with the next LastChange (Q2).

        ``force`` sends the value with the next LastChange even when it did not
        change (a vendor that repeats related values in every event).

        Raises:
            KeyError: no such state variable in the SCPD.
            ValueError: the value does not fit the variable.
        """
        converter = self._service._converters.get(name)
        if converter is None:
            raise KeyError(f"{self._service.service_type} has no state variable {name}")
        text, typed = converter(value)
        self._values[(name, channel)] = typed
        service = self._service
        last_change = service._last_change
        assert last_change is not None
        qualified = service.last_change_names.get(name, name) if service.last_change_names else name
        if last_change.set(self.id, qualified, text, channel=channel, force=force):
            self._service._state_changed(None, text)

    def update(self, values: Mapping[str, object] | None = None, /, **more: object) -> None:
        """Set several channel-less variables."""
        for name, value in {**(values or {}), **more}.items():
            self.set(name, value)

    def __getitem__(self, name: str) -> Any:
        return self._values.get((name, ""))

    def __setitem__(self, name: str, value: object) -> None:
        self.set(name, value)

    def __contains__(self, name: object) -> bool:
        return (name, "") in self._values


# --------------------------------------------------------------- binding


@dataclass(slots=True)
class _Binding:
    """How one action reaches its method."""

    action: Action
    method: Callable[..., Any]
    #: (SCPD in-argument name, parameter name); parameter "" = passed in **kwargs.
    params: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    out_names: dict[str, str] = field(default_factory=dict)
    keywords: tuple[tuple[str, str], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        #: (SCPD name, keyword it is passed as), resolved once.
        self.keywords = tuple((arg, param or arg) for arg, param in self.params)

    def call(self, service: Service, arguments: Mapping[str, object]) -> Any:
        return self.method(service, **{kw: arguments[arg] for arg, kw in self.keywords})

    def convert(self, result: object) -> dict[str, object]:
        """The out-arguments a method's result stands for (module docstring)."""
        if isinstance(result, UPnPError):
            raise result
        outputs = self.outputs
        if result is None:
            if outputs:
                raise TypeError(f"{self.action.name} returned None, not {', '.join(outputs)}")
            return {}
        if isinstance(result, Mapping):
            converted: dict[str, object] = {}
            for key, value in result.items():
                name = self.out_names.get(_norm(str(key)))
                if name is None:
                    raise TypeError(f"{self.action.name} has no out-argument {key!r}")
                converted[name] = value
            return converted
        if len(outputs) == 1:
            return {outputs[0]: result}
        if isinstance(result, tuple) and len(result) == len(outputs):
            return dict(zip(outputs, result, strict=True))
        raise TypeError(f"{self.action.name} must return its out-arguments {', '.join(outputs)}")


def _declared(cls: type) -> tuple[dict[str, StateVariable], dict[str, Callable[..., Any]]]:
    """StateVariable attributes and action methods of ``cls``, base classes first, in order."""
    variables: dict[str, StateVariable] = {}
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            if isinstance(value, StateVariable):
                variables[value.name] = value
            elif callable(value) and hasattr(value, "__upnp_action__"):
                methods[attribute] = value
    return variables, methods


def _service_name(service_type: str) -> str:
    parts = service_type.split(":")
    return parts[-2] if len(parts) >= 3 else service_type


def _default_service_id(service_type: str) -> str:
    parts = service_type.split(":")
    if len(parts) >= 5 and parts[0] == "urn":
        domain = "upnp-org" if parts[1] == "schemas-upnp-org" else parts[1]
        return f"urn:{domain}:serviceId:{parts[-2]}"
    return f"urn:upnp-org:serviceId:{_service_name(service_type)}"


class Service:
    """Base class of a hosted service (module docstring).

    Class attributes (each can also be given to the constructor):

    * ``service_type`` — ``urn:…:service:Name:v`` (required);
    * ``service_id`` — default ``urn:upnp-org:serviceId:Name`` (or the vendor's domain);
    * ``scpd`` — XML text (str/bytes, served as given) or a parsed
      :class:`~upnpcm.core.description.ServiceDescription`; None builds it from
      the declarations;
    * ``last_change_namespace`` — makes the service instance-based with LastChange
      eventing (:data:`~upnpcm.core.lastchange.AVT_NAMESPACE`,
      :data:`~upnpcm.core.lastchange.RCS_NAMESPACE`);
    * ``invalid_instance_code`` — fault of an unknown InstanceID (AVTransport 718,
      RenderingControl 702);
    * ``unimplemented_code`` — fault of an SCPD action without a method (I5);
    * ``value_faults`` — state variable -> code for a value outside its allowed
      list or range (rule I4; e.g. AVTransport's seek mode 710);
    * ``last_change_instance_tag``, ``last_change_prefixes`` (prefix ->
      namespace URI) and ``last_change_names`` (variable -> ``prefix:Name``)
      — a vendor's LastChange shape (rule Q6; Sonos: ``QueueID``, ``r:``);
    * ``ignore_extra_arguments`` — ignore in-arguments the SCPD does not list
      instead of answering 402 (rule I6; Sonos players do);
    * ``type_aliases`` — other service types a SOAPACTION may name (rule I7).
    """

    service_type: str = ""
    service_id: str = ""
    scpd: str | bytes | ServiceDescription | None = None
    last_change_namespace: ClassVar[str | None] = None
    last_change_instance_tag: ClassVar[str] = "InstanceID"
    last_change_prefixes: ClassVar[Mapping[str, str]] = MappingProxyType({})
    last_change_names: ClassVar[Mapping[str, str]] = MappingProxyType({})
    invalid_instance_code: ClassVar[int] = 402
    unimplemented_code: ClassVar[int] = 602
    value_faults: ClassVar[Mapping[str, int]] = MappingProxyType({})
    ignore_extra_arguments: ClassVar[bool] = False
    type_aliases: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        service_type: str | None = None,
        service_id: str | None = None,
        scpd: str | bytes | ServiceDescription | None = None,
        name: str | None = None,
        control_url: str | None = None,
        event_sub_url: str | None = None,
        scpd_url: str | None = None,
    ) -> None:
        self.service_type = service_type or self.service_type
        if not self.service_type:
            raise TypeError(f"{type(self).__name__} needs a service_type")
        self.service_id = service_id or self.service_id or _default_service_id(self.service_type)
        #: The URL segment of this service (default: the name in its type).
        self.name = name or _service_name(self.service_type)
        self.control_url = control_url
        self.event_sub_url = event_sub_url
        self.scpd_url = scpd_url
        given = scpd if scpd is not None else type(self).scpd
        self.description, self.scpd_xml = self._load_scpd(given)
        self._variables = {v.name: v for v in self.description.state_variables}
        self._converters = {v.name: _Converter(v) for v in self.description.state_variables}
        #: Whether the class has timers of its own (else next_timer is not asked).
        self._timed = type(self).next_timer is not Service.next_timer
        self._bindings = self._bind(given is not None)
        #: Actions answered from the device's cache while :attr:`state_version` holds.
        self.cacheable_actions = frozenset(
            name
            for name, binding in self._bindings.items()
            if binding.method.__upnp_action__.cacheable  # type: ignore[attr-defined]
        )
        #: Changes whenever any state variable of this service changes.
        self.state_version = 0
        self.state = StateTable(self)
        self._evented_changes: dict[str, str] = {}
        self._faults: dict[str, list[UPnPError]] = {}
        self._wake: Callable[[], None] | None = None
        self._in_action = 0
        self._instances: dict[int, Instance] = {}
        self._last_change: LastChange | None = None
        if self.last_change_namespace is not None:
            if LAST_CHANGE not in self._variables:
                raise TypeError(f"{type(self).__name__} has LastChange eventing but no LastChange")
            self._last_change = LastChange(
                self.last_change_namespace,
                instance_tag=self.last_change_instance_tag,
                prefixes=self.last_change_prefixes,
            )
            self.add_instance(0)

    # ------------------------------------------------------------ building

    def _load_scpd(
        self, given: str | bytes | ServiceDescription | None
    ) -> tuple[ServiceDescription, bytes]:
        if isinstance(given, ServiceDescription):
            return given, render_scpd(given)
        if isinstance(given, str | bytes):
            data = given.encode("utf-8") if isinstance(given, str) else given
            return parse_scpd(data), data
        description = self._build_scpd()
        return description, render_scpd(description)

    def _build_scpd(self) -> ServiceDescription:
        variables, methods = _declared(type(self))
        models = [v.model() for v in variables.values()]
        if self.last_change_namespace is not None and LAST_CHANGE not in variables:
            models.append(VariableModel(name=LAST_CHANGE, data_type="string", send_events=True))
        actions = []
        for attribute, method in methods.items():
            spec: _ActionSpec = method.__upnp_action__  # type: ignore[attr-defined]
            arguments = [
                Argument(name=arg, direction="in", related_state_variable=var)
                for arg, var in spec.names(spec.args)
            ]
            arguments += [
                Argument(name=arg, direction="out", related_state_variable=var)
                for arg, var in spec.names(spec.out)
            ]
            for argument in arguments:
                if argument.related_state_variable not in variables:
                    raise TypeError(
                        f"{attribute}: {argument.name} refers to an undeclared state variable "
                        f"{argument.related_state_variable!r}"
                    )
            if spec.args is None and self._parameters(method):
                raise TypeError(f"{attribute} takes arguments: declare them with @action(args=…)")
            actions.append(Action(name=spec.name or _camel(attribute), arguments=tuple(arguments)))
        return ServiceDescription(actions=tuple(actions), state_variables=tuple(models))

    @staticmethod
    def _parameters(method: Callable[..., Any]) -> list[inspect.Parameter]:
        params = list(inspect.signature(method).parameters.values())[1:]  # not self
        return [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]

    def _bind(self, from_xml: bool) -> dict[str, _Binding]:
        variables, methods = _declared(type(self))
        for name, declared in variables.items():
            known = self._variables.get(name)
            if known is None:
                raise TypeError(f"{type(self).__name__}.{name} is not a state variable of the SCPD")
            if declared.data_type is not None and declared.data_type != known.data_type:
                raise TypeError(
                    f"{name} is {known.data_type} in the SCPD, not {declared.data_type}"
                )
        by_norm: dict[str, list[str]] = {}
        for known_action in self.description.actions:
            by_norm.setdefault(_norm(known_action.name), []).append(known_action.name)
        bindings: dict[str, _Binding] = {}
        for attribute, method in methods.items():
            spec: _ActionSpec = method.__upnp_action__  # type: ignore[attr-defined]
            if from_xml and (spec.args is not None or spec.out is not None):
                raise TypeError(f"{attribute}: with an XML SCPD the arguments come from it")
            action_name = spec.name
            if action_name is None:
                candidates = by_norm.get(_norm(attribute), [])
                action_name = candidates[0] if len(candidates) == 1 else _camel(attribute)
            scpd_action = self.description.action(action_name)
            if scpd_action is None:
                raise TypeError(f"{attribute}: the SCPD has no action {action_name}")
            if action_name in bindings:
                raise TypeError(f"two methods implement {action_name}")
            bindings[action_name] = self._binding(scpd_action, method, attribute)
        return bindings

    def _binding(self, scpd_action: Action, method: Callable[..., Any], attribute: str) -> _Binding:
        signature = inspect.signature(method)
        params = self._parameters(method)
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
        by_norm = {_norm(p.name): p.name for p in params}
        pairs: list[tuple[str, str]] = []
        used: set[str] = set()
        for argument in scpd_action.in_arguments:
            param = (
                argument.name
                if argument.name in by_norm.values()
                else by_norm.get(_norm(argument.name))
            )
            if param is None:
                if not var_kw:
                    raise TypeError(f"{attribute}() has no parameter for {argument.name}")
                param = ""
            else:
                used.add(param)
            pairs.append((argument.name, param))
        for p in params:
            if p.name not in used and p.default is inspect.Parameter.empty:
                raise TypeError(f"{attribute}(): {p.name} is no argument of {scpd_action.name}")
        outputs = tuple(a.name for a in scpd_action.out_arguments)
        out_names = {_norm(name): name for name in outputs}
        out_names.update({name: name for name in outputs})
        return _Binding(scpd_action, method, tuple(pairs), outputs, out_names)

    def _variable(self, name: str) -> VariableModel:
        variable = self._variables.get(name)
        if variable is None:
            raise KeyError(f"{self.service_type} has no state variable {name}")
        return variable

    # --------------------------------------------------------- public API

    @property
    def actions(self) -> Mapping[str, bool]:
        """Every action of the SCPD and whether this class implements it."""
        return {a.name: a.name in self._bindings for a in self.description.actions}

    @property
    def event_merges(self) -> Mapping[str, Callable[[str, str], str]]:
        """How pending values of an evented variable merge (LastChange: rule Q4)."""
        return {LAST_CHANGE: self._last_change.merge} if self._last_change is not None else {}

    @property
    def instances(self) -> Mapping[int, Instance]:
        """The instances of a LastChange service, by InstanceID."""
        return MappingProxyType(self._instances)

    def instance(self, instance_id: int) -> Instance:
        """The instance ``instance_id``.

        Raises:
            UPnPError: ``invalid_instance_code`` when there is none (a fault for the caller).
        """
        found = self._instances.get(instance_id)
        if found is None:
            raise UPnPError(self.invalid_instance_code, f"no InstanceID {instance_id}")
        return found

    def add_instance(self, instance_id: int) -> Instance:
        """A new instance (its variables are reported once they are set).

        Raises:
            TypeError: the service has no ``last_change_namespace``.
            ValueError: the instance exists.
        """
        if self._last_change is None:
            raise TypeError(f"{type(self).__name__} is not an instance-based (LastChange) service")
        self._last_change.add_instance(instance_id)
        created = self._instances[instance_id] = Instance(self, instance_id)
        return created

    def remove_instance(self, instance_id: int) -> None:
        """Forget an instance (rule Q5); unknown IDs are ignored."""
        if self._instances.pop(instance_id, None) is not None and self._last_change is not None:
            self._last_change.remove_instance(instance_id)
            self._state_changed(None, "")

    def fail_next(
        self, action: str, code: int, description: str | None = None, *, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``action`` answer fault ``code`` (I5).

        Raises:
            KeyError: the SCPD has no such action.
        """
        if self.description.action(action) is None:
            raise KeyError(f"{self.service_type} has no action {action}")
        self._faults.setdefault(action, []).extend(
            UPnPError(code, description) for _ in range(times)
        )
        self.state_version += 1  # invalidates: cached answers (the fault answers first)

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    def _raise_injected(self, action: str) -> None:
        """Raise the next fault injected for ``action`` (I5), if there is one."""
        queued = self._faults.get(action)
        if queued:
            error = queued.pop(0)
            if not queued:
                del self._faults[action]
            raise error

    def next_timer(self) -> float | None:
        """Override: when :meth:`on_timer` should next run (monotonic seconds), or None."""
        return None

    def on_timer(self, now: float) -> None:
        """Override: timed work of the service (called by the device at :meth:`next_timer`)."""

    async def on_start(self) -> None:
        """Override: called when the device starts serving (before the first request)."""

    async def on_stop(self) -> None:
        """Override: called when the device stops (cancel tasks of your own here)."""

    def attach(self, wake: Callable[[], None] | None) -> None:
        """Called by the host: ``wake()`` asks it to deliver changes made outside a request."""
        self._wake = wake

    # ---------------------------------------------------- the core's protocol

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object] | Awaitable[Mapping[str, object]]:
        """Run ``action`` (device core protocol; arguments already checked and converted)."""
        if self._faults:
            self._raise_injected(action)
        binding = self._bindings.get(action)
        if binding is None:
            raise UPnPError(self.unimplemented_code, f"{action} is not implemented")
        self._in_action += 1
        try:
            result = binding.call(self, arguments)
        finally:
            self._in_action -= 1
        if result is None:
            return {} if not binding.outputs else binding.convert(result)
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            return self._finish(binding, result)
        return binding.convert(result)

    async def _finish(self, binding: _Binding, pending: Awaitable[object]) -> Mapping[str, object]:
        return binding.convert(await pending)

    def evented_state(self) -> dict[str, str]:
        """Every evented variable's current value (the initial event, Q3)."""
        state = {
            v.name: self.state.wire(v.name)
            for v in self.description.state_variables
            if v.send_events and v.name != LAST_CHANGE
        }
        if self._last_change is not None:
            state[LAST_CHANGE] = self._last_change.full()
        return state

    def events(self) -> list[StateVariablesChanged]:
        """Drain the evented changes since the last call."""
        if not self._evented_changes:
            return []
        changes, self._evented_changes = self._evented_changes, {}
        return [StateVariablesChanged(changes)]

    def advance(self, now: float) -> None:
        """Move to ``now``: run a due timer, publish LastChange if its window allows (I1, Q2)."""
        due = self.next_timer() if self._timed else None
        if due is not None and due <= now:
            self.on_timer(now)
        if self._last_change is not None:
            text = self._last_change.take(now)
            if text is not None:
                self._evented_changes[LAST_CHANGE] = text

    def next_deadline(self) -> float | None:
        """When :meth:`advance` next has work (device core protocol)."""
        due = self.next_timer() if self._timed else None
        if self._last_change is not None:
            moderated = self._last_change.next_deadline()
            if moderated is not None:
                due = moderated if due is None else min(due, moderated)
        return due

    def _state_changed(self, evented: str | None, text: str) -> None:
        self.state_version += 1  # invalidates: cached answers of cacheable actions
        if evented is not None:
            self._evented_changes[evented] = text
        if not self._in_action and self._wake is not None:
            self._wake()
