"""SSDP search replies and announcements read into Discovered (no sockets)."""

from __future__ import annotations

import pytest

from upnpcm.core.discovery import interpret, max_age

SOURCE = ("127.0.0.1", 1900)
REPLY = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
    b"LOCATION: http://127.0.0.1:1400/d.xml\r\nST: upnp:rootdevice\r\n"
    b"USN: uuid:x::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\nSERVER: a/1 UPnP/1.0 b/2\r\n\r\n"
)


def notify(nts: str, extra: str = "") -> bytes:
    return (
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        f"NTS: {nts}\r\nUSN: uuid:x::upnp:rootdevice\r\n{extra}\r\n"
    ).encode()


def test_a_search_reply():
    found = interpret(REPLY, SOURCE)
    assert found is not None
    assert (found.kind, found.usn, found.nt, found.udn) == (
        "response",
        "uuid:x::upnp:rootdevice",
        "upnp:rootdevice",
        "uuid:x",
    )
    assert (found.location, found.source, found.max_age, found.boot_id) == (
        "http://127.0.0.1:1400/d.xml",
        SOURCE,
        1800,
        7,
    )
    assert found.server == "a/1 UPnP/1.0 b/2"


@pytest.mark.parametrize(
    ("nts", "kind"), [("ssdp:alive", "alive"), ("ssdp:byebye", "byebye"), ("SSDP:Update", "update")]
)
def test_announcement_kinds(nts, kind):
    found = interpret(notify(nts), SOURCE)
    assert found is not None and found.kind == kind and found.location is None


def test_sonos_boot_sequence_counts_as_boot_id():
    found = interpret(notify("ssdp:alive", "X-RINCON-BOOTSEQ: 12\r\n"), SOURCE)
    assert found is not None and found.boot_id == 12


@pytest.mark.parametrize(
    "data",
    [
        REPLY.replace(b"200 OK", b"404 Not Found"),
        REPLY.replace(b"USN: uuid:x::upnp:rootdevice\r\n", b""),
        notify("ssdp:discover"),
        b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        b"MX: 1\r\nST: ssdp:all\r\n\r\n",
        b"garbage",
    ],
)
def test_what_is_not_a_reply_or_announcement_reads_as_none(data):
    assert interpret(data, SOURCE) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("max-age=1800", 1800),
        ("max-age = 1800", 1800),
        ("MAX-AGE=60", 60),
        ("no-cache", None),
        ("max-age=x", None),
        ("", None),
        (None, None),
    ],
)
def test_max_age(text, seconds):
    assert max_age(text) == seconds


def test_over_long_numbers_read_as_absent_never_raise():
    # Issue-12 regression: a status code or BOOTID of 5,000 digits raised ValueError.
    from upnpcm.core.discovery import interpret

    digits = "9" * 5000
    status_line = (
        f"HTTP/1.1 {digits} OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\n\r\n"
    )
    assert interpret(status_line.encode(), ("127.0.0.1", 1900)) is None
    reply = (
        "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\n"
        f"LOCATION: http://127.0.0.1/d.xml\r\nBOOTID.UPNP.ORG: {digits[:900]}\r\n"
        f"CONFIGID.UPNP.ORG: {digits[:900]}\r\nCACHE-CONTROL: max-age={digits[:900]}\r\n\r\n"
    )
    found = interpret(reply.encode(), ("127.0.0.1", 1900))
    assert found is not None
    assert (found.boot_id, found.config_id, found.max_age) == (None, None, None)


def test_reply_and_announcement_problems():
    from upnpcm.core.discovery import announcement_problems, reply_problems, uda_version
    from upnpcm.core.ssdp import parse_datagram

    good = (
        b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age = 1800\r\nEXT:\r\n"
        b"LOCATION: http://10.0.0.5:1400/d.xml\r\nSERVER: Linux UPnP/1.0 Sonos/85\r\n"
        b"ST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\n\r\n"
    )
    assert reply_problems(parse_datagram(good)) == []
    bad = good.replace(b"EXT:\r\n", b"").replace(b"max-age = 1800", b"no-cache")
    assert reply_problems(parse_datagram(bad)) == [
        "no EXT header",
        "CACHE-CONTROL 'no-cache' has no max-age",
    ]
    alive = (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
        b"LOCATION: /d.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: x UPnP/1.1 y\r\n"
        b"USN: uuid:x::upnp:rootdevice\r\n\r\n"
    )
    assert announcement_problems(parse_datagram(alive)) == [
        "LOCATION '/d.xml' is not an absolute http URL"
    ]
    byebye = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: a\r\nNTS: ssdp:byebye\r\n\r\n"
    assert announcement_problems(parse_datagram(byebye)) == ["no USN header"]
    assert uda_version("Linux/6.1, UPnP/1.0, Portable SDK") == (1, 0)
    assert uda_version("Linux/6 UPnP/1.1 upnpcm/0.1") == (1, 1)
    assert uda_version("nothing") is None
