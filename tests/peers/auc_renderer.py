"""A MediaRenderer's AVTransport and RenderingControl actions on async_upnp_client's server (a peer).

The benchmarks compare our renderer with this one: the same actions
(GetTransportInfo — the AVTransport of tests/peers/auc_device.py —, SetVolume/GetVolume)
and LastChange eventing of Volume,
written the way that library lets a user write it — a ``LastChange`` event
variable with ``max_rate=0.2`` whose value is the RenderingControl ``Event``
document, built here by hand. HTTP only (SSDP off, nothing is multicast).

Run: ``python -m tests.peers.auc_renderer --port 8300 [--seconds 60] [--max-rate 0.2]``
(``--max-rate 0``: LastChange without moderation).

No ``from __future__ import annotations``: async_upnp_client reads the action
handlers' annotations as real types.
"""

import asyncio
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

from async_upnp_client.const import ServiceInfo
from async_upnp_client.exceptions import UpnpActionError
from async_upnp_client.server import (
    UpnpServerDevice,
    UpnpServerService,
    callable_action,
    create_event_var,
    create_state_var,
)

from tests.peers.auc_device import AVTransportService, HttpOnlyUpnpServer, device_info, serve

UDN = "uuid:5b1c6a0e-0000-4000-8000-0000000000b2"
RCS_NS = "urn:schemas-upnp-org:metadata-1-0/RCS/"


class RenderingControlService(UpnpServerService):
    SERVICE_DEFINITION = ServiceInfo(
        service_id="urn:upnp-org:serviceId:RenderingControl",
        service_type="urn:schemas-upnp-org:service:RenderingControl:1",
        control_url="/upnp/control/RenderingControl1",
        event_sub_url="/upnp/event/RenderingControl1",
        scpd_url="/RenderingControl_1.xml",
        xml=ET.Element("server_service"),
    )
    STATE_VARIABLE_DEFINITIONS = {  # noqa: RUF012 - the framework reads it
        "Volume": create_state_var("ui2", default="30", allowed_range={"min": "0", "max": "100"}),
        "LastChange": create_event_var("string", default="", max_rate=0.2),
        "A_ARG_TYPE_Channel": create_state_var("string", allowed=["Master"], default="Master"),
        "A_ARG_TYPE_InstanceID": create_state_var("ui4", default="0"),
    }

    @callable_action(
        name="SetVolume",
        in_args={
            "InstanceID": "A_ARG_TYPE_InstanceID",
            "Channel": "A_ARG_TYPE_Channel",
            "DesiredVolume": "Volume",
        },
        out_args={},
    )
    async def set_volume(
        self, InstanceID: int, Channel: str, DesiredVolume: int
    ) -> dict[str, object]:
        if InstanceID != 0:
            raise UpnpActionError(error_code=702, error_desc="Invalid InstanceID")
        self.state_variable("Volume").value = DesiredVolume
        self.state_variable("LastChange").value = (
            f'<Event xmlns="{RCS_NS}"><InstanceID val="0">'
            f'<Volume channel={quoteattr(Channel)} val="{DesiredVolume}"/></InstanceID></Event>'
        )
        return {}

    @callable_action(
        name="GetVolume",
        in_args={"InstanceID": "A_ARG_TYPE_InstanceID", "Channel": "A_ARG_TYPE_Channel"},
        out_args={"CurrentVolume": "Volume"},
    )
    async def get_volume(self, InstanceID: int, Channel: str) -> dict[str, object]:
        if InstanceID != 0:
            raise UpnpActionError(error_code=702, error_desc="Invalid InstanceID")
        return {"CurrentVolume": self.state_variable("Volume")}


class MediaRendererDevice(UpnpServerDevice):
    DEVICE_DEFINITION = device_info(
        "urn:schemas-upnp-org:device:MediaRenderer:1",
        "async_upnp_client renderer peer",
        "auc-dmr",
        UDN,
        "AVTransport/RenderingControl on async_upnp_client.server",
    )
    EMBEDDED_DEVICES = []  # noqa: RUF012
    SERVICES = [AVTransportService, RenderingControlService]  # noqa: RUF012


async def start(port: int, host: str = "127.0.0.1", max_rate: float = 0.2) -> HttpOnlyUpnpServer:
    for service in (AVTransportService, RenderingControlService):
        service.STATE_VARIABLE_DEFINITIONS["LastChange"] = create_event_var(
            "string", default="", max_rate=max_rate or None
        )
    server = HttpOnlyUpnpServer(MediaRendererDevice, (host, 0), http_port=port)
    await server.async_start()
    return server


if __name__ == "__main__":
    asyncio.run(
        serve(
            start,
            8300,
            lambda parser: parser.add_argument(
                "--max-rate", dest="max_rate", type=float, default=0.2
            ),
        )
    )
