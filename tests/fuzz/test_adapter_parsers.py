"""Fuzz targets of what reads bytes from a socket: the device's HTTP framing, the device's
routing, and the control point's reply reader. No socket is opened: bytes are fed as reads."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from tests.core.test_device import CONTROL, make_core
from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import NUMBERS, TEXT, header_lines
from upnpcm.aio.http_client import HttpReply, _ReplyReader
from upnpcm.aio.http_server import HttpLimits, HttpProtocol
from upnpcm.core.http import Headers, HttpRequest, HttpResponse
from upnpcm.core.soap import build_action_request
from upnpcm.errors import TransportError

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
_, SOAP_BODY = build_action_request(CM, "GetCurrentConnectionInfo", [("ConnectionID", "0")])
DEVICE_STATUSES = {200, 400, 404, 405, 412, 413, 415, 500, 501, 503}
SERVER_STATUSES = {200, 400, 413, 414, 431, 501, 503}


class _Transport:
    """Enough of a transport for the protocols under test; records what they write."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1400) if name in ("peername", "sockname") else None

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


# ------------------------------------------------------------- the device's HTTP framing


HEAD_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Host: 127.0.0.1:1400",
                "Content-Type: text/xml",
                f'SOAPACTION: "{CM}#GetCurrentConnectionInfo"',
                "Transfer-Encoding: chunked",
                "transfer-encoding: gzip, chunked",
                "Expect: 100-continue",
                "Connection: close",
            ]
        ),
        NUMBERS.map(lambda n: f"Content-Length: {n}"),
        header_lines(["Host", "Content-Length", "Transfer-Encoding"]).map(
            lambda pairs: "\r\n".join(f"{k}: {v}" for k, v in pairs) or "X: y"
        ),
    ),
    max_size=8,
)
BODIES = st.one_of(
    st.just(SOAP_BODY),
    st.binary(max_size=200),
    st.tuples(NUMBERS, st.binary(max_size=50)).map(
        lambda p: p[0].encode("utf-8", "surrogatepass") + b"\r\n" + p[1] + b"\r\n0\r\n\r\n"
    ),
    st.integers(0, 600).map(lambda n: b"5;" + b"e" * n + b"\r\nhello\r\n0\r\n\r\n"),
)
REQUEST_LINES = st.one_of(
    st.sampled_from(
        [
            f"POST {CONTROL} HTTP/1.1",
            "GET /xml/device_description.xml HTTP/1.1",
            "GET /xml/device_description.xml",
            "SUBSCRIBE /e HTTP/1.1",
            "BREW / HTTP/1.1",
            "GET / HTTP/1.0",
        ]
    ),
    TEXT.map(lambda t: f"GET /{t} HTTP/1.1"),
)
STREAMS = st.lists(
    st.tuples(REQUEST_LINES, HEAD_LINES, BODIES).map(
        lambda r: (
            (r[0] + "\r\n" + "".join(f"{line}\r\n" for line in r[1]) + "\r\n").encode(
                "utf-8", "surrogatepass"
            )
            + r[2]
        )
    ),
    min_size=1,
    max_size=4,
).map(b"".join)


@FUZZ
@given(STREAMS, st.lists(st.integers(1, 400), max_size=6))
def test_http_server_framing(stream, cuts):
    limits = HttpLimits(max_body=1024)
    seen: list[HttpRequest] = []

    def handler(request: HttpRequest) -> tuple[HttpResponse, None]:
        seen.append(request)
        return HttpResponse(status=200, body=b"ok"), None

    async def run() -> _Transport:
        protocol = HttpProtocol(handler, limits)
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        start = 0
        for cut in sorted(cuts):
            protocol.data_received(stream[start : start + cut])
            start += cut
        protocol.data_received(stream[start:])
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(run())
    assert all(len(request.body) <= limits.max_body for request in seen)
    for written in transport.written:
        if written.startswith(b"HTTP/1.1 100"):
            continue
        assert written.startswith(b"HTTP/1.1 ")
        assert int(written.split()[1]) in SERVER_STATUSES


# ------------------------------------------------------------------ the device's routing


@FUZZ
@given(
    st.sampled_from(["GET", "HEAD", "POST", "SUBSCRIBE", "UNSUBSCRIBE", "NOTIFY", "BREW", "get"]),
    st.sampled_from(
        [CONTROL, "/xml/device_description.xml", "/MediaRenderer/ConnectionManager/Event", "/x"]
    ),
    header_lines(["SOAPACTION", "Content-Type", "CALLBACK", "NT", "SID", "TIMEOUT", "Host"]),
    BODIES,
    st.booleans(),
)
def test_device_core_answers_every_request(method, path, pairs, body, fast):
    core, _ = make_core(fast_paths=fast)
    base = [("Host", "127.0.0.1:1400"), ("Content-Type", "text/xml")]
    for headers in (pairs, [*base, *pairs]):
        result = core.handle(
            HttpRequest(
                method=method,
                path=path,
                headers=Headers(headers),
                body=body,
                peer="127.0.0.1",
                local="127.0.0.1",
                local_port=1400,
            ),
            now=1.0,
            entropy=99,
        )
        assert result.response.status in DEVICE_STATUSES


# ------------------------------------------------------- the control point's reply reader


REPLIES = st.tuples(
    st.one_of(
        st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"]),
        NUMBERS.map(lambda n: f"HTTP/1.1 {n} X"),
        TEXT,
    ),
    HEAD_LINES,
    BODIES,
).map(
    lambda r: (
        (r[0] + "\r\n" + "".join(f"{line}\r\n" for line in r[1]) + "\r\n").encode(
            "utf-8", "surrogatepass"
        )
        + r[2]
    )
)


@FUZZ
@given(REPLIES, st.lists(st.integers(1, 300), max_size=5), st.booleans())
def test_control_point_reply_reader(reply, cuts, head_only):
    async def run() -> HttpReply | BaseException:
        done: asyncio.Future[HttpReply] = asyncio.get_running_loop().create_future()
        reader = _ReplyReader(
            b"GET / HTTP/1.1\r\n\r\n",
            done,
            max_bytes=512,
            max_head=4096,
            head_only=head_only,
            url="http://127.0.0.1/",
        )
        reader.connection_made(_Transport())  # type: ignore[arg-type]
        start = 0
        for cut in [*sorted(cuts), len(reply)]:
            if done.done():
                break
            reader.data_received(reply[start : start + cut])
            start += cut
        reader.connection_lost(None)
        return done.result() if done.exception() is None else done.exception()  # type: ignore[return-value]

    outcome = asyncio.run(run())
    assert isinstance(outcome, HttpReply | TransportError), outcome
    if isinstance(outcome, HttpReply):
        assert len(outcome.body) <= 512
