"""Fuzz targets of the sans-I/O parsers: a value or our protocol error, never anything else."""

from __future__ import annotations

import contextlib
import random

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import NUMBERS, TEXT, header_lines, replace_some
from upnpcm.core.datatypes import from_wire
from upnpcm.core.description import parse_device_description, parse_scpd
from upnpcm.core.discovery import interpret
from upnpcm.core.gena import (
    SubscriberTable,
    parse_callback_header,
    parse_propertyset,
    parse_timeout,
    validate_callback,
)
from upnpcm.core.http import (
    MAX_DIGITS,
    ChunkedBody,
    Headers,
    HttpRequest,
    decimal,
    parse_host_header,
)
from upnpcm.core.protocol_info import ProtocolInfo, parse_list
from upnpcm.core.soap import (
    parse_action_request,
    parse_action_response,
    parse_fault,
    parse_soapaction,
)
from upnpcm.core.ssdp import (
    SearchResponder,
    SsdpConfig,
    advertisements,
    location_matches_source,
    parse_datagram,
)
from upnpcm.core.subscription import NotifyRouter
from upnpcm.core.xml import parse_xml
from upnpcm.errors import (
    ProtocolInfoError,
    RemoteProtocolError,
    SubscriptionError,
    UPnPError,
)

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
ENVELOPE = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    f'<u:GetCurrentConnectionInfo xmlns:u="{CM}"><ConnectionID>0</ConnectionID>'
    "</u:GetCurrentConnectionInfo></s:Body></s:Envelope>"
)
FAULT = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    "<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
    '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>706</errorCode>'
    "<errorDescription>Invalid connection reference</errorDescription></UPnPError></detail>"
    "</s:Fault></s:Body></s:Envelope>"
)
DESCRIPTION = (
    '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion>'
    "<major>1</major><minor>0</minor></specVersion><URLBase>http://127.0.0.1:1400/</URLBase>"
    "<device><deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>"
    "<UDN>uuid:a</UDN><iconList><icon><mimetype>image/png</mimetype><width>48</width>"
    "<height>48</height><depth>24</depth><url>/i.png</url></icon></iconList><serviceList>"
    f"<service><serviceType>{CM}</serviceType><serviceId>urn:upnp-org:serviceId:CM</serviceId>"
    "<SCPDURL>/s.xml</SCPDURL><controlURL>/c</controlURL><eventSubURL>/e</eventSubURL>"
    "</service></serviceList><deviceList><device><deviceType>urn:x:device:Y:1</deviceType>"
    "<UDN>uuid:b</UDN></device></deviceList></device></root>"
)
SCPD = (
    '<?xml version="1.0"?><scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList><action>'
    "<name>GetCurrentConnectionInfo</name><argumentList><argument><name>ConnectionID</name>"
    "<direction>in</direction><relatedStateVariable>A_ARG_TYPE_ConnectionID"
    "</relatedStateVariable></argument></argumentList></action></actionList>"
    '<serviceStateTable><stateVariable sendEvents="no"><name>A_ARG_TYPE_ConnectionID</name>'
    "<dataType>i4</dataType><allowedValueRange><minimum>0</minimum><maximum>9</maximum>"
    "</allowedValueRange></stateVariable></serviceStateTable></scpd>"
)
PROPERTYSET = (
    '<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property>'
    "<CurrentConnectionIDs>0</CurrentConnectionIDs></e:property></e:propertyset>"
)
SEARCH_REPLY = (
    "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
    "LOCATION: http://127.0.0.1:1400/d.xml\r\nSERVER: Linux UPnP/1.1 x/1\r\n"
    "ST: upnp:rootdevice\r\nUSN: uuid:a::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\n"
    "CONFIGID.UPNP.ORG: 1\r\n\r\n"
)
M_SEARCH = (
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n'
    "ST: urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n"
)
PROTOCOL_ERRORS = (RemoteProtocolError, UPnPError)


def _xml_documents(document: str, parts: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        replace_some(document, parts).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
    )


# ---------------------------------------------------------------------- numbers, HTTP


@FUZZ
@given(NUMBERS, st.booleans(), st.integers(min_value=0, max_value=40))
def test_decimal_returns_a_number_or_the_default(text, signed, digits):
    value = decimal(text, signed=signed, max_digits=digits)
    if value is not None:  # only ASCII digits, at most max_digits of them, were converted
        body = text[1:] if signed and text[:1] in ("+", "-") else text
        assert body.isascii() and body.isdigit() and 0 < len(body) <= digits
        assert value == int(text)


