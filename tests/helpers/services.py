"""Test doubles built with the public hosting API, shared by the core and loopback tests."""

from __future__ import annotations

from upnpcm import Service, StateVariable, action
from upnpcm.core.lastchange import RCS_NAMESPACE


class Volume(Service):
    """A LastChange service with channels (RenderingControl-like)."""

    service_type = "urn:schemas-upnp-org:service:RenderingControl:1"
    last_change_namespace = RCS_NAMESPACE
    invalid_instance_code = 702

    Volume = StateVariable("ui2", evented=False, minimum=0, maximum=100)
    A_ARG_TYPE_InstanceID = StateVariable("ui4")
    A_ARG_TYPE_Channel = StateVariable("string", allowed=["Master"])

    @action(
        args={
            "InstanceID": A_ARG_TYPE_InstanceID,
            "Channel": A_ARG_TYPE_Channel,
            "DesiredVolume": Volume,
        }
    )
    def set_volume(self, instance_id: int, channel: str, desired_volume: int) -> None:
        self.instance(instance_id).set("Volume", desired_volume, channel=channel)
