"""The ``renderer`` profile: the MediaRenderer of :mod:`upnpcm.renderer`.

A ``MediaRenderer:1`` root device with RenderingControl:1, ConnectionManager:1
(PrepareForConnection hands each connection its own AVTransport and
RenderingControl instance) and AVTransport:1, built with the public hosting
API. Settings used: ``[device]`` names and UDN, ``[renderer].sink`` (what may
be played), ``[connection_manager]`` limits.
"""

from __future__ import annotations

from typing import Final

from upnpcm.profiles.base import DeviceSpec, Profile, check_device_texts, friendly_name
from upnpcm.settings import DeviceSettings, check_text
from upnpcm.state import StateStore

__all__ = ["PROFILE", "build"]


def build(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """The renderer device (its modules load only when this profile is chosen).

    Raises:
        ConfigError: a text with control characters, or inconsistent GENA limits.
    """
    from upnpcm.hosting import device_spec
    from upnpcm.renderer import MediaRenderer

    check_device_texts(settings)
    check_text(settings.renderer_sink, "[renderer].sink")
    renderer = MediaRenderer(
        friendly_name=friendly_name(settings),
        sink_protocols=settings.renderer_sink,
        max_connections=settings.max_connections,
        connection_idle_timeout=settings.connection_idle_timeout,
        udn=settings.udn,
        manufacturer=settings.manufacturer,
        model_name="upnpcm MediaRenderer",
        model_number=settings.model_number,
    )
    return device_spec(
        renderer.device, settings, store, profile="renderer", identity="udn.renderer"
    )


PROFILE: Final = Profile(
    "renderer", build, "MediaRenderer root: AVTransport, RenderingControl, ConnectionManager"
)