@FUZZ
@given(st.one_of(TEXT, st.tuples(TEXT, NUMBERS).map(lambda p: f"{p[0]}:{p[1]}")))
@example("[::1]:" + "9" * 5000)
def test_host_header(value):
    try:
        ip, port = parse_host_header(value)
    except RemoteProtocolError:
        return
    assert port is None or 0 < port < 65536


@FUZZ
@given(header_lines(["SOAPACTION", "Content-Type", "Host", "SID"]))
def test_headers_single_and_agreed(pairs):
    headers = Headers(pairs)
    for name in ("SOAPACTION", "Content-Type", "Host", "SID"):
        for read in (headers.get_single, headers.get_agreed):
            with contextlib.suppress(RemoteProtocolError):
                read(name)


CHUNK_PIECES = st.one_of(
    NUMBERS.map(lambda n: n.encode("utf-8", "surrogatepass") + b"\r\n"),
    st.sampled_from([b"5\r\nhello\r\n", b"0\r\n\r\n", b";ext=1", b"\r\n", b"\n", b"T: 1\r\n"]),
    st.integers(0, 600).map(lambda n: b";" + b"e" * n),
    st.binary(max_size=40),
)


@FUZZ
@given(st.lists(CHUNK_PIECES, max_size=12), st.integers(1, 64))
def test_chunked_body(pieces, step):
    data = b"".join(pieces)
    reader = ChunkedBody(max_body=16384)
    try:
        for start in range(0, len(data), step):
            end = reader.feed(data[: start + step], start)
            if end is not None:
                assert start < end <= start + step
                return
    except RemoteProtocolError as exc:
        assert exc.http_status in (400, 413)


# ---------------------------------------------------------------------------- XML, SOAP


@FUZZ
@given(_xml_documents(ENVELOPE, ["<s:Body>", "0", "<ConnectionID>", 'version="1.0"']))
@example(b"<a>" * 100 + b"</a>" * 100)
def test_parse_xml(data):
    with contextlib.suppress(RemoteProtocolError):
        parse_xml(data, max_bytes=16384)


@FUZZ
@given(
    st.one_of(
        TEXT,
        NUMBERS.map(lambda n: f'"{CM[:-1]}{n}#GetCurrentConnectionInfo"'),
    ),
    _xml_documents(
        ENVELOPE,
        ["<s:Body>", "0", f'<u:GetCurrentConnectionInfo xmlns:u="{CM}">', "<ConnectionID>0"],
    ),
)
def test_parse_action_request(soapaction, body):
    with contextlib.suppress(PROTOCOL_ERRORS):
        parse_action_request(soapaction, body)
    with contextlib.suppress(RemoteProtocolError):
        parse_soapaction(soapaction)


@FUZZ
@given(
    _xml_documents(
        FAULT, ["706", "Invalid connection reference", "<s:Fault>", "<UPnPError", "<s:Body>"]
    )
)
@example(FAULT.replace("706", "9" * 5000).encode())
def test_parse_fault_and_response(body):
    try:
        error = parse_fault(body)
    except RemoteProtocolError:
        pass
    else:
        assert isinstance(error, UPnPError)
        assert len(error.description or "") <= 4096 + 64
    with contextlib.suppress(PROTOCOL_ERRORS):
        parse_action_response(body, "GetCurrentConnectionInfo")


# ---------------------------------------------------------------------- descriptions


@FUZZ
@given(
    _xml_documents(
        DESCRIPTION,
        ["48", "24", "<major>1", "<service>", "<device>", "http://127.0.0.1:1400/", "/s.xml"],
    ),
    st.integers(0, 5),
    st.integers(0, 5),
)
def test_parse_device_description(data, max_devices, max_services):
    try:
        description = parse_device_description(
            data, max_devices=max_devices, max_services=max_services
        )
    except RemoteProtocolError:
        return
    assert len(list(description.device.iter_devices())) <= max_devices
    assert len(list(description.device.iter_services())) <= max_services
    for location in ("http://127.0.0.1:1400/d.xml", "http://[::1/x", "file:///x", ""):
        description.foreign_urls(location)


@FUZZ
@given(_xml_documents(SCPD, ["i4", "<action>", "<stateVariable", "0", "9", "in"]))
def test_parse_scpd(data):
    with contextlib.suppress(RemoteProtocolError):
        parse_scpd(data)


@FUZZ
@given(
    st.sampled_from(
        [
            "i4",
            "ui4",
            "i1",
            "ui8",
            "int",
            "r8",
            "float",
            "fixed.14.4",
            "boolean",
            "uuid",
            "bin.base64",
            "bin.hex",
            "date",
            "dateTime",
            "time.tz",
            "char",
            "string",
        ]
    ),
    st.one_of(TEXT, NUMBERS),
)
def test_from_wire(data_type, text):
    try:
        from_wire(data_type, text)
    except UPnPError as exc:
        assert exc.code == 402


