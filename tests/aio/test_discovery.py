"""Search replies and announcements as the discovery socket hands them over (no network)."""

from __future__ import annotations

import asyncio

import pytest

from upnpcm.aio.discovery import _Collector
from upnpcm.core.discovery import Discovered

REPLY = (
    "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age={age}\r\nEXT:\r\n"
    "LOCATION: http://127.0.0.1:1400/d.xml\r\nST: upnp:rootdevice\r\n"
    "USN: uuid:x::upnp:rootdevice\r\nBOOTID.UPNP.ORG: {boot}\r\nCONFIGID.UPNP.ORG: {config}\r\n\r\n"
)


def received(data: bytes) -> list[Discovered]:
    queue: asyncio.Queue[Discovered] = asyncio.Queue()
    _Collector(queue).datagram_received(data, ("127.0.0.1", 1900))
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_well_formed_numbers_are_read():
    (found,) = received(REPLY.format(age="1800", boot=" 7 ", config="3").encode())
    assert (found.boot_id, found.config_id, found.max_age) == (7, 3, 1800)


@pytest.mark.parametrize("bad", ["\u00b2", "1\u00b2", "\u0663", "-1", "x", ""])
def test_malformed_numbers_count_as_absent_and_never_raise(bad):
    for field in ("age", "boot", "config"):
        values = {"age": "1800", "boot": "7", "config": "3", field: bad}
        (found,) = received(REPLY.format(**values).encode("utf-8"))
        read = {"age": found.max_age, "boot": found.boot_id, "config": found.config_id}
        assert read[field] is None
        assert found.location == "http://127.0.0.1:1400/d.xml"


def test_latin1_superscript_bootid_as_sent_on_the_wire():
    data = REPLY.format(age="1800", boot="BOOT", config="3").encode().replace(b"BOOT", b"\xb2")
    (found,) = received(data)
    assert found.boot_id is None


def test_a_status_line_with_a_non_ascii_digit_is_dropped():
    data = REPLY.format(age="1800", boot="7", config="3").replace("200", "2\u00b20").encode()
    assert received(data) == []
