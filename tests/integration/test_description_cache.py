"""The control point's description cache (rules M3, M4): each line that invalidates has a test."""

from __future__ import annotations

import pytest

from tests.conftest import load_fixture
from tests.helpers.fake_http import FakeHttp
from upnpcm.aio.control_point import ControlPoint
from upnpcm.core.description import DeviceDescription, ServiceDescription
from upnpcm.core.memo import DescriptionCache, LoadedDevice

# Without its URLBase (the namespace address it was captured at): URLs resolve on loopback.
DESCRIPTION = load_fixture("gmediarender/description.xml").replace(
    b"<URLBase>http://10.99.0.1:49494/</URLBase>", b""
)
ROUTES = {
    "/description.xml": DESCRIPTION,
    "/upnp/renderconnmgrSCPD.xml": load_fixture("gmediarender/renderconnmgrSCPD.xml"),
    "/upnp/rendercontrolSCPD.xml": load_fixture("gmediarender/rendercontrolSCPD.xml"),
    "/upnp/rendertransportSCPD.xml": load_fixture("gmediarender/rendertransportSCPD.xml"),
}

#: Every test here runs with the asyncio control point and again with the blocking one.
pytestmark = pytest.mark.usefixtures("both_control_points")


def _gets(server: FakeHttp) -> int:
    return sum(1 for method, *_ in server.requests if method == "GET")


async def test_a_location_is_loaded_once_per_bootid_and_configid():
    async with FakeHttp(dict(ROUTES)) as server, ControlPoint() as cp:
        url = server.url("/description.xml")
        first = await cp.load(url)
        fetched = _gets(server)
        assert fetched == 4  # the description and three SCPDs
        again = await cp.load(url)
        assert _gets(server) == fetched  # nothing fetched again
        assert [s.qualified_name for s in again.services] == [
            s.qualified_name for s in first.services
        ]
        assert again.service("AVTransport").scpd.action("Play") is not None
        await cp.load(url, boot_id=2)  # another BOOTID: load again
        assert _gets(server) == 2 * fetched
        await cp.load(url, boot_id=2)
        assert _gets(server) == 2 * fetched
        cp.descriptions.observe(url, 3, None)  # SSDP says it rebooted
        await cp.load(url, boot_id=2)
        assert _gets(server) == 3 * fetched
        cp.descriptions.forget(url)
        await cp.load(url, boot_id=2)
        assert _gets(server) == 4 * fetched


async def test_cache_off_and_failed_scpds_are_not_kept():
    async with FakeHttp(dict(ROUTES)) as server, ControlPoint(cache=False) as cp:
        url = server.url("/description.xml")
        await cp.load(url)
        await cp.load(url)
        assert _gets(server) == 8
    routes = dict(ROUTES)
    del routes["/upnp/rendercontrolSCPD.xml"]
    async with FakeHttp(routes) as server, ControlPoint() as cp:
        url = server.url("/description.xml")
        device = await cp.load(url)
        assert device.service("RenderingControl").scpd_error
        await cp.load(url)
        assert _gets(server) == 8  # M3: a load with a failed SCPD is fetched again


def _loaded() -> LoadedDevice:
    from upnpcm.core.description import Device

    return LoadedDevice(
        description=DeviceDescription(device=Device(device_type="t", udn="uuid:x")),
        scpds=(("http://h/s.xml", ServiceDescription()),),
    )


def test_bounds_in_all_and_per_host():
    cache = DescriptionCache(max_entries=5, max_per_host=2)
    cache.put("http://10.0.0.1/a", None, None, _loaded())
    cache.put("http://10.0.0.1/b", None, None, _loaded())
    cache.put("http://10.0.0.1/c", None, None, _loaded())  # a third for that host: its share drops
    assert cache.get("http://10.0.0.1/a", None, None) is None
    assert cache.get("http://10.0.0.1/c", None, None) is not None
    for n in range(2, 7):
        cache.put(f"http://10.0.0.{n}/d", None, None, _loaded())
    assert len(cache) <= 5  # full: emptied, not grown
    assert cache.get("http://10.0.0.6/d", None, None) is not None


def test_observe_keeps_an_entry_when_nothing_changed():
    cache = DescriptionCache()
    cache.put("http://h/d", 1, 7, _loaded())
    cache.observe("http://h/d", 1, 7)
    assert cache.get("http://h/d", 1, 7) is not None
    cache.observe("http://h/d", None, 8)  # a new CONFIGID: the description changed
    assert cache.get("http://h/d", 1, 7) is None
