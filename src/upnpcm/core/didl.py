"""DIDL-Lite: the objects a ContentDirectory returns, read and written on the safe path (rules L1-L3).

L1  A Browse/Search ``Result`` is a DIDL-Lite document parsed only through
    :func:`~upnpcm.core.xml.parse_xml` (size cap, no DTD); ``item`` and
    ``container`` children are objects, anything else is skipped.
L2  An object needs ``@id`` and ``dc:title``; a ``res`` needs ``@protocolInfo``
    and a URL. An object or ``res`` without them is reported, not guessed.
L3  The metadata sent with SetAVTransportURI is the item's own element
    (vendor elements kept), with only the chosen ``res``, inside a
    ``DIDL-Lite`` root that declares every namespace it uses.

python-didl-lite is not used: its string parser calls defusedxml directly
(DTDs allowed, no size cap), its objects are dynamic (attributes through
``__getattr__``, untyped for ``mypy --strict``) and it drops elements it does
not know when writing; here an object is a frozen dataclass and the element
is re-written as received.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from xml.etree.ElementTree import Element

from upnpcm.core.http import decimal
from upnpcm.core.protocol_info import ProtocolInfo
from upnpcm.core.xml import (
    child_text,
    escape_attr,
    escape_text,
    local_name,
    namespace_of,
    parse_xml,
)
from upnpcm.errors import ProtocolInfoError, RemoteProtocolError

__all__ = [
    "DIDL_NS",
    "MAX_DIDL_BYTES",
    "DidlObject",
    "DidlResult",
    "Resource",
    "didl_for_url",
    "duration_seconds",
    "format_duration",
    "metadata_for",
    "parse_didl",
]

DIDL_NS: Final = "urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/"
DC_NS: Final = "http://purl.org/dc/elements/1.1/"
UPNP_NS: Final = "urn:schemas-upnp-org:metadata-1-0/upnp/"
DLNA_NS: Final = "urn:schemas-dlna-org:metadata-1-0/"
#: Prefixes written for the namespaces everybody uses; others get ``ns1``, ``ns2``…
_PREFIXES: Final = ((DIDL_NS, ""), (DC_NS, "dc"), (UPNP_NS, "upnp"), (DLNA_NS, "dlna"))
#: Largest Browse/Search Result read (rule L1): a page of a few hundred objects.
MAX_DIDL_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """One ``res`` of an object: where to get it and in what format."""

    url: str
    protocol_info: str
    size: int | None = None
    duration: str | None = None
    #: Every attribute as received (``bitrate``, ``resolution``, ``dlna:…``), local names.
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def info(self) -> ProtocolInfo | None:
        """``protocol_info`` parsed, or None when it is not four fields."""
        try:
            return ProtocolInfo.parse(self.protocol_info)
        except ProtocolInfoError:
            return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DidlObject:
    """An ``item`` or ``container`` of a DIDL-Lite document."""

    id: str
    parent_id: str
    title: str
    upnp_class: str
    container: bool
    resources: tuple[Resource, ...] = ()
    child_count: int | None = None
    ref_id: str | None = None
    #: The element as received, re-written with standard prefixes (rule L3).
    xml: str = ""

    @property
    def kind(self) -> str:
        """``container`` or ``item``."""
        return "container" if self.container else "item"


@dataclass(frozen=True, slots=True, kw_only=True)
class DidlResult:
    """The objects of a document, and what was skipped (with why)."""

    objects: tuple[DidlObject, ...] = ()
    problems: tuple[str, ...] = ()


def _int_attr(elem: Element, name: str) -> int | None:
    return decimal((elem.get(name) or "").strip())


def _resource(elem: Element) -> Resource | None:
    url = (elem.text or "").strip()
    info = elem.get("protocolInfo")
    if not url or info is None:
        return None
    return Resource(
        url=url,
        protocol_info=info.strip(),
        size=_int_attr(elem, "size"),
        duration=(elem.get("duration") or "").strip() or None,
        attributes=tuple((local_name(k), v) for k, v in elem.attrib.items()),
    )


def _object(elem: Element) -> tuple[DidlObject | None, list[str]]:
    kind = local_name(elem.tag)
    object_id = elem.get("id")
    title = child_text(elem, "title")
    if object_id is None or title is None:
        return None, [f"a DIDL-Lite {kind} without @id or dc:title was skipped"]
    problems: list[str] = []
    resources: list[Resource] = []
    for sub in elem:
        if local_name(sub.tag) != "res":
            continue
        res = _resource(sub)
        if res is None:
            problems.append(f"{kind} {object_id!r}: a res without URL or protocolInfo was skipped")
        else:
            resources.append(res)
    return (
        DidlObject(
            id=object_id,
            parent_id=elem.get("parentID", ""),
            title=title,
            upnp_class=child_text(elem, "class") or "",
            container=kind == "container",
            resources=tuple(resources),
            child_count=_int_attr(elem, "childCount"),
            ref_id=elem.get("refID"),
            xml=_write(elem),
        ),
        problems,
    )


def parse_didl(text: str | bytes, *, max_bytes: int = MAX_DIDL_BYTES) -> DidlResult:
    """Read a DIDL-Lite document (a Browse or Search ``Result``; rules L1, L2).

    Raises:
        RemoteProtocolError: not XML, too big, a DTD, or a root other than ``DIDL-Lite``.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    root = parse_xml(data, max_bytes=max_bytes, strip_padding=True)
    if local_name(root.tag) != "DIDL-Lite":
        raise RemoteProtocolError(f"not a DIDL-Lite document (root <{local_name(root.tag)}>)")
    objects: list[DidlObject] = []
    problems: list[str] = []
    for elem in root:
        if local_name(elem.tag) not in ("item", "container"):
            continue
        obj, found = _object(elem)
        problems.extend(found)
        if obj is not None:
            objects.append(obj)
    return DidlResult(objects=tuple(objects), problems=tuple(problems))


