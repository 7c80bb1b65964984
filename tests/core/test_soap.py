import pytest

from upnpcm.core.soap import (
    build_action_request,
    build_action_response,
    build_fault,
    parse_action_request,
    parse_action_response,
    parse_fault,
    parse_soapaction,
)
from upnpcm.errors import RemoteProtocolError, UPnPError

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"


def envelope(inner: str) -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f"{inner}</s:Body></s:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    "header",
    [f'"{CM}#GetProtocolInfo"', f"{CM}#GetProtocolInfo", f'  "{CM}#GetProtocolInfo" '],
)
def test_soapaction_quoted_or_unquoted(header):
    assert parse_soapaction(header) == (CM, "GetProtocolInfo")


@pytest.mark.parametrize(
    "header", [None, "", '"', f'"{CM}"', f'"{CM}#"', f'"{CM}#Get Info"', f'"{CM}#X', "#X"]
)
def test_bad_soapaction_is_400(header):
    with pytest.raises(RemoteProtocolError) as info:
        parse_soapaction(header)
    assert info.value.http_status == 400


def test_request_round_trip():
    headers, body = build_action_request(CM, "GetCurrentConnectionInfo", [("ConnectionID", "5")])
    assert headers["SOAPACTION"] == f'"{CM}#GetCurrentConnectionInfo"'
    assert headers["Content-Type"] == 'text/xml; charset="utf-8"'
    request = parse_action_request(headers["SOAPACTION"], body)
    assert request.service_type == CM
    assert request.action == "GetCurrentConnectionInfo"
    assert request.arguments == (("ConnectionID", "5"),)


def test_request_values_are_escaped():
    _, body = build_action_request(CM, "X", [("A", "<&>\"'")])
    assert parse_action_request(f"{CM}#X", body).arguments == (("A", "<&>\"'"),)


def test_body_action_must_match_header_401():
    body = envelope(f'<u:GetProtocolInfo xmlns:u="{CM}"/>')
    with pytest.raises(UPnPError) as info:
        parse_action_request(f'"{CM}#GetCurrentConnectionIDs"', body)
    assert info.value.code == 401


def test_two_action_elements_are_401_not_400():
    # Rule H10: which of the two would be meant? Invalid Action, as a fault (it was a plain 400).
    body = envelope(f'<u:A xmlns:u="{CM}"/><u:B xmlns:u="{CM}"/>')
    with pytest.raises(UPnPError) as info:
        parse_action_request(f'"{CM}#A"', body)
    assert info.value.code == 401


def test_body_namespace_must_match_header_401():
    body = envelope('<u:GetProtocolInfo xmlns:u="urn:other:service:X:1"/>')
    with pytest.raises(UPnPError) as info:
        parse_action_request(f'"{CM}#GetProtocolInfo"', body)
    assert info.value.code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<a/>",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
        envelope(""),
        envelope("").replace(b"</s:Envelope>", b"<s:Body/></s:Envelope>"),  # two Bodies (H10)
        b'<Envelope><Body><u:GetProtocolInfo xmlns:u="x"/></Body></Envelope>',
    ],
)
def test_unparsable_envelope_is_400(body):
    with pytest.raises(RemoteProtocolError) as info:
        parse_action_request(f"{CM}#GetProtocolInfo", body)
    assert info.value.http_status == 400


def test_argument_with_markup_is_402():
    body = envelope(f'<u:X xmlns:u="{CM}"><A><b/></A></u:X>')
    with pytest.raises(UPnPError) as info:
        parse_action_request(f"{CM}#X", body)
    assert info.value.code == 402


def test_response_keeps_order_and_escapes():
    body = build_action_response(CM, "GetProtocolInfo", [("Source", "a,b&c"), ("Sink", "")])
    assert b"<u:GetProtocolInfoResponse" in body
    assert body.index(b"<Source>") < body.index(b"<Sink>")
    assert parse_action_response(body, "GetProtocolInfo") == [("Source", "a,b&c"), ("Sink", "")]


