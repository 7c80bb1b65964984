"""SSDP advertises only addresses HTTP listens on: every LOCATION it sends must answer.

``serve --host 10.99.0.1 --interface d0`` once advertised d0's IPv6 address too,
whose LOCATION nobody answered (``upnpcm check``'s ssdp.location found it).
"""

import pytest

from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings


async def test_only_the_served_addresses_of_the_interface_are_advertised(tmp_path):
    settings = DeviceSettings(host=("10.99.0.1",), port=0, interfaces=("d0",))
    async with DeviceHost(settings, state_dir=tmp_path) as host:
        assert host.ssdp is not None
        assert [i.ip for i in host.ssdp.interfaces] == ["10.99.0.1"]


async def test_every_address_of_the_interface_when_http_listens_everywhere(tmp_path):
    async with DeviceHost(DeviceSettings(port=0, interfaces=("d0",)), state_dir=tmp_path) as host:
        assert host.ssdp is not None
        assert sorted(i.ip for i in host.ssdp.interfaces) == ["10.99.0.1", "fd99::1"]


async def test_an_interface_without_a_served_address_is_refused(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("d0",))
    with pytest.raises(ValueError, match=r"HTTP listens only on 127\.0\.0\.1"):
        await DeviceHost(settings, state_dir=tmp_path).start()