# --------------------------------------------------------------------------- writing


def _qualified(tag: str, prefixes: dict[str, str]) -> str:
    ns = namespace_of(tag)
    name = local_name(tag)
    if not ns:  # a sloppy server's unqualified element: written as it came
        return name
    if ns not in prefixes:
        prefixes[ns] = f"ns{len(prefixes)}"
    prefix = prefixes[ns]
    return f"{prefix}:{name}" if prefix else name


def _events(elem: Element) -> Iterator[tuple[bool, Element]]:
    """(opening?, element) in document order, without recursion (rule X3)."""
    stack: list[tuple[bool, Element]] = [(True, elem)]
    while stack:
        opening, node = stack.pop()
        yield opening, node
        if opening:
            stack.append((False, node))
            stack.extend((True, sub) for sub in reversed(list(node)))


def _write(elem: Element, *, keep: Element | None = None) -> str:
    """``elem`` as text with standard prefixes; with ``keep``, the only ``res`` written."""
    prefixes = {ns: prefix for ns, prefix in _PREFIXES}
    out: list[str] = []
    skipping: Element | None = None
    for opening, node in _events(elem):
        if skipping is not None:
            if node is skipping and not opening:
                skipping = None
            continue
        if opening and keep is not None and local_name(node.tag) == "res" and node is not keep:
            skipping = node
            continue
        name = _qualified(node.tag, prefixes)
        if opening:
            attrs = "".join(
                f' {_attr_name(key, prefixes)}="{escape_attr(value)}"'
                for key, value in node.attrib.items()
            )
            out.append(f"<{name}{attrs}>{escape_text(node.text or '')}")
        else:
            out.append(f"</{name}>")
            if node is not elem and node.tail:
                out.append(escape_text(node.tail))
    body = "".join(out)
    declared = "".join(
        f' xmlns{":" + prefix if prefix else ""}="{escape_attr(ns)}"'
        for ns, prefix in prefixes.items()
        if ns and (prefix == "" or f"{prefix}:" in body)
    )
    return f"<DIDL-Lite{declared}>{body}</DIDL-Lite>"


def _attr_name(key: str, prefixes: dict[str, str]) -> str:
    if not key.startswith("{") or namespace_of(key) == DIDL_NS:
        return local_name(key)
    return _qualified(key, prefixes)


def metadata_for(obj: DidlObject, resource: Resource) -> str:
    """The DIDL-Lite metadata of ``obj`` for SetAVTransportURI: only ``resource`` kept (rule L3).

    Raises:
        RemoteProtocolError: ``obj.xml`` is not the document :func:`parse_didl` wrote.
    """
    root = parse_xml(obj.xml.encode("utf-8"), max_bytes=MAX_DIDL_BYTES)
    elements = list(root)
    if len(elements) != 1:
        raise RemoteProtocolError("object metadata must hold exactly one object")
    elem = elements[0]
    for sub in elem:
        if local_name(sub.tag) == "res" and (sub.text or "").strip() == resource.url:
            return _write(elem, keep=sub)
    return _write(elem)


def didl_for_url(url: str, mime: str, title: str) -> str:
    """Minimal metadata for a plain URL (``play --url``): one item, one res."""
    upnp_class = {
        "audio": "object.item.audioItem.musicTrack",
        "video": "object.item.videoItem",
        "image": "object.item.imageItem.photo",
    }.get(mime.split("/", 1)[0].strip().lower(), "object.item")
    return (
        f'<DIDL-Lite xmlns="{DIDL_NS}" xmlns:dc="{DC_NS}" xmlns:upnp="{UPNP_NS}">'
        f'<item id="0" parentID="-1" restricted="1"><dc:title>{escape_text(title)}</dc:title>'
        f"<upnp:class>{upnp_class}</upnp:class>"
        f'<res protocolInfo="http-get:*:{escape_attr(mime)}:*">{escape_text(url)}</res>'
        "</item></DIDL-Lite>"
    )


# --------------------------------------------------------------------------- durations


def duration_seconds(text: str | None) -> float | None:
    """``H+:MM:SS[.F+]`` or ``H+:MM:SS.F0/F1`` (DIDL-Lite res@duration, AVTransport times) in seconds.

    None for absent, ``NOT_IMPLEMENTED`` or anything else unreadable.
    """
    if not text:
        return None
    parts = text.strip().lstrip("+").split(":")
    if len(parts) != 3:
        return None
    hours, minutes, seconds = parts
    fraction = 0.0
    if "." in seconds:
        seconds, _, frac = seconds.partition(".")
        if "/" in frac:
            num_text, _, den_text = frac.partition("/")
            num, den = decimal(num_text), decimal(den_text)
            if num is None or not den:
                return None
            fraction = num / den
        elif frac:
            digits = decimal(frac)
            if digits is None:
                return None
            fraction = digits / 10 ** len(frac)
    h, m, s = decimal(hours), decimal(minutes), decimal(seconds)  # B8: at most 20 digits
    if h is None or m is None or s is None:
        return None
    return h * 3600 + m * 60 + s + fraction


def format_duration(seconds: float | None) -> str:
    """Seconds as ``H:MM:SS`` (``--:--`` when unknown)."""
    if seconds is None:
        return "--:--"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
