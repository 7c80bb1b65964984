"""The description suite: the device description and every SCPD, as the standard requires them.

Every judgement is the core's (:mod:`upnpcm.core.validate`, rules Q1-Q8; the
safe parser, rules X1-X3); this module fetches the documents and turns the
problems into rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final
from urllib.parse import urlsplit

from upnpcm.check.context import CheckContext, Exchange, shorten
from upnpcm.check.registry import (
    CheckFn,
    Finding,
    failed,
    passed,
    skipped,
    suite_rows,
)
from upnpcm.core.connection_manager import connection_manager_scpd
from upnpcm.core.description import MAX_DESCRIPTION_BYTES, ServiceDescription, parse_scpd
from upnpcm.core.http import is_xml_media_type
from upnpcm.core.validate import (
    argument_problems,
    compare_cm_scpd,
    description_url_problems,
    description_urls,
    required_element_problems,
    root_problems,
    spec_version_problems,
    type_urn_problems,
    udn_problems,
    unique_id_problems,
    variable_problems,
)
from upnpcm.core.xml import Element, parse_xml
from upnpcm.errors import RemoteProtocolError

__all__ = ["CHECKS"]

SUBJECT: Final = "device description"


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _reply_text(reply: Exchange) -> str:
    if reply.status is None:
        return reply.received
    return f"HTTP {reply.status}, {reply.headers.get('Content-Type') or 'no Content-Type'}, {len(reply.body)} bytes"


def _problems(subject: str, problems: list[str], *, sent: str = "") -> Finding:
    if problems:
        return failed(subject, sent=sent, received="; ".join(problems[:3]), detail=_more(problems))
    return passed(subject, sent=sent)


def _more(problems: list[str]) -> str:
    return f"{len(problems) - 3} more: " + "; ".join(problems[3:8]) if len(problems) > 3 else ""


async def _root(ctx: CheckContext) -> tuple[Element | None, Finding | None]:
    root, why = await ctx.description_root()
    return root, (None if root is not None else skipped(SUBJECT, why))


# --------------------------------------------------------------------------- the document


async def fetch(ctx: CheckContext) -> AsyncIterator[Finding]:
    """GET of the description URL: 200 with an XML Content-Type."""
    ctx.progress("fetching the description")
    reply = await ctx.description_reply()
    sent = f"GET {_path(ctx.location)}"
    if reply.status != 200 or not is_xml_media_type(reply.headers.get("Content-Type")):
        yield failed(SUBJECT, sent=sent, received=_reply_text(reply))
    else:
        yield passed(SUBJECT, sent=sent, received=_reply_text(reply))


async def xml_safe(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Well-formed, no DTD or entity, within the size and depth caps."""
    reply = await ctx.description_reply()
    if reply.status != 200:
        yield skipped(SUBJECT, f"the description could not be fetched ({reply.received})")
        return
    try:
        parse_xml(reply.body, max_bytes=MAX_DESCRIPTION_BYTES, strip_padding=True)
    except RemoteProtocolError as exc:
        yield failed(SUBJECT, sent=f"GET {_path(ctx.location)}", received=str(exc))
        return
    yield passed(SUBJECT, received=f"{len(reply.body)} bytes of XML")


