from email.utils import formatdate

import pytest

from upnpcm.core.http import Headers, format_host, http_date, normalise_ip, parse_host_header
from upnpcm.errors import RemoteProtocolError


@pytest.mark.parametrize("t", [0, 1e9, 1_700_000_000.5, 4102444800])
def test_http_date_matches_rfc_format(t):
    assert http_date(t) == formatdate(t, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:1400", ("127.0.0.1", 1400)),
        ("10.0.0.5", ("10.0.0.5", None)),
        ("[::1]:80", ("::1", 80)),
        ("[::ffff:127.0.0.1]:1400", ("127.0.0.1", 1400)),
        (" 192.168.1.2:1400 ", ("192.168.1.2", 1400)),
    ],
)
def test_parse_host_header(value, expected):
    assert parse_host_header(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "localhost:1400",
        "evil.example",
        "127.0.0.1:0",
        "127.0.0.1:99999",
        "127.0.0.1:x",
        "127.0.0.1:\u00b2",  # "²".isdigit() is True, int("²") raises
        "[::1]:1\u00b2",
        "[::1",
        "::1",
        "[::1]x",
        "",
    ],
)
def test_bad_host_headers(value):
    with pytest.raises(RemoteProtocolError):
        parse_host_header(value)


def test_headers_case_insensitive_and_duplicates_visible():
    headers = Headers([("SID", "a"), ("sid", "b"), ("NT", "upnp:event")])
    assert headers.get("Sid") == "a"
    assert headers.get_all("SID") == ["a", "b"]
    assert "nt" in headers
    assert headers.get("missing", "x") == "x"
    with pytest.raises(RemoteProtocolError):
        headers.get_single("SID")
    assert headers.get_single("NT") == "upnp:event"


def test_helpers():
    assert format_host("::1", 80) == "[::1]:80"
    assert format_host("1.2.3.4", 80) == "1.2.3.4:80"
    assert normalise_ip("::ffff:10.0.0.1") == "10.0.0.1"
    assert normalise_ip("not-an-ip") == "not-an-ip"


# ------------------------------------------------------------- the one integer parser


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        ("0", {}, 0),
        ("1400", {}, 1400),
        ("18446744073709551615", {}, 2**64 - 1),  # 20 digits: still a number
        ("1" * 21, {}, None),  # one more: refused before conversion
        ("9" * 5000, {}, None),  # int() would raise ValueError (4,300-digit limit)
        ("9" * 5000, {"default": 7}, 7),
        ("", {}, None),
        (None, {}, None),
        (None, {"default": 3}, 3),
        ("\u00b2", {}, None),  # superscript two: isdigit() is True, int() raises
        ("\u0661\u0662", {}, None),  # Arabic-Indic digits: not what a peer writes
        (" 12", {}, None),  # the caller strips
        ("-1", {}, None),
        ("-1", {"signed": True}, -1),
        ("+15", {"signed": True}, 15),
        ("-", {"signed": True}, None),
        ("+-1", {"signed": True}, None),
        ("0x10", {}, None),
        ("1_000", {}, None),  # int() accepts underscores; protocols do not
        ("123", {"max_digits": 2}, None),
    ],
)
def test_decimal_is_the_one_integer_parser(text, kwargs, expected):
    from upnpcm.core.http import decimal

    assert decimal(text, **kwargs) == expected


# ------------------------------------------------------------ chunked bodies (B9)


def _chunked_end(body: bytes, *, cuts=(), **limits):
    from upnpcm.core.http import ChunkedBody

    reader = ChunkedBody(
        max_body=limits.get("max_body", 16384),
        **{k: v for k, v in limits.items() if k != "max_body"},
    )
    start = 0
    for cut in [*cuts, len(body)]:
        end = reader.feed(body[:cut], start)
        if end is not None:
            return end
        start = cut
    return None


@pytest.mark.parametrize(
    "body",
    [
        b"0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value;x\r\nhello\r\n000\r\nTrailer: 1\r\nOther: 2\r\n\r\n",
        b"A\r\n0123456789\r\n1\r\n\n\r\n0;e\r\n\r\n",
    ],
)
def test_chunked_body_ends_where_its_framing_ends_however_it_is_cut(body):
    after = b"GET / HTTP/1.1\r\n\r\n"
    stream = body + after
    assert _chunked_end(stream) == len(body)
    for cut in range(1, len(stream)):
        assert _chunked_end(stream, cuts=[cut]) == len(body), cut
    assert _chunked_end(stream, cuts=range(1, len(stream))) == len(body)
    assert _chunked_end(body[:-1]) is None  # not finished yet


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"4001\r\n", 413),  # one byte over 16 KiB: refused before any data
        (b"ffffffffffffffff\r\n", 413),
        (b"2000\r\n" + b"x" * 0x2000 + b"\r\n2001\r\n", 413),  # the sum passes the cap
        (b"1" * 21 + b"\r\n", 400),  # over 20 digits (B8)
        (b"5;" + b"e" * 257 + b"\r\n", 400),  # extensions over 256 bytes
        (b";e\r\n", 400),  # no size
        (b"g\r\n", 400),
        (b"5\rX", 400),  # CR not followed by LF
    ],
)
def test_chunked_body_refuses_what_it_announces(body, status):
    with pytest.raises(RemoteProtocolError) as caught:
        _chunked_end(body)
    assert caught.value.http_status == status


def test_chunked_body_limits_are_arguments():
    assert _chunked_end(b"5;" + b"e" * 9 + b"\r\nhello\r\n0\r\n\r\n", max_extension=10) is not None
    with pytest.raises(RemoteProtocolError):
        _chunked_end(b"5;" + b"e" * 10 + b"\r\n", max_extension=10)
    with pytest.raises(RemoteProtocolError):
        _chunked_end(b"6\r\n", max_body=5)


def test_format_head_is_the_one_head_serialiser():
    from upnpcm.core.http import format_head
    from upnpcm.errors import LocalProtocolError

    assert format_head("HTTP/1.1 200 OK", [("EXT", ""), ("SID", "uuid:x")]) == (
        b"HTTP/1.1 200 OK\r\nEXT:\r\nSID: uuid:x\r\n"
    )
    assert format_head("NOTIFY * HTTP/1.1", [("NT", "é")], encoding="utf-8").endswith(
        "NT: é\r\n".encode()
    )
    for bad in (("X", "a\r\nInjected: 1"), ("X\n", "a")):
        with pytest.raises(LocalProtocolError, match="CR/LF"):
            format_head("HTTP/1.1 200 OK", [bad])
