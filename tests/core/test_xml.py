import time

import pytest

from upnpcm.core.xml import (
    check_name,
    child,
    child_text,
    escape_attr,
    escape_text,
    inner_text,
    local_name,
    namespace_of,
    parse_xml,
)
from upnpcm.errors import LocalProtocolError, RemoteProtocolError


def test_parses_namespaced_document():
    root = parse_xml(b'<a xmlns="urn:x"><b>1</b><c/></a>', max_bytes=100)
    assert local_name(root.tag) == "a"
    assert namespace_of(root.tag) == "urn:x"
    assert child_text(root, "b") == "1"
    assert child(root, "missing") is None
    assert child_text(root, "missing", "dflt") == "dflt"


def test_size_cap_is_checked_before_parsing():
    with pytest.raises(RemoteProtocolError) as info:
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)
    assert info.value.http_status == 413


@pytest.mark.parametrize(
    "doc",
    [
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
        b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>',
        b"<!DOCTYPE a><a/>",
    ],
)
def test_any_dtd_is_refused(doc):
    with pytest.raises(RemoteProtocolError, match="forbidden XML construct"):
        parse_xml(doc, max_bytes=10_000)


@pytest.mark.parametrize("doc", [b"", b"   ", b"<a>", b"not xml", b"<a></b>", b"\xff\xfe<a/>"])
def test_malformed_raises_remote_protocol_error(doc):
    with pytest.raises(RemoteProtocolError):
        parse_xml(doc, max_bytes=100)


@pytest.mark.parametrize("encoding", ["foo", "utf-99"])
def test_unknown_encoding_is_a_protocol_error(encoding):
    doc = f'<?xml version="1.0" encoding="{encoding}"?><a/>'.encode()
    with pytest.raises(RemoteProtocolError, match="unknown encoding") as info:
        parse_xml(doc, max_bytes=100)
    assert info.value.http_status == 400


def test_deep_nesting_rejected_without_recursion():
    depth = 100_000
    doc = b"<a>" * depth + b"</a>" * depth
    started = time.monotonic()
    with pytest.raises(RemoteProtocolError, match="nesting"):
        parse_xml(doc, max_bytes=len(doc), max_depth=64)
    assert time.monotonic() - started < 5


def test_inner_text_refuses_markup():
    root = parse_xml(b"<a><b>x</b></a>", max_bytes=100)
    with pytest.raises(RemoteProtocolError):
        inner_text(root)
    assert inner_text(root[0]) == "x"


def test_escaping_round_trips_through_the_parser():
    nasty = "a<b>&c\"d'e\r\nf]]>"
    doc = f'<r v="{escape_attr(nasty)}">{escape_text(nasty)}</r>'.encode()
    root = parse_xml(doc, max_bytes=1000)
    assert root.text == nasty
    assert root.get("v") == nasty


def test_escape_refuses_characters_xml_cannot_carry():
    with pytest.raises(LocalProtocolError):
        escape_text("bad\x00value")


@pytest.mark.parametrize("name", ["Source", "u:Play", "A_ARG_TYPE_X", "x.y-z"])
def test_check_name_accepts_xml_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a>b", "<x>"])
def test_check_name_rejects_non_names(name):
    with pytest.raises(LocalProtocolError):
        check_name(name)


DECLARED = b'<?xml version="1.0" encoding="utf-8"?><a><b>1</b></a>'


@pytest.mark.parametrize(
    "padded",
    [
        DECLARED + b"\x00",
        b"\r\n" + DECLARED,
        b"\r\n \t" + DECLARED + b"\r\n\x00\x00",
        b"\x00\x00" + DECLARED,
    ],
)
def test_padding_is_stripped_only_when_asked(padded):
    root = parse_xml(padded, max_bytes=1000, strip_padding=True)
    assert child_text(root, "b") == "1"
    with pytest.raises(RemoteProtocolError):
        parse_xml(padded, max_bytes=1000)  # the strict default (device-side requests)


def test_padding_counts_toward_the_size_cap():
    with pytest.raises(RemoteProtocolError) as info:
        parse_xml(DECLARED + b"\x00" * 100, max_bytes=len(DECLARED) + 10, strip_padding=True)
    assert info.value.http_status == 413


def test_padding_alone_is_an_empty_document():
    with pytest.raises(RemoteProtocolError, match="empty"):
        parse_xml(b"\r\n\x00 ", max_bytes=100, strip_padding=True)


def test_utf16_documents_are_not_stripped():
    text = '<?xml version="1.0" encoding="utf-16"?><a><b>1</b></a>'
    for data in (text.encode("utf-16"), text.encode("utf-16-le")):
        root = parse_xml(data, max_bytes=1000, strip_padding=True)
        assert child_text(root, "b") == "1"