def test_fault_is_exact():
    body = build_fault(706, "Invalid connection reference")
    assert body == envelope(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
        '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>706</errorCode>'
        "<errorDescription>Invalid connection reference</errorDescription></UPnPError></detail>"
        "</s:Fault>"
    ).replace(b'<?xml version="1.0"?>', b'<?xml version="1.0"?>\n')
    error = parse_fault(body)
    assert (error.code, error.description) == (706, "Invalid connection reference")


def test_fault_without_description_as_sonos_sends_it():
    body = envelope(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
        '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>402</errorCode></UPnPError>'
        "</detail></s:Fault>"
    )
    error = parse_fault(body)
    assert error.code == 402
    with pytest.raises(UPnPError) as info:
        parse_action_response(body, "GetCurrentConnectionInfo")
    assert info.value.code == 402


def test_fault_without_upnperror_is_remote_protocol_error():
    body = envelope(
        "<s:Fault><faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault>"
    )
    with pytest.raises(RemoteProtocolError, match="boom"):
        parse_action_response(body, "X")


def test_tolerant_response_parsing():
    # Other prefixes, a misnamed response element, qualified arguments.
    body = (
        b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<SOAP-ENV:Body><m:WrongName xmlns:m="urn:x"><m:Out>1</m:Out><Other>two</Other></m:WrongName>'
        b"</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    assert parse_action_response(body, "X") == [("Out", "1"), ("Other", "two")]


@pytest.mark.parametrize(
    ("before", "after"), [(b"", b"\x00"), (b"\r\n", b""), (b"\r\n", b"\r\n\x00")]
)
def test_responses_and_faults_with_padding_parse(before, after):
    response = envelope(
        f'<u:GetProtocolInfoResponse xmlns:u="{CM}"><Source>a</Source><Sink/></u:GetProtocolInfoResponse>'
    )
    assert parse_action_response(before + response + after, "GetProtocolInfo") == [
        ("Source", "a"),
        ("Sink", ""),
    ]
    assert parse_fault(before + build_fault(706, None) + after).code == 706


@pytest.mark.parametrize(("before", "after"), [(b"", b"\x00"), (b"\r\n", b"")])
def test_device_side_requests_stay_strict_about_padding(before, after):
    headers, body = build_action_request(CM, "GetProtocolInfo", [])
    assert parse_action_request(headers["SOAPACTION"], body).action == "GetProtocolInfo"
    with pytest.raises(RemoteProtocolError) as info:
        parse_action_request(headers["SOAPACTION"], before + body + after)
    assert info.value.http_status == 400


@pytest.mark.parametrize("code", ["\u00b2", "70\u00b2", "\u0667\u0660\u0666", "", "-1", "x"])
def test_fault_with_a_bad_error_code_is_a_protocol_error(code):
    body = envelope(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
        f'<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>{code}</errorCode>'
        "</UPnPError></detail></s:Fault>"
    )
    with pytest.raises(RemoteProtocolError, match="bad errorCode"):
        parse_fault(body)
    with pytest.raises(RemoteProtocolError, match="bad errorCode"):
        parse_action_response(body, "X")


def test_fault_problems_exact_form():
    from upnpcm.core.soap import build_fault, fault_problems

    good = build_fault(706, "Invalid connection reference")
    assert fault_problems(500, 'text/xml; charset="utf-8"', good) == []
    sloppy = good.replace(b"s:Client", b"Client").replace(
        b"UPnPError</faultstring>", b"Error</faultstring>"
    )
    assert fault_problems(200, "text/plain", sloppy) == [
        "HTTP 200, not 500",
        "Content-Type 'text/plain' is not text/xml",
        "faultcode 'Client', not s:Client",
        "faultstring 'Error', not UPnPError",
    ]
    assert fault_problems(500, "text/xml", b"oops")[-1].startswith("not a SOAP envelope")