async def root(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q1: <root> in the device namespace with one <device>."""
    element, skip = await _root(ctx)
    if element is None:
        yield skip or skipped(SUBJECT, "no description")
        return
    yield _problems(SUBJECT, root_problems(element, "device"))


async def spec_version(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q1: specVersion major 1 or 2 and a numeric minor."""
    element, skip = await _root(ctx)
    if element is None:
        yield skip or skipped(SUBJECT, "no description")
        return
    problems = spec_version_problems(element)
    description, _ = await ctx.description()
    version = description.spec_version if description is not None else None
    found = f"specVersion {version[0]}.{version[1]}" if version and not problems else ""
    yield _problems(SUBJECT, problems) if problems else passed(SUBJECT, received=found)


async def required_elements(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q2 for every device and service."""
    element, skip = await _root(ctx)
    if element is None:
        yield skip or skipped(SUBJECT, "no description")
        return
    device, _ = await ctx.device()
    evented = (
        {s.service.service_id: bool(s.scpd.evented_variables) for s in device.services}
        if device is not None
        else None
    )
    yield _problems(SUBJECT, required_element_problems(element, evented))


async def udn(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q3: uuid: and a UUID (RFC 4122 from UDA 1.1)."""
    description, why = await ctx.description()
    if description is None:
        yield skipped(SUBJECT, why)
        return
    uda = await ctx.uda()
    violations, tolerated = udn_problems(description, uda=uda)
    if violations:
        yield _problems(SUBJECT, violations)
    elif tolerated:
        yield failed(
            SUBJECT,
            received="; ".join(tolerated[:3]),
            detail=f"the device claims UDA {uda[0]}.{uda[1]}, which allows other UUID forms",
            tolerated=True,
        )
    else:
        yield passed(SUBJECT, received=description.device.udn)


async def unique_ids(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q3: unique UDNs and serviceIds."""
    description, why = await ctx.description()
    if description is None:
        yield skipped(SUBJECT, why)
        return
    yield _problems(SUBJECT, unique_id_problems(description))


async def type_urns(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q4: deviceType, serviceType and serviceId forms."""
    description, why = await ctx.description()
    if description is None:
        yield skipped(SUBJECT, why)
        return
    yield _problems(SUBJECT, type_urn_problems(description))


async def urls(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q5, and every icon answers GET with 200."""
    description, why = await ctx.description()
    if description is None:
        yield skipped(SUBJECT, why)
        return
    problems = description_url_problems(description, ctx.location)
    sent: list[str] = []
    for what, url in description_urls(description, ctx.location):
        if url is None:
            continue  # already a problem
        ctx.progress(f"fetching {_path(url)}")
        reply = await ctx.request("GET", url)
        sent.append(f"GET {_path(url)}")
        if reply.status != 200:
            problems.append(f"{what} {_path(url)}: {reply.received}")
    yield _problems(SUBJECT, problems, sent=", ".join(sent[:3]))


# ------------------------------------------------------------------------------ SCPDs


async def _scpds(ctx: CheckContext) -> list[tuple[str, str]]:
    """(SCPD URL, the services using it) for every distinct SCPD, in description order."""
    device, _ = await ctx.device()
    if device is None:
        return []
    users: dict[str, list[str]] = {}
    for service in device.services:
        users.setdefault(service.scpd_url, []).append(service.qualified_name)
    return [(url, ", ".join(names)) for url, names in users.items()]


async def _scpd_reply(ctx: CheckContext, url: str) -> Exchange:
    key = f"scpd-reply {url}"
    found = ctx.memo(key)
    if isinstance(found, Exchange):
        return found
    ctx.progress(f"fetching {_path(url)}")
    reply = await ctx.request("GET", url)
    ctx.remember(key, reply)
    return reply


async def scpd(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Every SCPD: 200, XML, safe, <scpd> in the service namespace with a specVersion."""
    scpds = await _scpds(ctx)
    if not scpds:
        _, why = await ctx.device()
        yield skipped(SUBJECT, why or "the device lists no service")
        return
    for url, _users in scpds:
        subject = _path(url)
        reply = await _scpd_reply(ctx, url)
        sent = f"GET {subject}"
        if reply.status != 200 or not is_xml_media_type(reply.headers.get("Content-Type")):
            yield failed(subject, sent=sent, received=_reply_text(reply))
            continue
        try:
            element = parse_xml(reply.body, max_bytes=MAX_DESCRIPTION_BYTES, strip_padding=True)
            parse_scpd(reply.body)
        except RemoteProtocolError as exc:
            yield failed(subject, sent=sent, received=str(exc))
            continue
        problems = root_problems(element, "scpd") + spec_version_problems(element)
        yield (
            _problems(subject, problems, sent=sent)
            if problems
            else passed(subject, sent=sent, received=_reply_text(reply))
        )


async def _parsed_scpds(ctx: CheckContext) -> AsyncIterator[tuple[str, ServiceDescription | None]]:
    device, _ = await ctx.device()
    seen: set[str] = set()
    for service in device.services if device is not None else []:
        if service.scpd_url in seen:
            continue
        seen.add(service.scpd_url)
        yield _path(service.scpd_url), (service.scpd if service.scpd_error is None else None)


def _per_scpd(judge: Callable[[ServiceDescription], list[str]], doc: str) -> CheckFn:
    """A check of every distinct SCPD by ``judge`` (its problems)."""

    async def run(ctx: CheckContext) -> AsyncIterator[Finding]:
        async for subject, parsed in _parsed_scpds(ctx):
            if parsed is None:
                yield skipped(subject, "the SCPD could not be loaded")
            else:
                yield _problems(subject, judge(parsed))

    run.__doc__ = doc
    return run


related_variables = _per_scpd(
    lambda scpd: argument_problems(scpd)[0], "Q6: every relatedStateVariable exists."
)
argument_order = _per_scpd(
    lambda scpd: argument_problems(scpd)[1], "Q6: in before out, retval first."
)
data_types = _per_scpd(lambda scpd: variable_problems(scpd)[0], "Q7: UPnP data types only.")
allowed_values = _per_scpd(
    lambda scpd: variable_problems(scpd)[1],
    "Q7: allowed value lists, ranges and defaults consistent with the type.",
)


async def cm_scpd(ctx: CheckContext) -> AsyncIterator[Finding]:
    """Q8: each ConnectionManager SCPD against the standard's."""
    managers = await ctx.connection_managers()
    if not managers:
        yield skipped(SUBJECT, "no ConnectionManager service with a usable SCPD")
        return
    standard = connection_manager_scpd()
    seen: set[str] = set()
    for service in managers:
        if service.scpd_url in seen:
            continue
        seen.add(service.scpd_url)
        subject = _path(service.scpd_url)
        result = compare_cm_scpd(service.scpd, standard)
        optional = (
            f"optional actions present: {', '.join(result.optional_present) or 'none'}; "
            f"absent: {', '.join(result.optional_absent) or 'none'}"
        )
        if result.problems:
            yield failed(
                subject,
                received=shorten("; ".join(result.problems[:3]), 200),
                detail=optional,
            )
        else:
            yield passed(subject, received=optional)


_check = suite_rows("description")


CHECKS: Final = (
    _check(
        "desc.fetch",
        "the description answers GET",
        "GET of the description URL answers 200 with Content-Type text/xml",
        "UDA 1.1 §2.1",
        fetch,
    ),
    _check(
        "desc.xml-safe",
        "the description is well-formed and safe to parse",
        "well-formed XML without DTD or entities, at most 1 MiB",
        "XML 1.0 §2.1, §2.8; UDA 1.1 §2.3; rules X1, X2, X3",
        xml_safe,
    ),
    _check(
        "desc.root",
        "the description's root element",
        "<root> in urn:schemas-upnp-org:device-1-0 holding one <device>",
        "UDA 1.1 §2.3; rule Q1",
        root,
    ),
    _check(
        "desc.spec-version",
        "specVersion of the description",
        "<specVersion> with <major> 1 or 2 and a numeric <minor>",
        "UDA 1.1 §2.3; rule Q1",
        spec_version,
    ),
    _check(
        "desc.required-elements",
        "required elements of every device and service",
        "deviceType, friendlyName, manufacturer, modelName, UDN; serviceType, serviceId, "
        "SCPDURL, controlURL, eventSubURL",
        "UDA 1.1 §2.3; rule Q2",
        required_elements,
    ),
    _check(
        "desc.udn",
        "UDN format",
        "UDN is uuid: followed by a UUID, in RFC 4122 form from UDA 1.1 on",
        "UDA 1.1 §1.1.4, §2.3; RFC 4122 §3; rule Q3",
        udn,
    ),
    _check(
        "desc.unique-ids",
        "UDNs and serviceIds are unique",
        "no two devices share a UDN; no two services of a device share a serviceId",
        "UDA 1.1 §2.3; rule Q3",
        unique_ids,
    ),
    _check(
        "desc.type-urns",
        "deviceType, serviceType and serviceId are URNs",
        "urn:<domain>:device:<type>:<v>, urn:<domain>:service:<type>:<v>, "
        "urn:<domain>:serviceId:<id>",
        "UDA 1.1 §2.3; rule Q4",
        type_urns,
    ),
    _check(
        "desc.urls",
        "every URL of the description resolves",
        "URLs resolve against URLBase or the description URL; SCPD, control and event URLs "
        "are on the device's host; icons answer GET with 200",
        "UDA 1.1 §2.3; rule Q5",
        urls,
    ),
    _check(
        "desc.scpd",
        "every SCPD answers GET and parses",
        "200, text/xml, well-formed and safe, <scpd> in urn:schemas-upnp-org:service-1-0 "
        "with a specVersion",
        "UDA 1.1 §2.5; rules Q1, X2",
        scpd,
    ),
    _check(
        "desc.related-variables",
        "every argument's relatedStateVariable exists",
        "each argument names a state variable of the serviceStateTable",
        "UDA 1.1 §2.5; rule Q6",
        related_variables,
    ),
    _check(
        "desc.argument-order",
        "in-arguments before out-arguments",
        "all in-arguments come before the out-arguments; a retval is the first out-argument",
        "UDA 1.1 §2.5; rule Q6",
        argument_order,
    ),
    _check(
        "desc.data-types",
        "state variables have UPnP data types",
        "dataType is one of the types UDA defines",
        "UDA 1.1 §2.5 (table 2-4); rule Q7",
        data_types,
    ),
    _check(
        "desc.allowed-values",
        "allowedValueList and allowedValueRange are consistent",
        "lists on strings with distinct values; ranges on numbers, minimum <= maximum, "
        "positive step; defaults of the type and inside",
        "UDA 1.1 §2.5; rule Q7",
        allowed_values,
    ),
    _check(
        "desc.cm-scpd",
        "the ConnectionManager SCPD against the standard's",
        "the required actions and state variables with the standard's argument names, order, "
        "directions and types; PrepareForConnection and ConnectionComplete both or neither",
        "ISO/IEC 29341-17-11 (CM:1 §2.2, §2.4); rule Q8",
        cm_scpd,
    ),
)
