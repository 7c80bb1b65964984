"""Discovery of our device by a real third-party searcher, inside the isolated namespace."""

import asyncio
import socket
import subprocess
import sys
import time

from async_upnp_client.advertisement import SsdpAdvertisementListener
from async_upnp_client.search import async_search

from tests.helpers.processes import start_serve, stop
from upnpcm.core.ssdp import build_msearch, parse_datagram
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
SOURCE = ("127.0.0.1", 0)
TARGET = ("239.255.255.250", 1900)


async def collect_search(st, timeout=2):
    found = []

    async def on_response(headers):
        found.append({k.lower(): v for k, v in headers.items() if isinstance(k, str)})

    await async_search(on_response, timeout=timeout, search_target=st, source=SOURCE, target=TARGET)
    return found


async def test_third_party_search_finds_us_by_every_target(host):
    root = host.spec.description.device
    udns = {d.udn for d in root.iter_devices()}
    ours = [r for r in await collect_search("ssdp:all") if r["usn"].split("::")[0] in udns]
    assert len(ours) == 3 + 2 * 2 + 2
    location = host.description_url("127.0.0.1")
    for reply in ours:
        assert reply["location"] == location
        assert reply["ext"] == ""
        assert reply["server"].endswith("UPnP/1.1 upnpcm/" + __import__("upnpcm").__version__)
        assert reply["bootid.upnp.org"] == str(host.boot_id)
        assert reply["configid.upnp.org"] == str(host.spec.config_id)
        assert reply["cache-control"] == "max-age=1800"
    roots = await collect_search("upnp:rootdevice")
    assert [r["usn"] for r in roots if r["usn"].startswith(root.udn)] == [
        f"{root.udn}::upnp:rootdevice"
    ]
    by_udn = await collect_search(root.udn)
    assert [r["usn"] for r in by_udn] == [root.udn]
    by_type = [r for r in await collect_search(CM) if r["usn"].split("::")[0] in udns]
    assert sorted(r["usn"].split("::")[0] for r in by_type) == sorted(d.udn for d in root.devices)


async def test_alive_and_byebye_seen_by_third_party_listener(tmp_path):
    alive, byebye = [], []
    listener = SsdpAdvertisementListener(
        on_alive=lambda headers: alive.append(headers.get("usn")),
        on_byebye=lambda headers: byebye.append(headers.get("usn")),
        source=SOURCE,
        target=TARGET,
    )
    await listener.async_start()
    try:
        device = DeviceHost(
            DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("lo",)), state_dir=tmp_path
        )
        await device.start()
        usns = {f"{device.spec.description.device.udn}::upnp:rootdevice"}
        await asyncio.sleep(0.8)
        assert usns <= set(alive)
        assert (
            len([u for u in alive if u.startswith(device.spec.description.device.udn)]) >= 2
        )  # sent twice
        await device.stop()
        await asyncio.sleep(0.3)
        assert usns <= set(byebye)
        assert len(set(byebye)) == 3 + 2 * 2 + 2
    finally:
        await listener.async_stop()


async def test_malformed_datagram_storm_does_not_stop_answers(host):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    junk = [
        b"\x00" * 200,
        b"x" * 9000,
        b"M-SEARCH * HTTP/1.1\r\n" + b"A: b\r\n" * 500,
        b"M-SEARCH * HTTP/1.1\r\nST: " + b"u" * 5000 + b"\r\n\r\n",
        b"\r\n" * 100,
        build_msearch("ssdp:all", mx=0),
    ]
    started = time.monotonic()
    for _ in range(200):
        for data in junk:
            sock.sendto(data, TARGET)
        await asyncio.sleep(0)
    sock.close()
    assert time.monotonic() - started < 10
    await asyncio.sleep(0.5)  # the kernel drops what overflowed its buffer; ours drains
    found = await collect_search("upnp:rootdevice")
    assert any(r["usn"].startswith(host.spec.description.device.udn) for r in found)
    assert host.ssdp.responder.ignored >= 100  # (the kernel drops what overflows)


async def test_unicast_search_answered_at_once(host):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    try:
        started = time.monotonic()
        sock.sendto(
            build_msearch("upnp:rootdevice", mx=None, host="127.0.0.1:1900"), ("127.0.0.1", 1900)
        )
        data, _ = await asyncio.get_running_loop().run_in_executor(None, sock.recvfrom, 9000)
        assert time.monotonic() - started < 0.5
        assert parse_datagram(data).get("ST") == "upnp:rootdevice"
    finally:
        sock.close()


