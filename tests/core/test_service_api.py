"""The service-building API (upnpcm.service): SCPDs, binding, dispatch, state, LastChange (I1-I5, Q1-Q5).

No sockets: services are driven through their core protocol and a DeviceCore.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.services import Volume
from upnpcm import Service, StateVariable, UPnPError, action
from upnpcm.core.description import parse_scpd
from upnpcm.core.lastchange import parse_last_change
from upnpcm.hosting import ConnectionManagerService, Device, device_spec
from upnpcm.settings import DeviceSettings
from upnpcm.state import StateStore


class Counter(Service):
    service_type = "urn:example-com:service:Counter:1"

    Count = StateVariable("ui4", default=0)
    Label = StateVariable("string", default="", evented=False)
    A_ARG_TYPE_Step = StateVariable("ui4", minimum=1, maximum=10)

    @action(args={"Step": A_ARG_TYPE_Step}, out={"NewCount": Count})
    def increment(self, step: int) -> int:
        self.Count += step
        return self.Count

    @action(out={"CurrentCount": Count, "CurrentLabel": Label}, cacheable=True)
    def get_state(self) -> tuple[int, str]:
        return self.Count, self.Label

    @action(args={"Step": A_ARG_TYPE_Step})
    def fail(self, step: int) -> UPnPError:
        return UPnPError(700 + step, "as asked")


def test_an_scpd_built_from_declarations():
    counter = Counter()
    scpd = parse_scpd(counter.scpd_xml)
    assert [a.name for a in scpd.actions] == ["Increment", "GetState", "Fail"]
    increment = scpd.action("Increment")
    assert [(a.name, a.direction, a.related_state_variable) for a in increment.arguments] == [
        ("Step", "in", "A_ARG_TYPE_Step"),
        ("NewCount", "out", "Count"),
    ]
    count, label, step = scpd.state_variables
    assert (count.name, count.data_type, count.send_events, count.default_value) == (
        "Count",
        "ui4",
        True,
        "0",
    )
    assert label.send_events is False
    assert step.send_events is False  # A_ARG_TYPE_ variables are not evented by default
    assert (step.allowed_range.minimum, step.allowed_range.maximum) == ("1", "10")
    assert counter.service_id == "urn:example-com:serviceId:Counter"
    assert counter.cacheable_actions == frozenset({"GetState"})
    assert counter.actions == {"Increment": True, "GetState": True, "Fail": True}


def test_dispatch_converts_results_and_events_changes():
    counter = Counter()
    assert counter.evented_state() == {"Count": "0"}
    assert counter.handle_action("Increment", {"Step": 3}) == {"NewCount": 3}
    assert counter.handle_action("GetState", {}) == {"CurrentCount": 3, "CurrentLabel": ""}
    assert [e.changes for e in counter.events()] == [{"Count": "3"}]
    assert counter.events() == []
    counter.Label = "kitchen"  # not evented: no event, but a new state version
    version = counter.state_version
    assert counter.events() == []
    counter.Count = 3  # unchanged: nothing
    assert counter.events() == [] and counter.state_version == version
    with pytest.raises(UPnPError) as fault:
        counter.handle_action("Fail", {"Step": 2})
    assert fault.value.code == 702
    with pytest.raises(ValueError, match="Count"):
        counter.Count = -1  # not a ui4: the implementation's bug, not a fault


class Lamp(Service):
    """SwitchPower:1 from XML, methods matched by name, snake_case parameters."""

    service_type = "urn:schemas-upnp-org:service:SwitchPower:1"
    scpd = """<?xml version="1.0"?>
