"""The SSDP adapter without multicast: failure handling (sockets on loopback only)."""

import asyncio
import ipaddress
import logging
import socket

import pytest

from upnpcm.aio import ssdp as aio_ssdp
from upnpcm.aio.ssdp import Interface, SsdpServer
from upnpcm.core.ssdp import SsdpConfig

LO = Interface("lo", "127.0.0.1", ipaddress.ip_network("127.0.0.0/8"), 1)


def make_server(device) -> SsdpServer:
    return SsdpServer(
        device.spec.description.device,
        SsdpConfig(server="x", boot_id=1),
        http_port=device.port,
        description_path=device.spec.description_path,
        interfaces=[LO],
    )


async def test_a_datagram_whose_handling_raises_is_logged_and_dropped(device, caplog):
    server = make_server(device)
    server._loop = asyncio.get_running_loop()  # as start() would, without multicast sockets

    def explode(*args, **kwargs):
        raise ValueError("a bug in the core")

    server.responder.handle_datagram = explode  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="upnpcm.ssdp"):
        server.received(b"M-SEARCH * HTTP/1.1\r\n\r\n", ("127.0.0.5", 1900))  # must not raise
    assert server.failures == 1
    assert "dropped" in caplog.text


@pytest.fixture
def failing_multicast(monkeypatch) -> list[socket.socket]:
    """Receive sockets open (plain loopback ones: nothing leaves), then a send socket fails."""
    opened: list[socket.socket] = []

    def receive_socket(family, interfaces, **_kwargs):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        opened.append(sock)
        return sock

    def send_socket(interface):
        raise OSError(99, "cannot assign requested address")

    monkeypatch.setattr(aio_ssdp, "multicast_receive_socket", receive_socket)
    monkeypatch.setattr(aio_ssdp, "multicast_send_socket", send_socket)
    return opened


async def test_start_failing_part_way_closes_what_it_opened(device, failing_multicast):
    opened = failing_multicast
    server = make_server(device)
    with pytest.raises(OSError):
        await server.start()
    await asyncio.sleep(0)  # let the transport finish closing
    assert opened and all(sock.fileno() == -1 for sock in opened)


async def test_host_start_failing_in_ssdp_closes_ssdp_and_http(tmp_path, failing_multicast):
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    opened = failing_multicast
    host = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, ssdp=True, interfaces=("127.0.0.1",)),
        state_dir=tmp_path,
    )
    with pytest.raises(OSError):
        await host.start()
    await asyncio.sleep(0)
    assert opened and all(sock.fileno() == -1 for sock in opened)
    assert host.ssdp is None
    assert not host.server.addresses  # HTTP stopped too
