"""Hostile SSDP on the namespace's lo: dropped quietly, and searchers still answered (issue 12)."""

import asyncio
import logging
import socket

from upnpcm.aio.discovery import discover
from upnpcm.core.ssdp import build_msearch, parse_datagram

TARGET = ("239.255.255.250", 1900)
DIGITS = "9" * 900  # a header line holds at most 1 KiB


def multicast_sender(source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.bind((source, 0))
    return sock


async def test_a_status_line_of_many_digits_is_dropped_by_the_responder(host):
    sender = multicast_sender()
    try:
        sender.sendto(f"HTTP/1.1 {'9' * 5000} OK\r\nST: x\r\n\r\n".encode(), TARGET)
        sender.sendto(build_msearch("ssdp:all", mx=DIGITS), TARGET)
        await asyncio.sleep(0.3)
    finally:
        sender.close()
    assert host.ssdp.failures == 0  # nothing escaped the core (it used to raise ValueError)
    assert host.ssdp.responder.ignored >= 2
    searcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    searcher.bind(("127.0.0.1", 0))
    searcher.settimeout(2)
    try:
        searcher.sendto(
            build_msearch("upnp:rootdevice", mx=None, host="127.0.0.1:1900"), ("127.0.0.1", 1900)
        )
        data, _ = await asyncio.get_running_loop().run_in_executor(None, searcher.recvfrom, 9000)
    finally:
        searcher.close()
    assert parse_datagram(data).get("ST") == "upnp:rootdevice"


async def test_discovery_drops_long_numbers_and_keeps_listening(caplog):
    alive = (
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        "NTS: ssdp:alive\r\nUSN: uuid:calm::upnp:rootdevice\r\n"
        f"LOCATION: http://127.0.0.1:1400/d.xml\r\nBOOTID.UPNP.ORG: {DIGITS}\r\n\r\n"
    ).encode()
    seen = []

    async def listen() -> None:
        async for found in discover(
            "ssdp:all", timeout=1.5, interfaces=("lo",), passive=True, search=False
        ):
            seen.append(found)

    caplog.set_level(logging.ERROR, logger="asyncio")
    task = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    sender = multicast_sender()
    try:
        sender.sendto(f"HTTP/1.1 {'9' * 5000} OK\r\nST: x\r\n\r\n".encode(), TARGET)
        sender.sendto(alive, TARGET)
    finally:
        sender.close()
    await task
    assert [(f.usn, f.boot_id) for f in seen] == [("uuid:calm::upnp:rootdevice", None)]
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text


async def test_a_search_flood_from_50_sources_leaves_a_legitimate_searcher_answered(host):
    # Issue-12 regression (rule S8): 50 sources searching ssdp:all as fast as the per-source
    # rate allows held the whole reply budget, and a control point's search went unanswered.
    loop = asyncio.get_running_loop()
    flooders = [multicast_sender(f"127.0.2.{i}") for i in range(1, 51)]
    searcher = multicast_sender("127.0.3.1")
    searcher.setblocking(False)
    flood = build_msearch("ssdp:all", mx=1)
    answered: list[int] = []
    stop = loop.time() + 14.0  # bounded: 14 seconds, at most 7,500 datagrams

    async def flood_loop() -> None:
        sent = 0
        while loop.time() < stop and sent < 7_500:
            for _ in range(5):  # spread out: 500 a second in all, 10 a second from each
                flooders[sent % len(flooders)].sendto(flood, TARGET)
                sent += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(flood_loop())
    try:
        await asyncio.sleep(2.0)  # the flood is under way
        while loop.time() < stop - 1.5:
            searcher.sendto(build_msearch("upnp:rootdevice", mx=1), TARGET)
            replies = 0
            deadline = loop.time() + 1.2
            while loop.time() < deadline:
                try:
                    data = searcher.recv(9000)
                except BlockingIOError:
                    await asyncio.sleep(0.02)
                    continue
                replies += parse_datagram(data).get("ST") == "upnp:rootdevice"
            answered.append(replies)
            await asyncio.sleep(0.9)  # a control point searches now and then
        await task
    finally:
        task.cancel()
        for sock in [*flooders, searcher]:
            sock.close()
    assert len(answered) >= 4
    assert all(answered), answered
    assert host.ssdp.responder.answered > 10 * len(answered)  # the flood was answered too