<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<actionList>
<action><name>SetTarget</name><argumentList><argument><name>newTargetValue</name><direction>in</direction>
<relatedStateVariable>Target</relatedStateVariable></argument></argumentList></action>
<action><name>GetStatus</name><argumentList><argument><name>ResultStatus</name><direction>out</direction>
<relatedStateVariable>Status</relatedStateVariable></argument></argumentList></action>
<action><name>GetTarget</name><argumentList><argument><name>RetTargetValue</name><direction>out</direction>
<relatedStateVariable>Target</relatedStateVariable></argument></argumentList></action>
</actionList>
<serviceStateTable>
<stateVariable sendEvents="no"><name>Target</name><dataType>boolean</dataType><defaultValue>0</defaultValue></stateVariable>
<stateVariable sendEvents="yes"><name>Status</name><dataType>boolean</dataType><defaultValue>0</defaultValue></stateVariable>
</serviceStateTable></scpd>"""

    @action
    def set_target(self, new_target_value: bool) -> None:
        self.state.update(Target=new_target_value, Status=new_target_value)

    @action
    def get_status(self) -> dict[str, bool]:
        return {"result_status": self.state["Status"]}


def test_an_xml_scpd_is_served_as_given_and_bound_by_name():
    lamp = Lamp()
    assert lamp.scpd_xml == Lamp.scpd.encode()
    assert lamp.service_id == "urn:upnp-org:serviceId:SwitchPower"
    assert lamp.actions == {"SetTarget": True, "GetStatus": True, "GetTarget": False}
    assert lamp.evented_state() == {"Status": "0"}
    lamp.handle_action("SetTarget", {"newTargetValue": True})
    assert lamp.handle_action("GetStatus", {}) == {"ResultStatus": True}
    assert [e.changes for e in lamp.events()] == [{"Status": "1"}]
    with pytest.raises(UPnPError) as fault:  # I5: listed, not implemented
        lamp.handle_action("GetTarget", {})
    assert fault.value.code == 602


def test_fault_injection_answers_before_the_method_then_stops():
    lamp = Lamp()
    lamp.fail_next("SetTarget", 714, "injected", times=2)
    for _ in range(2):
        with pytest.raises(UPnPError) as fault:
            lamp.handle_action("SetTarget", {"newTargetValue": True})
        assert (fault.value.code, fault.value.description) == (714, "injected")
    assert lamp.state["Target"] is False  # the method never ran
    lamp.handle_action("SetTarget", {"newTargetValue": True})
    assert lamp.state["Target"] is True
    with pytest.raises(KeyError):
        lamp.fail_next("NoSuchAction", 401)
    lamp.fail_next("GetStatus", 501)
    lamp.clear_faults()
    assert lamp.handle_action("GetStatus", {}) == {"ResultStatus": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("@action\n    def get_target(self, colour: str): ...", "colour is no argument"),
        ("@action\n    def set_target(self): ...", "no parameter for newTargetValue"),
        ("@action\n    def dim(self): ...", "no action Dim"),
        ("@action(args={'x': 'Target'})\n    def set_target(self, x): ...", "XML SCPD"),
        ("Brightness = StateVariable('ui1')", "not a state variable"),
        ("Target = StateVariable('string')", "boolean in the SCPD"),
    ],
)
def test_binding_mistakes_are_found_when_the_service_is_made(body, message):
    namespace: dict[str, object] = {"Lamp": Lamp, "action": action, "StateVariable": StateVariable}
    exec(f"class Broken(Lamp):\n    {body}\n", namespace)
    with pytest.raises(TypeError, match=message):
        namespace["Broken"]()


def test_python_built_services_check_their_declarations():
    class NoArgs(Service):
        service_type = "urn:x:service:A:1"

        @action
        def go(self, speed: int) -> None: ...

    with pytest.raises(TypeError, match="declare them"):
        NoArgs()

    class Undeclared(Service):
        service_type = "urn:x:service:A:1"

        @action(args={"Speed": "Speed"})
        def go(self, speed: int) -> None: ...

    with pytest.raises(TypeError, match="undeclared"):
        Undeclared()
    with pytest.raises(TypeError, match="service_type"):
        Service()
    with pytest.raises(ValueError, match="data type"):
        StateVariable("integer")


class Outputs(Service):
    service_type = "urn:x:service:Out:1"
    A = StateVariable("string", evented=False)
    B = StateVariable("i4", evented=False)

    @action(out={"First": A, "Second": B})
    def two(self) -> object:
        return self.answer

    @action(args={"In": A}, out={"Echo": A})
    def echo(self, **rest: object) -> object:
        return rest["In"]

    @action(out={"First": A})
    async def later(self) -> str:
        await asyncio.sleep(0)
        self.A = "changed while awaited"
        return "done"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"First": "a", "second": 2}, {"First": "a", "Second": 2}),
        (("a", 2), {"First": "a", "Second": 2}),
        (None, TypeError),
        ({"Third": 1}, TypeError),
        ("a", TypeError),
    ],
)
def test_out_arguments_from_mappings_tuples_or_nothing(answer, expected):
    service = Outputs()
    service.answer = answer
    if expected is TypeError:
        with pytest.raises(TypeError):
            service.handle_action("Two", {})
    else:
        assert service.handle_action("Two", {}) == expected
    assert service.handle_action("Echo", {"In": "x"}) == {"Echo": "x"}  # **kwargs by SCPD name


async def test_async_methods_answer_an_awaitable():
    service = Outputs()
    woken: list[str] = []
    service.attach(lambda: woken.append("wake"))
    pending = service.handle_action("Later", {})
    assert not isinstance(pending, dict)
    assert await pending == {"First": "done"}
    assert woken == ["wake"]  # a change made while awaited wakes the host


def test_last_change_services_moderate_and_merge():
    service = Volume()
    assert "LastChange" in {v.name for v in service.description.state_variables}
    assert service.event_merges  # Q4 reaches the subscriber table
    service.instance(0).set("Volume", 10, channel="Master")
    assert parse_last_change(service.evented_state()["LastChange"])[1] == {
        0: {("Volume", "Master"): "10"}
    }
    service.advance(50.0)
    first = service.events()
    assert parse_last_change(first[0].changes["LastChange"])[1] == {0: {("Volume", "Master"): "10"}}
    for volume in (11, 12, 13):
        service.handle_action(
            "SetVolume", {"InstanceID": 0, "Channel": "Master", "DesiredVolume": volume}
        )
    service.advance(50.1)
    assert service.events() == []  # Q2: inside the window
    assert service.next_deadline() == pytest.approx(50.2)
    service.advance(50.2)
    assert parse_last_change(service.events()[0].changes["LastChange"])[1] == {
        0: {("Volume", "Master"): "13"}
    }
    with pytest.raises(UPnPError) as fault:
        service.handle_action(
            "SetVolume", {"InstanceID": 9, "Channel": "Master", "DesiredVolume": 1}
        )
    assert fault.value.code == 702
    with pytest.raises(ValueError, match="Volume"):
        service.instance(0).set("Volume", 101, channel="Master")
    with pytest.raises(ValueError, match="maintained"):
        service.state["LastChange"] = "<Event/>"
    extra = service.add_instance(4)
    extra.set("Volume", 1, channel="Master")
    service.remove_instance(4)
    assert list(service.instances) == [0]


class Ticker(Service):
    """A service timer: the core drives on_timer at next_timer."""

    service_type = "urn:x:service:Tick:1"
    Ticks = StateVariable("ui4", default=0)

    def __init__(self) -> None:
        super().__init__()
        self.due: float | None = 5.0

    def next_timer(self) -> float | None:
        return self.due

    def on_timer(self, now: float) -> None:
        self.Ticks += 1
        self.due = now + 5.0


def test_service_timers_run_when_due():
    ticker = Ticker()
    ticker.advance(4.9)
    assert ticker.events() == []
    assert ticker.next_deadline() == 5.0
    ticker.advance(5.0)
    assert [e.changes for e in ticker.events()] == [{"Ticks": "1"}]
    assert ticker.next_deadline() == 10.0


def test_a_device_spec_lays_out_urls_and_shares_identical_scpds(tmp_path):
    store = StateStore(tmp_path)
    renderer_cm, server_cm = (
        ConnectionManagerService(sink="http-get:*:*:*"),
        ConnectionManagerService(source="http-get:*:*:*"),
    )
    counter = Counter()
    device = Device(
        device_type="urn:schemas-upnp-org:device:Basic:1",
        friendly_name="t",
        services=[counter],
        devices=[
            Device(
                device_type="urn:schemas-upnp-org:device:MediaRenderer:1", services=[renderer_cm]
            ),
            Device(device_type="urn:schemas-upnp-org:device:MediaServer:1", services=[server_cm]),
        ],
    )
    spec = device_spec(device, DeviceSettings(), store)
    assert [(h.service.control_url, h.service.scpd_url) for h in spec.services] == [
        ("/Counter/Control", "/xml/Counter1.xml"),
        ("/MediaRenderer/ConnectionManager/Control", "/xml/ConnectionManager1.xml"),
        ("/MediaServer/ConnectionManager/Control", "/xml/ConnectionManager1.xml"),
    ]
    assert spec.connection_managers == {
        "renderer": renderer_cm.manager,
        "server": server_cm.manager,
    }
    again = device_spec(
        Device(device_type=device.device_type, friendly_name="t"), DeviceSettings(), store
    )
    assert again.description.device.udn == spec.description.device.udn  # kept in the store
    embedded = [d.udn for d in spec.description.device.devices]
    assert len(set(embedded)) == 2 and spec.description.device.udn not in embedded
    rebuilt = device_spec(device, DeviceSettings(), store)  # hosted again (a restart): same URLs
    assert [h.service for h in rebuilt.services] == [h.service for h in spec.services]
    twice = Device(device_type=device.device_type, services=[counter, counter])
    with pytest.raises(ValueError, match="twice"):
        device_spec(twice, DeviceSettings(), store)