# ---------------------------------------------------------------------------- GENA


@FUZZ
@given(
    st.one_of(TEXT, NUMBERS.map(lambda n: f"Second-{n}")),
    st.one_of(
        TEXT,
        st.tuples(st.sampled_from(["127.0.0.1", "[::1]", "0.0.0.0", "h.example"]), NUMBERS).map(
            lambda p: f"<http://{p[0]}:{p[1]}/cb>"
        ),
    ),
)
def test_gena_headers(timeout, callback):
    seconds = parse_timeout(timeout)
    assert seconds is None or 0 <= seconds < 10**10
    for url in parse_callback_header(callback, limit=6):
        assert validate_callback(url, peer="127.0.0.1", own=("127.0.0.1", 1400)) is None or True


@FUZZ
@given(header_lines(["CALLBACK", "NT", "TIMEOUT", "SID"]))
def test_subscriber_table(pairs):
    table = SubscriberTable()
    for headers in (Headers(pairs), Headers([("NT", "upnp:event"), *pairs])):
        try:
            table.subscribe(
                headers,
                peer="127.0.0.1",
                own=("127.0.0.1", 1400),
                now=0.0,
                entropy=12345,
                evented_state={"A": "1"},
            )
        except SubscriptionError as exc:
            assert exc.http_status in (400, 412, 503)
        try:
            table.unsubscribe(headers, now=0.0)
        except SubscriptionError as exc:
            assert exc.http_status in (400, 412)


@FUZZ
@given(
    header_lines(["SID", "NT", "NTS", "SEQ"]),
    _xml_documents(PROPERTYSET, ["<e:property>", "0", "CurrentConnectionIDs"]),
)
def test_notify_router(pairs, body):
    router = NotifyRouter()
    base = [("NT", "upnp:event"), ("NTS", "upnp:propchange"), ("SID", "uuid:x")]
    for headers in (pairs, [*base, *pairs]):
        status, _, _ = router.handle(
            HttpRequest(method="NOTIFY", path="/", headers=Headers(headers), body=body), 0.0
        )
        assert status in (200, 400, 412)
    with contextlib.suppress(RemoteProtocolError):
        parse_propertyset(body)


# ---------------------------------------------------------------------------- SSDP


def _datagrams(document: str, parts: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        replace_some(document, parts).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
        st.integers(1, 9000).map(lambda n: document.encode()[:40] + b"A" * n),
    )


@FUZZ
@given(_datagrams(SEARCH_REPLY, ["200", "1800", "7", "1", "USN: uuid:a::upnp:rootdevice\r\n"]))
@example(f"HTTP/1.1 {'9' * 5000} OK\r\n\r\n".encode())
def test_ssdp_reply_interpretation(data):
    with contextlib.suppress(RemoteProtocolError):
        parse_datagram(data)
    found = interpret(data, ("127.0.0.1", 1900))
    if found is not None:
        assert found.boot_id is None or found.boot_id < 10**MAX_DIGITS
        if found.location:
            location_matches_source(found.location, "127.0.0.1")


_RESPONDER_ADS = advertisements(
    parse_device_description(DESCRIPTION.encode()).device  # two devices, one service
)


@FUZZ
@given(st.lists(_datagrams(M_SEARCH, ["2", "MediaRenderer:1", '"ssdp:discover"']), max_size=8))
def test_search_responder(datagrams):
    import ipaddress

    responder = SearchResponder(
        _RESPONDER_ADS, SsdpConfig(server="x", boot_id=1), rng=random.Random(1)
    )
    for i, data in enumerate(datagrams):
        replies = responder.handle_datagram(
            data,
            (f"127.0.0.{i % 3 + 1}", 1900),
            now=i * 0.01,
            location="http://127.0.0.1:1400/d.xml",
            networks=[ipaddress.ip_network("127.0.0.0/8")],
        )
        assert len(replies) <= len(_RESPONDER_ADS)


# ----------------------------------------------------------------------- protocolInfo


@FUZZ
@given(
    st.one_of(
        TEXT,
        replace_some(
            "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_FLAGS=01700000",
            ["*", "MP3", "01700000", ":"],
        ),
    )
)
def test_protocol_info(text):
    with contextlib.suppress(ProtocolInfoError):
        ProtocolInfo.parse(text)
    parse_list(text)
    parse_list(text + "," + text)
