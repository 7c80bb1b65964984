"""A UPnP AV MediaRenderer built with the public hosting API only.

:class:`MediaRenderer` composes three services into a ``MediaRenderer:1``
root device: RenderingControl:1 (volume, mute, presets), our
ConnectionManager:1 (PrepareForConnection hands out a fresh AVTransport and
RenderingControl instance per connection, rule R9) and AVTransport:1 (the
transport state machine of :mod:`upnpcm.renderer.transport`; "playing"
fetches the URI over HTTP into a sink, :mod:`upnpcm.renderer.player`)::

    renderer = MediaRenderer(friendly_name="Kitchen")
    async with DeviceHost(renderer.device, settings=DeviceSettings(port=0)) as host:
        ...

``upnpcm serve --profile renderer`` runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from upnpcm.hosting import ConnectionInfo, ConnectionManagerService, Device
from upnpcm.renderer.player import DiscardSink, Sink
from upnpcm.renderer.services import AVTransport, RenderingControl
from upnpcm.settings import DEFAULT_SINK

__all__ = ["AVTransport", "DiscardSink", "MediaRenderer", "RenderingControl", "Sink"]

MEDIA_RENDERER: Final = "urn:schemas-upnp-org:device:MediaRenderer:1"


class MediaRenderer:
    """AVTransport + RenderingControl + ConnectionManager as one MediaRenderer device.

    Args:
        friendly_name: the device's name.
        sink_protocols: SinkProtocolInfo (what may be played: 701/714).
        sink: where fetched bytes go (default: a :class:`DiscardSink`).
        max_connections, connection_idle_timeout: of the ConnectionManager.
        udn: the device's UDN (default: kept by the host's state directory).
        open_timeout: seconds a stream's head may take (Y3).
        clock: monotonic seconds (the device core's clock).
    """

    def __init__(
        self,
        *,
        friendly_name: str = "upnpcm renderer",
        sink_protocols: str = DEFAULT_SINK,
        sink: Sink | None = None,
        max_connections: int = 16,
        connection_idle_timeout: float = 3600.0,
        udn: str | None = None,
        open_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        manufacturer: str = "upnpcm",
        model_name: str = "upnpcm MediaRenderer",
        model_number: str | None = None,
    ) -> None:
        self.sink: Sink = sink if sink is not None else DiscardSink()
        self.rendering_control = RenderingControl()
        self.av_transport = AVTransport(
            sink_protocols=sink_protocols, sink=self.sink, open_timeout=open_timeout, clock=clock
        )
        self.connection_manager = ConnectionManagerService(
            sink=sink_protocols,
            max_connections=max_connections,
            connection_idle_timeout=connection_idle_timeout,
            binder=self,
        )
        self.device = Device(
            device_type=MEDIA_RENDERER,
            friendly_name=friendly_name,
            udn=udn,
            manufacturer=manufacturer,
            model_name=model_name,
            model_number=model_number,
            model_description="UPnP AV MediaRenderer (upnpcm)",
            manufacturer_url="https://pypi.org/project/upnpcm/",
            services=[self.rendering_control, self.connection_manager, self.av_transport],
        )

    def bind(self, info: ConnectionInfo) -> tuple[int, int]:
        """A new connection gets its own AVTransport and RenderingControl instance (R9)."""
        instance_id = info.connection_id
        self.av_transport.create(instance_id)
        self.rendering_control.create(instance_id)
        return instance_id, instance_id

    def release(self, info: ConnectionInfo) -> None:
        """The connection ended: its instances go (R9)."""
        self.av_transport.discard(info.av_transport_id)
        self.rendering_control.discard(info.rcs_id)
