"""DeviceCore with services of one's own: clocks, async actions, value faults (rules I1-I4, Q4).

Driven without sockets: requests in, responses and effects out.
"""

from __future__ import annotations

import asyncio

import pytest

from upnpcm.core.connection_manager import StateVariablesChanged
from upnpcm.core.description import Device, DeviceDescription, Service, parse_scpd
from upnpcm.core.device import DeviceCore, DeviceLimits, HostedService, PendingAction
from upnpcm.core.effects import SendNotify, ServiceFailed
from upnpcm.core.http import Headers, HttpRequest
from upnpcm.core.lastchange import merge_last_change
from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault
from upnpcm.errors import UPnPError

TYPE = "urn:example-com:service:Dial:1"
SCPD = b"""<scpd xmlns="urn:schemas-upnp-org:service-1-0">
<actionList>
 <action><name>Turn</name><argumentList>
  <argument><name>Mode</name><direction>in</direction><relatedStateVariable>A_ARG_TYPE_Mode</relatedStateVariable></argument>
  <argument><name>To</name><direction>in</direction><relatedStateVariable>Position</relatedStateVariable></argument>
 </argumentList></action>
 <action><name>Read</name><argumentList>
  <argument><name>Now</name><direction>out</direction><relatedStateVariable>Position</relatedStateVariable></argument>
 </argumentList></action>
</actionList>
<serviceStateTable>
 <stateVariable sendEvents="yes"><name>Position</name><dataType>ui1</dataType>
  <allowedValueRange><minimum>0</minimum><maximum>10</maximum></allowedValueRange></stateVariable>
 <stateVariable sendEvents="no"><name>A_ARG_TYPE_Mode</name><dataType>string</dataType>
  <allowedValueList><allowedValue>FAST</allowedValue><allowedValue>SLOW</allowedValue></allowedValueList>
 </stateVariable>
</serviceStateTable></scpd>"""
SERVICE = Service(
    service_type=TYPE,
    service_id="urn:example-com:serviceId:Dial",
    scpd_url="/dial.xml",
    control_url="/dial/control",
    event_sub_url="/dial/event",
)


class Dial:
    """A handler with a clock: a turn to ``To`` completes ``delay`` seconds after it began."""

    def __init__(self, *, delay: float = 1.0, slow_async: bool = False) -> None:
        self.position = 0
        self.target: tuple[int, float] | None = None
        self.delay = delay
        self.slow_async = slow_async
        self.advanced: list[float] = []
        self._changes: list[StateVariablesChanged] = []

    def handle_action(self, action, arguments, *, now=None):
        if action == "Read":
            if self.slow_async:
                return self._slow_read()
            return {"Now": self.position}
        if arguments["Mode"] == "SLOW":
            self.target = (int(arguments["To"]), now + self.delay)
            return {}
        self.position = int(arguments["To"])
        self._changes.append(StateVariablesChanged({"Position": str(self.position)}))
        if self.position == 9:
            raise UPnPError(777, "nine is unlucky")  # the change above is still evented (I3)
        return {}

    async def _slow_read(self):
        await asyncio.sleep(0)
        return {"Now": self.position}

    def evented_state(self):
        return {"Position": str(self.position)}

    def events(self):
        drained, self._changes = self._changes, []
        return drained

    def advance(self, now):
        self.advanced.append(now)
        if self.target is not None and self.target[1] <= now:
            self.position = self.target[0]
            self.target = None
            self._changes.append(StateVariablesChanged({"Position": str(self.position)}))

    def next_deadline(self):
        return None if self.target is None else self.target[1]


def make(dial: Dial, **limits) -> DeviceCore:
    scpd = parse_scpd(SCPD)
    return DeviceCore(
        DeviceDescription(
            device=Device(device_type="urn:x:device:D:1", udn="uuid:d", services=(SERVICE,))
        ),
        [
            HostedService(
                service=SERVICE,
                scpd=scpd,
                scpd_xml=SCPD,
                handler=dial,
                value_faults={"A_ARG_TYPE_Mode": 710},
                event_merges={"Position": lambda a, b: f"{a}+{b}"},
            )
        ],
        limits=DeviceLimits(**limits),
    )


def control(core: DeviceCore, action: str, args=(), *, now: float = 0.0):
    headers, body = build_action_request(TYPE, action, list(args))
    request = HttpRequest(
        method="POST",
        path=SERVICE.control_url,
        headers=Headers([("Host", "127.0.0.1:80"), *headers.items()]),
        body=body,
        peer="127.0.0.1",
        local="127.0.0.1",
        local_port=80,
    )
    return core.handle(request, now=now)