def serve_on_lo(state_dir):
    """`upnpcm serve` on 127.0.0.1 (any port), SSDP on lo; (process, match of its BOOTID)."""
    return start_serve(
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--interface",
        "lo",
        "--state-dir",
        str(state_dir),
        wait_for=r"BOOTID (\d+)",
    )


def test_serve_discovered_leaves_on_sigterm_and_bootid_grows(tmp_path):
    def start():
        proc, match = serve_on_lo(tmp_path)
        return proc, int(match.group(1))

    async def scenario():
        byebye = []
        listener = SsdpAdvertisementListener(
            on_byebye=lambda h: byebye.append(h), source=SOURCE, target=TARGET
        )
        await listener.async_start()
        try:
            proc, boot1 = start()
            found = await collect_search("upnp:rootdevice")
            ours = [r for r in found if r.get("bootid.upnp.org") == str(boot1)]
            assert ours, found
            udn = ours[0]["usn"].split("::")[0]
            assert stop(proc) == 0
            await asyncio.sleep(0.3)
            assert any(h.get("usn") == f"{udn}::upnp:rootdevice" for h in byebye)
            proc2, boot2 = start()
            try:
                again = [r for r in await collect_search(udn) if r["usn"] == udn]
                assert again and int(again[0]["bootid.upnp.org"]) == boot2 > boot1
            finally:
                stop(proc2)
        finally:
            await listener.async_stop()

    asyncio.run(scenario())


async def test_ipv6_search_on_ff02_c(tmp_path):
    device = DeviceHost(DeviceSettings(port=0, interfaces=("fd99::1",)), state_dir=tmp_path)
    await device.start()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        index = socket.if_nametoindex("d1")
        sock.bind(("fd99::2", 0))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.settimeout(3)
        sock.sendto(
            build_msearch("upnp:rootdevice", mx=1, host="[FF02::C]:1900"),
            ("ff02::c", 1900, 0, index),
        )
        data, _ = await asyncio.get_running_loop().run_in_executor(None, sock.recvfrom, 9000)
        reply = parse_datagram(data)
        assert reply.get("USN") == f"{device.spec.description.device.udn}::upnp:rootdevice"
        assert reply.get("LOCATION") == device.description_url("fd99::1")
        assert reply.get("LOCATION").startswith("http://[fd99::1]:")
    finally:
        sock.close()
        await device.stop()


