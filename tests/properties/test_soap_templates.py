"""The SOAP template fast path must agree with the safe parser on every body.

``parse_action_request`` reads a body whose markup matches an already
accepted body straight from a template (see ``upnpcm.core.soap._Template``).
These properties fill the template's argument slots with arbitrary bytes
(markup, entities, CR, ``]]>``, control characters, broken UTF-8…) and
require the same answer, value or error, as a full parse by defusedxml.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from upnpcm.core import soap
from upnpcm.core.soap import ActionRequest, build_action_request, parse_action_request
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


def _outcome(call, *args) -> ActionRequest | tuple[type, int | None]:
    try:
        return call(*args)
    except UPnPError as exc:
        return (UPnPError, exc.code)
    except RemoteProtocolError as exc:
        return (type(exc), exc.status_hint)


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
    parse_action_request(HEADER, SEED)  # the accepted body: its template exists now
    body = _with_values(values)
    fast = _outcome(parse_action_request, HEADER, body)
    slow = _outcome(soap._parse_action_request_xml, HEADER, body, soap.MAX_REQUEST_BYTES)
    assert fast == slow


def test_template_path_is_taken_and_skips_the_parser(monkeypatch):
    parse_action_request(HEADER, SEED)

    def no_parse(*args, **kwargs):
        raise AssertionError("the XML parser was called")

    monkeypatch.setattr(soap, "parse_xml", no_parse)
    body = _with_values([b"http-get:*:audio/flac:*", b"peer", b"17", b"Output"])
    request = parse_action_request(HEADER, body)
    assert dict(request.arguments)["PeerConnectionID"] == "17"
    assert dict(request.arguments)["Direction"] == "Output"
    with pytest.raises(AssertionError):  # markup it has not seen goes to the parser
        parse_action_request(HEADER, _with_values([b"&amp;", b"p", b"1", b"Output"]))


def test_template_respects_the_size_limit():
    parse_action_request(HEADER, SEED)
    big = _with_values([b"x" * 5000, b"p", b"1", b"Input"])
    with pytest.raises(RemoteProtocolError) as info:
        parse_action_request(HEADER, big, max_bytes=len(SEED) + 100)
    assert info.value.status_hint == 413


def test_templates_are_bounded():
    for i in range(soap._MAX_TEMPLATE_KEYS + 10):
        _, body = build_action_request(f"urn:x-test:service:T{i}:1", "A", [("V", "1")])
        parse_action_request(f'"urn:x-test:service:T{i}:1#A"', body)
    assert len(soap._TEMPLATES) <= soap._MAX_TEMPLATE_KEYS