def subscribe(core: DeviceCore, now: float = 0.0) -> str:
    request = HttpRequest(
        method="SUBSCRIBE",
        path=SERVICE.event_sub_url,
        headers=Headers(
            [("Host", "127.0.0.1:80"), ("CALLBACK", "<http://127.0.0.5:9/>"), ("NT", "upnp:event")]
        ),
        peer="127.0.0.5",
        local="127.0.0.1",
        local_port=80,
    )
    result = core.handle(request, now=now, entropy=7)
    assert result.response.status == 200
    sid = result.response.header("SID")
    assert [type(e) for e in result.effects] == [SendNotify]  # the initial event, in flight
    return sid


def test_a_value_outside_the_list_gets_the_services_own_code_and_range_stays_601():
    core = make(Dial())
    fault = control(core, "Turn", [("Mode", "WARP"), ("To", "1")])
    assert parse_fault(fault.response.body).code == 710  # I4
    fault = control(core, "Turn", [("Mode", "FAST"), ("To", "11")])
    assert parse_fault(fault.response.body).code == 601  # no code named for Position


def test_a_failed_action_still_events_its_changes():
    dial = Dial()
    core = make(dial)
    sid = subscribe(core)
    core.notify_done(SERVICE.event_sub_url, sid, 200, 0.0)
    result = control(core, "Turn", [("Mode", "FAST"), ("To", "9")], now=1.0)
    assert parse_fault(result.response.body).code == 777
    notes = [e for e in result.effects if isinstance(e, SendNotify)]  # I3
    assert [n.message.changes for n in notes] == [{"Position": "9"}]


def test_a_handler_clock_runs_on_the_device_timer():
    dial = Dial(delay=2.0)
    core = make(dial)
    sid = subscribe(core, now=10.0)
    core.notify_done(SERVICE.event_sub_url, sid, 200, 10.0)
    assert control(core, "Turn", [("Mode", "SLOW"), ("To", "4")], now=10.0).response.status == 200
    assert dial.advanced == [10.0]  # moved to now before its events were drained (I1)
    assert core.next_deadline() == 12.0  # the handler's deadline is the device's
    assert core.handle_timer(11.0) == []
    effects = core.handle_timer(12.0)
    assert [e.message.changes for e in effects if isinstance(e, SendNotify)] == [{"Position": "4"}]
    assert core.next_deadline() != 12.0


def test_merge_rules_reach_the_subscriber_table():
    dial = Dial()
    core = make(dial)
    sid = subscribe(core)  # the initial event is in flight: changes wait
    control(core, "Turn", [("Mode", "FAST"), ("To", "1")])
    control(core, "Turn", [("Mode", "FAST"), ("To", "2")])
    pending = core.table(SERVICE.event_sub_url).get(sid).pending
    assert pending == {"Position": "1+2"}  # Q4: merged, not replaced


async def test_an_async_action_is_handed_back_and_finished_by_the_core():
    dial = Dial(slow_async=True)
    core = make(dial, action_timeout=3.0)
    dial.position = 6
    pending = control(core, "Read", now=100.0)
    assert isinstance(pending, PendingAction)  # I2
    assert pending.deadline == 103.0 and pending.operation == "Read"
    outputs = await pending.awaitable
    result = core.finish_action(pending, 100.5, outputs=outputs)
    assert parse_action_response(result.response.body, "Read") == [("Now", "6")]
    late = core.finish_action(pending, 104.0, timed_out=True)
    fault = parse_fault(late.response.body)
    assert (fault.code, fault.description) == (501, "Action Failed: no answer within 3 s")
    crashed = core.finish_action(pending, 100.5, error=RuntimeError("/secret"))
    assert parse_fault(crashed.response.body).code == 501
    assert any(isinstance(e, ServiceFailed) for e in crashed.effects)
    refused = core.finish_action(pending, 100.5, error=UPnPError(718, "no such instance"))
    assert parse_fault(refused.response.body).code == 718
    bad = core.finish_action(pending, 100.5, outputs={"Now": 300})  # out of range: our bug
    assert parse_fault(bad.response.body).code == 501


def test_action_timeout_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        DeviceLimits(action_timeout=0)


def test_merge_last_change_is_usable_as_a_merge_rule():
    assert callable(merge_last_change)
