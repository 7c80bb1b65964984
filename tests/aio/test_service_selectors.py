"""Choosing a service of a loaded device by name: one match, none, or an ambiguous name."""

import pytest

from upnpcm.aio.control_point import RemoteDevice, RemoteService
from upnpcm.core.description import Device, DeviceDescription, Service, ServiceDescription

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
AVT = "urn:schemas-upnp-org:service:AVTransport:1"


def service(kind, prefix):
    return Service(
        service_type=kind,
        service_id=f"urn:upnp-org:serviceId:{kind.split(':')[-2]}",
        scpd_url=f"/{prefix}.xml",
        control_url=f"/{prefix}/c",
        event_sub_url=f"/{prefix}/e",
    )


def device_with(*embedded):
    """A root (one AVTransport) with embedded devices (device type, UDN), each with a CM."""
    children = tuple(
        Device(device_type=kind, udn=udn, services=(service(CM, udn),)) for kind, udn in embedded
    )
    root = Device(
        device_type="urn:schemas-upnp-org:device:ZonePlayer:1",
        udn="uuid:root",
        services=(service(AVT, "root"),),
        devices=children,
    )
    remotes = [
        RemoteService(
            device=node,
            service=svc,
            scpd=ServiceDescription(),
            control_url=svc.control_url,
            event_url=svc.event_sub_url,
            scpd_url=svc.scpd_url,
        )
        for node, svc in root.iter_services()
    ]
    return RemoteDevice(
        location="http://127.0.0.1/d.xml",
        description=DeviceDescription(device=root),
        services=remotes,
    )


MR = "urn:schemas-upnp-org:device:MediaRenderer:1"
MS = "urn:schemas-upnp-org:device:MediaServer:1"


def test_an_ambiguous_name_lists_each_candidate_with_the_selector_that_picks_it():
    device = device_with((MR, "uuid:r"), (MS, "uuid:s"))
    for name in ("ConnectionManager", "CM", CM, "urn:upnp-org:serviceId:ConnectionManager"):
        with pytest.raises(LookupError) as info:
            device.service(name)
        assert str(info.value) == (
            f"service {name!r} is ambiguous; name one of: "
            "MR/CM (MediaRenderer/ConnectionManager), MS/CM (MediaServer/ConnectionManager)"
        )
    for selector in ("MR/CM", "MS/CM"):  # what the message offers works
        assert device.service(selector).device.udn == f"uuid:{selector[1].lower()}"
    assert device.service("AVTransport").device.udn == "uuid:root"  # one match: no question


def test_two_devices_of_one_type_are_told_apart_by_udn():
    device = device_with((MR, "uuid:a"), (MR, "uuid:b"))
    with pytest.raises(LookupError, match=r"name one of: uuid:a/ConnectionManager \(Media"):
        device.service("MR/CM")
    assert device.service("uuid:b/ConnectionManager").device.udn == "uuid:b"
    only = device_with((MR, "uuid:a"))
    assert only.selector_for(only.service("CM")) == "CM"


def test_no_match_lists_what_exists():
    with pytest.raises(LookupError, match=r"no service 'RenderingControl' \(this device has: "):
        device_with((MR, "uuid:r")).service("RenderingControl")
