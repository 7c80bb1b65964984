"""The SOAP template fast path must agree with the safe parser on every body.

``Memo.parse_action_request`` reads a body whose markup matches an already
accepted body straight from a template (see ``upnpcm.core.memo.Template``).
These properties fill the template's argument slots with arbitrary bytes
(markup, entities, CR, ``]]>``, control characters, broken UTF-8…) and
require the same answer, value or error, as a full parse by defusedxml.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from upnpcm.core import memo, soap
from upnpcm.core.memo import Memo
from upnpcm.core.soap import ActionRequest, build_action_request
from upnpcm.errors import RemoteProtocolError, UPnPError

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
HEADER = f'"{CM}#PrepareForConnection"'
NAMES = ("RemoteProtocolInfo", "PeerConnectionManager", "PeerConnectionID", "Direction")

_, SEED = build_action_request(
    CM,
    "PrepareForConnection",
    [
        ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
        ("PeerConnectionManager", "uuid:x/urn:upnp-org:serviceId:ConnectionManager"),
        ("PeerConnectionID", "-1"),
        ("Direction", "Input"),
    ],
)


def fast_parser():
    """A device's memo that has accepted SEED (so SEED's template exists)."""
    fast = Memo()
    fast.parse_action_request(HEADER, SEED, max_bytes=soap.MAX_REQUEST_BYTES)
    return fast


def _outcome(call, *args, **kwargs) -> ActionRequest | tuple[type, int | None]:
    try:
        return call(*args, **kwargs)
    except UPnPError as exc:
        return (UPnPError, exc.code)
    except RemoteProtocolError as exc:
        return (type(exc), exc.http_status)


def _with_values(values: list[bytes]) -> bytes:
    body = SEED
    for name, value in zip(NAMES, values, strict=True):
        start = body.index(f"<{name}>".encode()) + len(name) + 2
        end = body.index(f"</{name}>".encode())
        body = body[:start] + value + body[end:]
    return body


slot_bytes = st.one_of(
    st.binary(max_size=24),
    st.text(max_size=24).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"<",
            b"&",
            b"&amp;",
            b"&#0;",
            b"\r\n",
            b"]]>",
            b"\x00",
            b"\x1b",
            b"\xff",
            b"\xc3",
            b"</Direction><X>1</X><Direction>",
            b"<![CDATA[x]]>",
            b"<!-- c -->",
            b"\xef\xbf\xbe",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(slot_bytes, min_size=4, max_size=4))
@example([b"a"] * 4)
@example([b"", b"", b"", b"\r"])
def test_template_agrees_with_full_parse(values):
    parser = fast_parser()  # the accepted body: its template exists now
    body = _with_values(values)
    fast = _outcome(parser.parse_action_request, HEADER, body, max_bytes=soap.MAX_REQUEST_BYTES)
    slow = _outcome(soap.parse_action_request, HEADER, body)
    assert fast == slow


def test_template_path_is_taken_and_skips_the_parser(monkeypatch):
    parser = fast_parser()

    def no_parse(*args, **kwargs):
        raise AssertionError("the XML parser was called")

    monkeypatch.setattr(soap, "parse_xml", no_parse)
    body = _with_values([b"http-get:*:audio/flac:*", b"peer", b"17", b"Output"])
    request = parser.parse_action_request(HEADER, body, max_bytes=soap.MAX_REQUEST_BYTES)
    assert dict(request.arguments)["PeerConnectionID"] == "17"
    assert dict(request.arguments)["Direction"] == "Output"
    other = _with_values([b"&amp;", b"p", b"1", b"Output"])
    with pytest.raises(AssertionError):  # markup it has not seen goes to the parser
        parser.parse_action_request(HEADER, other, max_bytes=soap.MAX_REQUEST_BYTES)
    with pytest.raises(AssertionError):  # and with the fast paths off, everything does
        Memo(enabled=False).parse_action_request(HEADER, SEED, max_bytes=soap.MAX_REQUEST_BYTES)


def test_template_respects_the_size_limit():
    parser = fast_parser()
    big = _with_values([b"x" * 5000, b"p", b"1", b"Input"])
    with pytest.raises(RemoteProtocolError) as info:
        parser.parse_action_request(HEADER, big, max_bytes=len(SEED) + 100)
    assert info.value.http_status == 413


def test_templates_are_bounded():
    parser = Memo()
    for i in range(memo.MAX_TEMPLATE_KEYS + 10):
        _, body = build_action_request(f"urn:x-test:service:T{i}:1", "A", [("V", "1")])
        parser.parse_action_request(f'"urn:x-test:service:T{i}:1#A"', body, max_bytes=16384)
        assert len(parser.templates) <= memo.MAX_TEMPLATE_KEYS
    assert len(parser.templates) > 0


def test_two_devices_share_no_template():
    first = fast_parser()
    assert first.templates
    assert Memo().templates == {}


def _unique_markup(i: int, padding: int) -> bytes:
    """A valid PrepareForConnection whose markup is new every time (an attribute value)."""
    return SEED.replace(b"<s:Body>", f'<s:Body x{i}="{"p" * padding}">'.encode())


def test_large_bodies_get_no_template():
    # Issue-12 regression: a 14 KiB body with new markup each time made the device
    # compile a 14 KiB regex per request. Large bodies are parsed, never templated.
    parser = Memo()
    for i in range(20):
        body = _unique_markup(i, 14_000)
        request = parser.parse_action_request(HEADER, body, max_bytes=soap.MAX_REQUEST_BYTES)
        assert request.action == "PrepareForConnection"
    assert parser.templates == {}


def test_template_memory_is_bounded_in_bytes():
    parser = Memo()
    for i in range(400):
        body = _unique_markup(i, memo.MAX_TEMPLATE_BODY - len(SEED) - 40)
        assert len(body) <= memo.MAX_TEMPLATE_BODY
        header = " " * (i % 100) + HEADER  # 100 SOAPACTION keys, 4 templates each
        parser.parse_action_request(header, body, max_bytes=soap.MAX_REQUEST_BYTES)
        held = sum(t.size for known in parser.templates.values() for t in known)
        assert held == parser._template_bytes <= memo.MAX_TEMPLATE_BYTES
    assert parser.templates  # small bodies still get templates


def test_parsed_request_keys_are_bounded_in_bytes():
    parser = Memo()
    for i in range(200):
        parser.parse_action_request(HEADER, _unique_markup(i, 12_000), max_bytes=16384)
        assert sum(len(key[1]) for key in parser._requests) <= memo.MAX_REQUEST_KEY_BYTES
