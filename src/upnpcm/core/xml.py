"""The one safe XML parser, and XML building helpers.

Rules (X1-X3):

1. Cap the size *before* parsing (``max_bytes``).
2. Parse with defusedxml, DTDs forbidden (SOAP 1.1 forbids a DTD; so do we,
   everywhere), entities and external references forbidden.
3. Never recurse over an untrusted tree: depth is checked iteratively, and every
   walker in upnpcm iterates.

Building: element and attribute text always goes through :func:`escape_text` /
:func:`escape_attr` (or ElementTree, which escapes by construction). Names are
checked with :func:`check_name`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from upnpcm.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Element",
    "check_chars",
    "check_name",
    "child",
    "child_text",
    "children",
    "escape_attr",
    "escape_text",
    "inner_text",
    "local_name",
    "namespace_of",
    "parse_xml",
]

#: Deepest element nesting any UPnP document we read needs (a description with
#: embedded devices is about 10 deep).
DEFAULT_MAX_DEPTH: Final = 64

# The complement of XML 1.0 §2.2's Char production (written as the small set it
# is: the positive form's huge ranges take milliseconds to compile at import).
_INVALID_XML_CHARS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# XML 1.0 Name, restricted to what UPnP uses (NCName plus an optional prefix).
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?::[A-Za-z_][A-Za-z0-9_.\-]*)?\Z")


#: What real devices pad documents with: ASCII whitespace and NUL (async_upnp_client strips these).
_PADDING: Final = b" \t\n\r\x0b\x0c\x00"


def _looks_utf16(data: bytes) -> bool:
    """A BOM, or ``<`` next to a NUL at the start: stripping NULs would break it."""
    return data.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00")) or data[:3] == b"\x00<\x00"


def parse_xml(
    data: bytes,
    *,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    strip_padding: bool = False,
) -> Element:
    """Parse untrusted XML safely.

    Args:
        data: the document, as received.
        max_bytes: size cap, checked before parsing (and before any stripping).
        max_depth: deepest element nesting accepted.
        strip_padding: drop leading and trailing ASCII whitespace and NUL bytes
            first (not in a UTF-16 document). For what a control point reads
            (descriptions, SCPDs, action responses, faults): devices pad those
            (a CRLF before ``<?xml``, a trailing NUL) and tolerant stacks
            accept it. A device parsing requests keeps the strict default.

    Returns:
        The root element (namespaced tags as ``{ns}local``).

    Raises:
        RemoteProtocolError: too big (``http_status`` 413), not well-formed,
            has a DTD, entity declaration or external reference, or too deep.
    """
    if len(data) > max_bytes:
        raise RemoteProtocolError(
            f"XML document of {len(data)} bytes exceeds the {max_bytes}-byte limit",
            http_status=413,
        )
    if strip_padding and not _looks_utf16(data):
        data = data.strip(_PADDING)
    if not data.strip():
        raise RemoteProtocolError("empty XML document")
    try:
        root = _defused_fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise RemoteProtocolError(f"forbidden XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise RemoteProtocolError(f"malformed XML: {exc}") from exc
    except LookupError as exc:  # <?xml encoding="foo"?>: a codec Python does not know
        raise RemoteProtocolError(f"unparsable XML: {exc}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # pragma: no cover - expat edge
        raise RemoteProtocolError(f"unparsable XML: {type(exc).__name__}") from exc
    if len(data) > 7 * max_depth:  # "<a></a>" is 7 bytes a level: shorter cannot be too deep
        _check_depth(root, max_depth)
    return root


def _check_depth(root: Element, max_depth: int) -> None:
    stack: list[tuple[Element, int]] = [(root, 1)]
    while stack:
        elem, depth = stack.pop()
        if depth > max_depth:
            raise RemoteProtocolError(f"XML nesting deeper than {max_depth}")
        stack.extend((sub, depth + 1) for sub in elem)


def local_name(tag: str) -> str:
    """``{ns}name`` → ``name``; a prefix-free tag is returned as it is."""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def namespace_of(tag: str) -> str:
    """``{ns}name`` → ``ns``; ``""`` when the tag has no namespace."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def child(elem: Element, name: str) -> Element | None:
    """First direct child whose local name is ``name`` (any namespace), or None."""
    for sub in elem:
        if local_name(sub.tag) == name:
            return sub
    return None


def children(elem: Element, name: str) -> list[Element]:
    """Every direct child whose local name is ``name``, in document order."""
    return [sub for sub in elem if local_name(sub.tag) == name]


def child_text(elem: Element, name: str, default: str | None = None) -> str | None:
    """Stripped text of the first child called ``name``; ``default`` if absent."""
    sub = child(elem, name)
    if sub is None:
        return default
    return (sub.text or "").strip()


def inner_text(elem: Element) -> str:
    """Text content of ``elem`` that has no child elements (``""`` if empty).

    Raises:
        RemoteProtocolError: ``elem`` has child elements (a value was expected).
    """
    if len(elem):
        raise RemoteProtocolError(f"<{local_name(elem.tag)}> holds elements, not a value")
    return elem.text or ""


@lru_cache(maxsize=1024)  # names repeat; a bad name raises and is not kept
def check_name(name: str) -> str:
    """Return ``name`` if it is a valid XML element name, else raise LocalProtocolError."""
    if not _NAME.match(name):
        raise LocalProtocolError(f"not a valid XML name: {name!r}")
    return name


def check_chars(value: str) -> str:
    """Return ``value`` if XML 1.0 can carry every character of it.

    Raises:
        LocalProtocolError: ``value`` holds e.g. NUL, another C0 control, a
            lone surrogate, U+FFFE or U+FFFF.
    """
    if _INVALID_XML_CHARS.search(value):
        raise LocalProtocolError("value holds a character XML 1.0 cannot represent")
    return value


def escape_text(value: str) -> str:
    """Escape character data for element content.

    Raises:
        LocalProtocolError: ``value`` holds a character XML 1.0 cannot carry
            (e.g. NUL or another C0 control).
    """
    check_chars(value)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def escape_attr(value: str) -> str:
    """Escape a value for a double-quoted attribute."""
    value = escape_text(value)
    return value.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
