"""SOAP 1.1 control messages (UDA 1.1 §3.2).

Request::

    POST <controlURL>            CONTENT-TYPE: text/xml; charset="utf-8"
    SOAPACTION: "<serviceType>#<action>"        (Sonos also accepts it unquoted)
    <s:Envelope …><s:Body><u:Action xmlns:u="<serviceType>"><In>v</In>…</u:Action>
    </s:Body></s:Envelope>

Success: HTTP 200 with ``<u:ActionResponse>`` holding the out-arguments in SCPD
order. Failure: HTTP 500 with the exact UPnPError fault (faultcode ``s:Client``,
faultstring ``UPnPError``, ``detail/UPnPError`` with ``errorCode`` and
``errorDescription``; Sonos omits the description, so it is optional when read).

Malformed input raises :class:`RemoteProtocolError` (HTTP 400), an envelope
with two Bodies included; an action in the body that differs from the
SOAPACTION header, or more than one action element, raises :class:`UPnPError`
401 (rule H10). A fault's ``errorDescription`` over 4 KiB is cut, with a marker,
where it is read (rule C7): every printer and logger gets the cut text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Final
from xml.etree.ElementTree import Element, tostring

from upnpcm.core.http import decimal, is_xml_media_type
from upnpcm.core.xml import (
    child,
    child_text,
    escape_text,
    inner_text,
    local_name,
    namespace_of,
    parse_xml,
)
from upnpcm.errors import RemoteProtocolError, UPnPError

__all__ = [
    "CONTENT_TYPE",
    "MAX_REQUEST_BYTES",
    "ActionRequest",
    "build_action_request",
    "build_action_response",
    "build_fault",
    "fault_problems",
    "parse_action_request",
    "parse_action_response",
    "parse_fault",
    "parse_soapaction",
    "response_literals",
]

SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENCODING: Final = "http://schemas.xmlsoap.org/soap/encoding/"
CONTROL_NS: Final = "urn:schemas-upnp-org:control-1-0"
#: ``Content-Type`` of every SOAP message upnpcm sends (UDA 1.1 §3.2.1).
CONTENT_TYPE: Final = 'text/xml; charset="utf-8"'
#: Largest SOAP request body a device accepts (pupnp's 16000; rule B2).
MAX_REQUEST_BYTES: Final = 16 * 1024
#: Largest SOAP response a control point reads.
MAX_RESPONSE_BYTES: Final = 1024 * 1024

_ENVELOPE_OPEN: Final = (
    f'<?xml version="1.0"?>\n<s:Envelope xmlns:s="{SOAP_ENV_NS}" '
    f's:encodingStyle="{SOAP_ENCODING}"><s:Body>'
)
_ENVELOPE_CLOSE: Final = "</s:Body></s:Envelope>"
_SOAPACTION_RE: Final = re.compile(r"\s*\"?([^\"#\s]+)#([A-Za-z_][A-Za-z0-9_.\-]*)\"?\s*\Z")
_ACTION_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRequest:
    """A parsed control request: which action of which service type, raw arguments."""

    service_type: str
    action: str
    arguments: tuple[tuple[str, str], ...] = ()


def parse_soapaction(value: str | None) -> tuple[str, str]:
    """Split a SOAPACTION header into (service type, action name).

    Accepts the quoted form UDA requires and the unquoted form SoCo sends.

    Raises:
        RemoteProtocolError: missing or malformed (HTTP 400).
    """
    if value is None:
        raise RemoteProtocolError("missing SOAPACTION header")
    match = _SOAPACTION_RE.match(value)
    if match is None or value.strip().startswith('"') != value.strip().endswith('"'):
        raise RemoteProtocolError("malformed SOAPACTION header")
    return match.group(1), match.group(2)


def _body_elements(data: bytes, max_bytes: int, *, strip_padding: bool = False) -> list[Element]:
    """The children of the one ``s:Body`` of an envelope (rule H10: two Bodies are 400)."""
    root = parse_xml(data, max_bytes=max_bytes, strip_padding=strip_padding)
    if local_name(root.tag) != "Envelope" or namespace_of(root.tag) != SOAP_ENV_NS:
        raise RemoteProtocolError("not a SOAP 1.1 Envelope")
    bodies = [
        sub
        for sub in root
        if local_name(sub.tag) == "Body" and namespace_of(sub.tag) == SOAP_ENV_NS
    ]
    if not bodies:
        raise RemoteProtocolError("SOAP Envelope without Body")
    if len(bodies) > 1:
        raise RemoteProtocolError("SOAP Envelope with more than one Body")
    return list(bodies[0])


def _body_element(data: bytes, max_bytes: int, *, strip_padding: bool = False) -> Element:
    elements = _body_elements(data, max_bytes, strip_padding=strip_padding)
    if len(elements) != 1:
        raise RemoteProtocolError("SOAP Body must hold exactly one element")
    return elements[0]


def parse_action_request(
    soapaction: str | None, body: bytes, *, max_bytes: int = MAX_REQUEST_BYTES
) -> ActionRequest:
    """Parse a control request.

    The body is parsed by :func:`~upnpcm.core.xml.parse_xml` every time; the
    device's fast paths for repeated bodies live in :mod:`upnpcm.core.memo`.

    Raises:
        RemoteProtocolError: bad SOAPACTION or envelope (400), too big (413).
        UPnPError: 401 when the body's action differs from the header's.
    """
    if len(body) > max_bytes:
        raise RemoteProtocolError(
            f"SOAP request of {len(body)} bytes exceeds the {max_bytes}-byte limit", http_status=413
        )
    return _parse_action_request_xml(soapaction, body, max_bytes)


def _parse_action_request_xml(soapaction: str | None, body: bytes, max_bytes: int) -> ActionRequest:
    service_type, action = parse_soapaction(soapaction)
    elements = _body_elements(body, max_bytes)
    if not elements:
        raise RemoteProtocolError("SOAP Body holds no action")
    if len(elements) > 1:  # H10: which one would be meant?
        raise UPnPError(401, f"SOAP Body holds {len(elements)} actions, not one")
    element = elements[0]
    body_action = local_name(element.tag)
    body_type = namespace_of(element.tag)
    if body_action != action or (body_type and body_type != service_type):
        raise UPnPError(
            401, f"SOAPACTION names {action} of {service_type} but the body calls {body_action}"
        )
    arguments = []
    for sub in element:
        try:
            arguments.append((local_name(sub.tag), inner_text(sub)))
        except RemoteProtocolError as exc:
            raise UPnPError(402, str(exc)) from exc
    return ActionRequest(service_type=service_type, action=action, arguments=tuple(arguments))


def _check_action_name(name: str) -> str:
    if not _ACTION_NAME_RE.match(name):
        raise UPnPError(401, f"not a valid action name: {name!r}")
    return name


# Argument names repeat: each distinct one is checked once (bounded; invalid names are not kept).
_checked_name = lru_cache(maxsize=1024)(_check_action_name)


def _arguments_xml(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<{_checked_name(name)}>{escape_text(value)}</{name}>" for name, value in pairs)


def build_action_request(
    service_type: str, action: str, arguments: Sequence[tuple[str, str]]
) -> tuple[dict[str, str], bytes]:
    """Build a control request.

    Returns:
        (headers, body): ``Content-Type`` and quoted ``SOAPACTION``, and the envelope.
    """
    _check_action_name(action)
    body = (
        f'{_ENVELOPE_OPEN}<u:{action} xmlns:u="{escape_text(service_type)}">'
        f"{_arguments_xml(arguments)}</u:{action}>{_ENVELOPE_CLOSE}"
    )
    headers = {"Content-Type": CONTENT_TYPE, "SOAPACTION": f'"{service_type}#{action}"'}
    return headers, body.encode("utf-8")


def build_action_response(
    service_type: str, action: str, out_arguments: Sequence[tuple[str, str]]
) -> bytes:
    """Build the 200 response body: out-arguments in the order given (SCPD order)."""
    head, tail = _response_frame(service_type, action)
    return f"{head}{_arguments_xml(out_arguments)}{tail}".encode()


def response_literals(service_type: str, action: str, names: Sequence[str]) -> tuple[str, ...]:
    """The markup of a 200 response around its out-arguments' texts, in pieces.

    ``"".join`` of the pieces with each (escaped) value between two of them is
    :func:`build_action_response`'s body for those names, as text.

    Raises:
        UPnPError: 401 for an action or argument name that is not a valid name.
    """
    head, tail = _response_frame(service_type, action)
    if not names:
        return (head + tail,)
    pieces = [f"{head}<{_checked_name(names[0])}>"]
    for before, name in pairwise(names):
        pieces.append(f"</{before}><{_checked_name(name)}>")
    pieces.append(f"</{names[-1]}>{tail}")
    return tuple(pieces)


@lru_cache(maxsize=256)
def _response_frame(service_type: str, action: str) -> tuple[str, str]:
    # The envelope around a response's arguments, the same for every call of an action.
    _check_action_name(action)
    return (
        f'{_ENVELOPE_OPEN}<u:{action}Response xmlns:u="{escape_text(service_type)}">',
        f"</u:{action}Response>{_ENVELOPE_CLOSE}",
    )


def build_fault(code: int, description: str | None) -> bytes:
    """Build the UPnPError fault body sent with HTTP 500 (UDA 1.1 §3.2.2)."""
    desc = f"<errorDescription>{escape_text(description)}</errorDescription>" if description else ""
    return (
        f"{_ENVELOPE_OPEN}<s:Fault><faultcode>s:Client</faultcode>"
        f"<faultstring>UPnPError</faultstring><detail>"
        f'<UPnPError xmlns="{CONTROL_NS}"><errorCode>{int(code)}</errorCode>{desc}'
        f"</UPnPError></detail></s:Fault>{_ENVELOPE_CLOSE}"
    ).encode()


def _fault_to_error(fault: Element) -> UPnPError:
    detail = child(fault, "detail")
    upnp_error = child(detail, "UPnPError") if detail is not None else None
    if upnp_error is None:
        faultstring = child_text(fault, "faultstring") or "SOAP fault"
        raise RemoteProtocolError(f"SOAP fault without UPnPError detail: {faultstring}")
    code_text = child_text(upnp_error, "errorCode") or ""
    code = decimal(code_text)
    if code is None:
        shown = code_text if len(code_text) <= 40 else f"{code_text[:37]}..."
        raise RemoteProtocolError(f"UPnPError with a bad errorCode {shown!r}")
    description = child_text(upnp_error, "errorDescription")
    return UPnPError(code, _cut_description(description) or None)


#: Longest errorDescription kept whole; a longer one is cut, with a marker (rule C7).
MAX_ERROR_DESCRIPTION: Final = 4096


def _cut_description(text: str | None, limit: int = MAX_ERROR_DESCRIPTION) -> str | None:
    """``text`` with everything past ``limit`` characters replaced by a marker (C7)."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters cut]"


