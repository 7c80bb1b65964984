"""A service of the user's own, leased and evented, hosted without touching ``aio/``.

The test double is a lock service: ``Take`` hands out a holder whose lease
ends after 0.3 s without a ``Touch``; the evented ``Holders`` variable counts
them. Everything the adapters do for it comes from the core's contract
(effects, next_deadline/handle_timer, notify_done): the initial event after
the SUBSCRIBE 200, an event per change, and the lease expiring by itself with
its event — on real sockets, loopback only.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.helpers.callbacks import CallbackServer, gena
from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.aio.server import DeviceServer
from upnpcm.core.connection_manager import StateVariablesChanged
from upnpcm.core.description import Device, DeviceDescription, Service, parse_scpd
from upnpcm.core.device import DeviceCore, HostedService, LeasedHandler
from upnpcm.core.soap import build_action_request, parse_action_response
from upnpcm.errors import UPnPError

LOCK = "urn:example-com:service:Lock:1"
SCPD = b"""<?xml version="1.0"?>
<scpd xmlns="urn:schemas-upnp-org:service-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <actionList>
    <action><name>Take</name><argumentList>
      <argument><name>Holder</name><direction>out</direction>
        <relatedStateVariable>A_ARG_TYPE_Holder</relatedStateVariable></argument>
    </argumentList></action>
    <action><name>Touch</name><argumentList>
      <argument><name>Holder</name><direction>in</direction>
        <relatedStateVariable>A_ARG_TYPE_Holder</relatedStateVariable></argument>
    </argumentList></action>
  </actionList>
  <serviceStateTable>
    <stateVariable sendEvents="yes"><name>Holders</name><dataType>ui4</dataType></stateVariable>
    <stateVariable sendEvents="no"><name>A_ARG_TYPE_Holder</name><dataType>ui4</dataType>
    </stateVariable>
  </serviceStateTable>
</scpd>"""
SERVICE = Service(
    service_type=LOCK,
    service_id="urn:example-com:serviceId:Lock",
    scpd_url="/lock/scpd.xml",
    control_url="/lock/control",
    event_sub_url="/lock/event",
)


class Lock:
    """Holders with an idle lease of ``lease`` seconds (a LeasedHandler)."""

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self.seen: dict[int, float] = {}
        self.next_id = 1
        self._changes: list[StateVariablesChanged] = []

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> Mapping[str, object]:
        assert now is not None
        if action == "Take":
            holder, self.next_id = self.next_id, self.next_id + 1
            self.seen[holder] = now
            self._changed()
            return {"Holder": holder}
        holder = int(arguments["Holder"])  # type: ignore[call-overload]
        if holder not in self.seen:
            raise UPnPError(706, "no such holder")
        self.seen[holder] = now
        return {}

    def evented_state(self) -> dict[str, str]:
        return {"Holders": str(len(self.seen))}

    def events(self) -> list[StateVariablesChanged]:
        drained, self._changes = self._changes, []
        return drained

    def expire_idle(self, now: float) -> list[int]:
        gone = [h for h, seen in self.seen.items() if seen + self.lease <= now]
        for holder in gone:
            del self.seen[holder]
        if gone:
            self._changed()
        return gone

    def next_expiry(self) -> float | None:
        return min(self.seen.values()) + self.lease if self.seen else None

    def _changed(self) -> None:
        self._changes.append(StateVariablesChanged(changes=self.evented_state()))


async def call(server: DeviceServer, action: str, args=()) -> list[tuple[str, str]]:
    headers, body = build_action_request(LOCK, action, list(args))
    reply = await LeanHttpClient().request(
        "POST", server.url("127.0.0.1", SERVICE.control_url), headers=headers, body=body
    )
    assert reply.status == 200, reply.body
    return parse_action_response(reply.body, action)


async def test_a_leased_evented_service_of_ones_own_is_hosted_as_is():
    lock = Lock(lease=0.3)
    assert isinstance(lock, LeasedHandler)
    scpd = parse_scpd(SCPD)
    core = DeviceCore(
        DeviceDescription(
            device=Device(
                device_type="urn:example-com:device:Locker:1",
                udn="uuid:00000000-0000-4000-8000-00000000beef",
                services=(SERVICE,),
            )
        ),
        [HostedService(service=SERVICE, scpd=scpd, scpd_xml=SCPD, handler=lock)],
    )
    cb = await CallbackServer("127.0.7.1").start()
    async with DeviceServer(core, host="127.0.0.1", port=0) as server:
        try:
            status, headers = await gena(
                "SUBSCRIBE",
                server.url("127.0.0.1", SERVICE.event_sub_url),
                source_ip=cb.ip,
                headers={"CALLBACK": f"<{cb.url}>", "NT": "upnp:event"},
            )
            assert status == 200
            await cb.wait_for(lambda c: len(c.received) >= 1)
            assert (cb.received[0].seq, cb.received[0].changes) == (0, {"Holders": "0"})
            assert await call(server, "Take") == [("Holder", "1")]
            await cb.wait_for(lambda c: len(c.received) >= 2)
            assert (cb.received[1].seq, cb.received[1].changes) == (1, {"Holders": "1"})
            # No request from here on: the core's own timer ends the idle holder.
            await cb.wait_for(lambda c: len(c.received) >= 3, timeout=3)
            assert (cb.received[2].seq, cb.received[2].changes) == (2, {"Holders": "0"})
            assert lock.seen == {}
            assert all(m.sid == headers["SID"] for m in cb.received)
        finally:
            await cb.stop()
