"""A ConnectionManager device built on async_upnp_client's server (a third-party peer).

Used by the integration tests (as a device our control point talks to) and by
the benchmarks (as the peer we are compared against). HTTP only: the SSDP part
of ``UpnpServer`` is switched off so nothing is multicast.

Run: ``python -m tests.peers.auc_device --port 8200 [--seconds 60] [--sink-file FILE]``.

No ``from __future__ import annotations`` here: async_upnp_client reads the
action handlers' annotations as real types.
"""

import argparse
import asyncio
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from pathlib import Path

from async_upnp_client.client import UpnpStateVariable
from async_upnp_client.const import DeviceInfo, ServiceInfo
from async_upnp_client.exceptions import UpnpActionError
from async_upnp_client.server import (
    UpnpServer,
    UpnpServerDevice,
    UpnpServerService,
    callable_action,
    create_event_var,
    create_state_var,
)

SOURCE = "http-get:*:audio/mpeg:*,http-get:*:audio/flac:*"
UDN = "uuid:5b1c6a0e-0000-4000-8000-0000000000a1"


class ConnectionManagerService(UpnpServerService):
    SERVICE_DEFINITION = ServiceInfo(
        service_id="urn:upnp-org:serviceId:ConnectionManager",
        service_type="urn:schemas-upnp-org:service:ConnectionManager:1",
        control_url="/upnp/control/ConnectionManager1",
        event_sub_url="/upnp/event/ConnectionManager1",
        scpd_url="/ConnectionManager_1.xml",
        xml=ET.Element("server_service"),
    )
    STATE_VARIABLE_DEFINITIONS = {  # noqa: RUF012 - the framework reads it
        "SourceProtocolInfo": create_event_var("string", default=SOURCE),
        "SinkProtocolInfo": create_event_var("string", default=""),
        "CurrentConnectionIDs": create_event_var("string", default=""),
        "A_ARG_TYPE_ConnectionStatus": create_state_var(
            "string",
            allowed=[
                "OK",
                "ContentFormatMismatch",
                "InsufficientBandwidth",
                "UnreliableChannel",
                "Unknown",
            ],
            default="OK",
        ),
        "A_ARG_TYPE_ConnectionManager": create_state_var("string", default=""),
        "A_ARG_TYPE_Direction": create_state_var(
            "string", allowed=["Input", "Output"], default="Output"
        ),
        "A_ARG_TYPE_ProtocolInfo": create_state_var("string", default=""),
        "A_ARG_TYPE_ConnectionID": create_state_var("i4", default="0"),
        "A_ARG_TYPE_AVTransportID": create_state_var("i4", default="-1"),
        "A_ARG_TYPE_RcsID": create_state_var("i4", default="-1"),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ids = itertools.count(1)
        self._live: dict[int, tuple[str, str, int, str]] = {}

    @callable_action(
        name="GetProtocolInfo",
        in_args={},
        out_args={"Source": "SourceProtocolInfo", "Sink": "SinkProtocolInfo"},
    )
    async def get_protocol_info(self) -> dict[str, UpnpStateVariable]:
        return {
            "Source": self.state_variable("SourceProtocolInfo"),
            "Sink": self.state_variable("SinkProtocolInfo"),
        }

    @callable_action(
        name="GetCurrentConnectionIDs",
        in_args={},
        out_args={"ConnectionIDs": "CurrentConnectionIDs"},
    )
    async def get_current_connection_ids(self) -> dict[str, UpnpStateVariable]:
        return {"ConnectionIDs": self.state_variable("CurrentConnectionIDs")}

    @callable_action(
        name="GetCurrentConnectionInfo",
        in_args={"ConnectionID": "A_ARG_TYPE_ConnectionID"},
        out_args={
            "RcsID": "A_ARG_TYPE_RcsID",
            "AVTransportID": "A_ARG_TYPE_AVTransportID",
            "ProtocolInfo": "A_ARG_TYPE_ProtocolInfo",
            "PeerConnectionManager": "A_ARG_TYPE_ConnectionManager",
            "PeerConnectionID": "A_ARG_TYPE_ConnectionID",
            "Direction": "A_ARG_TYPE_Direction",
            "Status": "A_ARG_TYPE_ConnectionStatus",
        },
    )
    async def get_current_connection_info(self, ConnectionID: int) -> dict[str, object]:
        row = self._live.get(ConnectionID)
        if row is None:
            raise UpnpActionError(error_code=706, error_desc="Invalid connection reference")
        protocol_info, peer, peer_id, direction = row
        return {
            "RcsID": -1,
            "AVTransportID": -1,
            "ProtocolInfo": protocol_info,
            "PeerConnectionManager": peer,
            "PeerConnectionID": peer_id,
            "Direction": direction,
            "Status": "OK",
        }

    @callable_action(
        name="PrepareForConnection",
        in_args={
            "RemoteProtocolInfo": "A_ARG_TYPE_ProtocolInfo",
            "PeerConnectionManager": "A_ARG_TYPE_ConnectionManager",
            "PeerConnectionID": "A_ARG_TYPE_ConnectionID",
            "Direction": "A_ARG_TYPE_Direction",
        },
        out_args={
            "ConnectionID": "A_ARG_TYPE_ConnectionID",
            "AVTransportID": "A_ARG_TYPE_AVTransportID",
            "RcsID": "A_ARG_TYPE_RcsID",
        },
    )
    async def prepare_for_connection(
        self,
        RemoteProtocolInfo: str,
        PeerConnectionManager: str,
        PeerConnectionID: int,
        Direction: str,
    ) -> dict[str, object]:
        if Direction != "Output":
            raise UpnpActionError(error_code=702, error_desc="Incompatible directions")
        connection_id = next(self._ids)
        self._live[connection_id] = (
            RemoteProtocolInfo,
            PeerConnectionManager,
            PeerConnectionID,
            Direction,
        )
        self.state_variable("CurrentConnectionIDs").value = ",".join(
            str(i) for i in sorted(self._live)
        )
        return {"ConnectionID": connection_id, "AVTransportID": -1, "RcsID": -1}

    @callable_action(
        name="ConnectionComplete", in_args={"ConnectionID": "A_ARG_TYPE_ConnectionID"}, out_args={}
    )
    async def connection_complete(self, ConnectionID: int) -> dict[str, object]:
        if self._live.pop(ConnectionID, None) is None:
            raise UpnpActionError(error_code=706, error_desc="Invalid connection reference")
        self.state_variable("CurrentConnectionIDs").value = ",".join(
            str(i) for i in sorted(self._live)
        )
        return {}


class AVTransportService(UpnpServerService):
    """Just enough AVTransport:1 for "a call to another service"."""

    SERVICE_DEFINITION = ServiceInfo(
        service_id="urn:upnp-org:serviceId:AVTransport",
        service_type="urn:schemas-upnp-org:service:AVTransport:1",
        control_url="/upnp/control/AVTransport1",
        event_sub_url="/upnp/event/AVTransport1",
        scpd_url="/AVTransport_1.xml",
        xml=ET.Element("server_service"),
    )
    STATE_VARIABLE_DEFINITIONS = {  # noqa: RUF012 - the framework reads it
        "TransportState": create_state_var(
            "string", allowed=["STOPPED", "PLAYING", "NO_MEDIA_PRESENT"], default="STOPPED"
        ),
        "TransportStatus": create_state_var(
            "string", allowed=["OK", "ERROR_OCCURRED"], default="OK"
        ),
        "TransportPlaySpeed": create_state_var("string", default="1"),
        "LastChange": create_event_var("string", default=""),
        "A_ARG_TYPE_InstanceID": create_state_var("ui4", default="0"),
    }

    @callable_action(
        name="GetTransportInfo",
        in_args={"InstanceID": "A_ARG_TYPE_InstanceID"},
        out_args={
            "CurrentTransportState": "TransportState",
            "CurrentTransportStatus": "TransportStatus",
            "CurrentSpeed": "TransportPlaySpeed",
        },
    )
    async def get_transport_info(self, InstanceID: int) -> dict[str, object]:
        if InstanceID != 0:
            raise UpnpActionError(error_code=718, error_desc="Invalid InstanceID")
        return {
            "CurrentTransportState": "STOPPED",
            "CurrentTransportStatus": "OK",
            "CurrentSpeed": "1",
        }


def device_info(device_type: str, name: str, model: str, udn: str, about: str) -> DeviceInfo:
    """The DeviceInfo of a peer device served at /desc.xml."""
    return DeviceInfo(
        device_type=device_type,
        friendly_name=name,
        manufacturer="async_upnp_client",
        manufacturer_url=None,
        model_name=model,
        model_url=None,
        udn=udn,
        upc=None,
        model_description=about,
        model_number="1",
        serial_number="1",
        presentation_url=None,
        url="/desc.xml",
        icons=[],
        xml=ET.Element("server_device"),
    )


class MediaServerDevice(UpnpServerDevice):
    DEVICE_DEFINITION = device_info(
        "urn:schemas-upnp-org:device:MediaServer:1",
        "async_upnp_client CM peer",
        "auc-cm",
        UDN,
        "ConnectionManager on async_upnp_client.server",
    )
    EMBEDDED_DEVICES = []  # noqa: RUF012
    SERVICES = [ConnectionManagerService, AVTransportService]  # noqa: RUF012


class HttpOnlyUpnpServer(UpnpServer):
    """UpnpServer with its SSDP part switched off (it has no option for that)."""

    async def _async_start_ssdp(self) -> None:
        return


def with_sink(sink: str) -> type[UpnpServerDevice]:
    """The device with ``sink`` as its ConnectionManager's SinkProtocolInfo."""

    class SinkConnectionManager(ConnectionManagerService):
        STATE_VARIABLE_DEFINITIONS = {  # noqa: RUF012 - the framework reads it
            **ConnectionManagerService.STATE_VARIABLE_DEFINITIONS,
            "SinkProtocolInfo": create_event_var("string", default=sink),
        }

    class SinkDevice(MediaServerDevice):
        SERVICES = [SinkConnectionManager, AVTransportService]  # noqa: RUF012

    return SinkDevice


async def start(port: int, host: str = "127.0.0.1", sink: str | None = None) -> UpnpServer:
    """Serve on ``host:port``, answering ``sink`` as the SinkProtocolInfo."""
    device = with_sink(sink) if sink else MediaServerDevice
    server = HttpOnlyUpnpServer(device, (host, 0), http_port=port)
    await server.async_start()
    return server


async def serve(
    start_server: Callable[..., Awaitable[UpnpServer]],
    default_port: int,
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> None:
    """``--port``, ``--host``, ``--seconds`` (and ``options``): serve, bounded in time."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seconds", type=float, default=600.0)
    options(parser)
    args = vars(parser.parse_args())
    port, host, seconds = args.pop("port"), args.pop("host"), args.pop("seconds")
    server = await start_server(port, host, **args)
    print(f"listening http://{host}:{port}/desc.xml", flush=True)
    try:
        await asyncio.sleep(seconds)
    finally:
        await server.async_stop()


if __name__ == "__main__":
    asyncio.run(
        serve(
            start,
            8200,
            lambda parser: parser.add_argument(
                "--sink-file",
                dest="sink",
                type=lambda path: Path(path).read_text(encoding="utf-8").strip(),
                help="a file whose text is the SinkProtocolInfo to answer",
            ),
        )
    )