def parse_fault(body: bytes, *, max_bytes: int = MAX_RESPONSE_BYTES) -> UPnPError:
    """Read a UPnPError fault; ``errorDescription`` is optional (Sonos).

    Padding around the document (ASCII whitespace, NUL bytes) is tolerated:
    real devices send it (:func:`~upnpcm.core.xml.parse_xml`, ``strip_padding``).

    Raises:
        RemoteProtocolError: the body is not a UPnPError fault.
    """
    element = _body_element(body, max_bytes, strip_padding=True)
    if local_name(element.tag) != "Fault":
        raise RemoteProtocolError("SOAP Body holds no Fault")
    return _fault_to_error(element)


def fault_problems(status: int, content_type: str | None, body: bytes) -> list[str]:
    """H5 read the other way: how an error answer differs from the exact UPnPError fault.

    The exact form (UDA 1.1 §3.2.2) is HTTP 500, an XML Content-Type, a SOAP
    1.1 envelope whose Body holds a Fault with faultcode ``s:Client`` (any
    prefix of the envelope namespace), faultstring ``UPnPError`` and
    ``detail/UPnPError`` in the control namespace with a numeric errorCode.
    For a conformance checker: :func:`parse_fault` stays tolerant.
    """
    problems: list[str] = []
    if status != 500:
        problems.append(f"HTTP {status}, not 500")
    if not is_xml_media_type(content_type):
        problems.append(f"Content-Type {content_type!r} is not text/xml")
    try:
        element = _body_element(body, MAX_RESPONSE_BYTES, strip_padding=True)
    except RemoteProtocolError as exc:
        return [*problems, f"not a SOAP envelope ({exc})"]
    if local_name(element.tag) != "Fault" or namespace_of(element.tag) != SOAP_ENV_NS:
        return [*problems, f"the Body holds <{local_name(element.tag)}>, not a SOAP Fault"]
    code = child_text(element, "faultcode") or ""
    if code.rpartition(":")[2] != "Client" or ":" not in code:
        problems.append(f"faultcode {code!r}, not s:Client")
    if (child_text(element, "faultstring") or "") != "UPnPError":
        problems.append(f"faultstring {child_text(element, 'faultstring')!r}, not UPnPError")
    detail = child(element, "detail")
    error = child(detail, "UPnPError") if detail is not None else None
    if error is None:
        return [*problems, "no detail/UPnPError"]
    if namespace_of(error.tag) != CONTROL_NS:
        problems.append(f"UPnPError in namespace {namespace_of(error.tag)!r}, not {CONTROL_NS}")
    if decimal(child_text(error, "errorCode") or "") is None:
        problems.append(f"errorCode {child_text(error, 'errorCode')!r} is not a number")
    return problems