def test_cli_discover_and_udn_target(tmp_path):
    import json

    proc, _ = serve_on_lo(tmp_path)
    try:
        found = subprocess.run(
            [
                sys.executable,
                "-m",
                "upnpcm",
                "discover",
                "--interface",
                "lo",
                "--timeout",
                "2",
                "--st",
                "upnp:rootdevice",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert found.returncode == 0
        records = [json.loads(line) for line in found.stdout.splitlines()]
        ours = [r for r in records if r["usn"].endswith("::upnp:rootdevice")]
        assert ours and ours[0]["location"].startswith("http://127.0.0.1:")
        udn = ours[0]["udn"]
        called = subprocess.run(
            [
                sys.executable,
                "-m",
                "upnpcm",
                "--interface",
                "lo",
                "call",
                udn,
                "MediaServer/ConnectionManager",
                "GetCurrentConnectionIDs",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout) == {"ConnectionIDs": ""}
        missing = subprocess.run(
            [
                sys.executable,
                "-m",
                "upnpcm",
                "--interface",
                "lo",
                "call",
                "uuid:00000000-0000-4000-8000-000000000000",
                "CM",
                "GetProtocolInfo",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert missing.returncode == 3 and "no device" in missing.stderr
    finally:
        stop(proc)


async def test_sonos_profile_found_by_zoneplayer_search(tmp_path):
    device = DeviceHost(
        DeviceSettings(profile="sonos", host=("127.0.0.1",), port=0, interfaces=("lo",)),
        state_dir=tmp_path,
    )
    await device.start()
    try:
        found = await collect_search("urn:schemas-upnp-org:device:ZonePlayer:1")
        root = device.spec.description.device
        ours = [r for r in found if r["usn"].startswith(root.udn)]
        assert len(ours) == 1
        reply = ours[0]
        assert reply["usn"] == f"{root.udn}::urn:schemas-upnp-org:device:ZonePlayer:1"
        assert reply["server"].startswith("Linux UPnP/1.0 Sonos/")
        assert reply["x-rincon-household"].startswith("Sonos_")
        assert reply["x-rincon-bootseq"] == reply["bootid.upnp.org"] == str(device.boot_id)
        assert "configid.upnp.org" not in reply  # Sonos sends none
        assert reply["cache-control"] == "max-age = 1800"
        assert reply["location"] == device.description_url("127.0.0.1")
        mr = [r for r in await collect_search(f"{root.udn}_MR") if r["usn"] == f"{root.udn}_MR"]
        assert mr
    finally:
        await device.stop()


async def test_our_discover_iterator_hears_alive_and_byebye(tmp_path):
    from upnpcm.aio.discovery import discover

    heard = []

    async def listen():
        async for found in discover(timeout=3, passive=True, search=False, interfaces=("lo",)):
            heard.append(found)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    device = DeviceHost(
        DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("lo",)), state_dir=tmp_path
    )
    await device.start()
    location = device.description_url("127.0.0.1")
    await asyncio.sleep(0.8)
    await device.stop()
    await listener
    root = device.spec.description.device.udn
    kinds = {(f.kind, f.usn) for f in heard if f.udn == root}
    assert ("alive", f"{root}::upnp:rootdevice") in kinds
    assert ("byebye", f"{root}::upnp:rootdevice") in kinds
    alive = next(f for f in heard if f.kind == "alive" and f.udn == root)
    assert alive.location == location
    assert alive.boot_id == device.boot_id and alive.max_age == 1800


async def test_uuid_target_never_fetches_a_location_on_another_host():
    """security.md item 36: a search reply from 127.0.0.1 naming 127.0.0.9 is not fetched."""
    import struct

    hits = []

    async def http(reader, writer):
        hits.append((await reader.readline()).decode().strip())
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    web_server = await asyncio.start_server(http, "127.0.0.9", 0)
    port = web_server.sockets[0].getsockname()[1]
    reply = (
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
        f"LOCATION: http://127.0.0.9:{port}/private/admin\r\nSERVER: x UPnP/1.1 y/1\r\n"
        "ST: uuid:evil-1\r\nUSN: uuid:evil-1\r\n\r\n"
    ).encode()

    class Responder(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            if data.startswith(b"M-SEARCH") and b"uuid:evil-1" in data:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                    out.bind(("127.0.0.1", 0))
                    out.sendto(reply, addr)

    group = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    group.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    group.bind(TARGET)
    membership = struct.pack("4s4s", socket.inet_aton(TARGET[0]), socket.inet_aton("127.0.0.1"))
    group.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Responder, sock=group)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "upnpcm",
            "--interface",
            "lo",
            "describe",
            "uuid:evil-1",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 3, err
        assert b"LOCATION host is not the sender" in err
        assert hits == []
    finally:
        transport.close()
        web_server.close()


async def test_a_device_of_ones_own_and_the_renderer_are_found_by_their_types(tmp_path):
    from upnpcm import Device, Service, StateVariable, action
    from upnpcm.renderer import MediaRenderer

    class Counter(Service):
        service_type = "urn:example-com:service:Counter:1"
        Count = StateVariable("ui4", default=0)

        @action(out={"CurrentCount": Count})
        def get_count(self) -> int:
            return int(self.Count)

    device = Device(
        device_type="urn:example-com:device:Gadget:1",
        friendly_name="gadget",
        services=[Counter()],
        devices=[MediaRenderer().device],
    )
    settings = DeviceSettings(host=("127.0.0.1",), port=0, interfaces=("lo",))
    async with DeviceHost(device, settings=settings, state_dir=tmp_path) as host:
        udns = {d.udn for d in host.spec.description.device.iter_devices()}
        for st in (
            "urn:example-com:service:Counter:1",
            "urn:schemas-upnp-org:device:MediaRenderer:1",
        ):
            found = [r for r in await collect_search(st) if r["usn"].split("::")[0] in udns]
            assert [r["st"] for r in found] == [st], st
            assert found[0]["location"] == host.description_url("127.0.0.1")
        everything = [
            r for r in await collect_search("ssdp:all") if r["usn"].split("::")[0] in udns
        ]
        # 3 + 2(d-1) + k: two devices, four device/service-type pairs (rule A5)
        assert len(everything) == 3 + 2 * 1 + 4