def parse_action_response(
    body: bytes, action: str, *, max_bytes: int = MAX_RESPONSE_BYTES
) -> list[tuple[str, str]]:
    """Read the out-arguments of a response, tolerantly.

    Accepts any namespace prefix and a response element not named exactly
    ``<action>Response``; keeps argument order.

    Padding around the document (ASCII whitespace, NUL bytes) is tolerated:
    real devices send it (:func:`~upnpcm.core.xml.parse_xml`, ``strip_padding``).

    Raises:
        UPnPError: the body is a UPnPError fault (whatever the HTTP status).
        RemoteProtocolError: not a SOAP envelope, or a SOAP fault without UPnPError.
    """
    element = _body_element(body, max_bytes, strip_padding=True)
    name = local_name(element.tag)
    if name == "Fault":
        raise _fault_to_error(element)
    del action  # the response name is not checked: some stacks misspell it
    pairs: list[tuple[str, str]] = []
    for sub in element:
        if len(sub):
            # A value with markup inside (rare; e.g. unescaped DIDL): keep its serialised text.
            text = (sub.text or "") + "".join(tostring(part, encoding="unicode") for part in sub)
            pairs.append((local_name(sub.tag), text))
        else:
            pairs.append((local_name(sub.tag), sub.text or ""))
    return pairs
