"""core/validate.py: what the standard requires of descriptions and SCPDs (rules Q1-Q8)."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import load_fixture
from upnpcm.core.connection_manager import connection_manager_scpd
from upnpcm.core.description import (
    Action,
    AllowedValueRange,
    Argument,
    ServiceDescription,
    StateVariable,
    parse_device_description,
    parse_scpd,
)
from upnpcm.core.validate import (
    argument_problems,
    compare_cm_scpd,
    description_url_problems,
    required_element_problems,
    root_problems,
    spec_version_problems,
    type_urn_problems,
    udn_problems,
    unique_id_problems,
    variable_problems,
)
from upnpcm.core.xml import parse_xml

GOOD = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <specVersion><major>1</major><minor>1</minor></specVersion>
 <device>
  <deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>
  <friendlyName>r</friendlyName><manufacturer>m</manufacturer><modelName>n</modelName>
  <UDN>uuid:5b1c6a0e-0000-4000-8000-0000000000a1</UDN>
  <iconList><icon><mimetype>image/png</mimetype><width>1</width><height>1</height>
   <depth>8</depth><url>/icon.png</url></icon></iconList>
  <serviceList><service>
   <serviceType>urn:schemas-upnp-org:service:ConnectionManager:1</serviceType>
   <serviceId>urn:upnp-org:serviceId:ConnectionManager</serviceId>
   <SCPDURL>/cm.xml</SCPDURL><controlURL>/cm/c</controlURL><eventSubURL>/cm/e</eventSubURL>
  </service></serviceList>
 </device>
</root>"""
LOCATION = "http://10.0.0.5:80/desc.xml"


def test_a_conformant_description_has_no_problems():
    root = parse_xml(GOOD, max_bytes=10_000)
    description = parse_device_description(GOOD)
    assert root_problems(root, "device") == []
    assert spec_version_problems(root) == []
    assert required_element_problems(root) == []
    assert udn_problems(description, uda=(1, 1)) == ([], [])
    assert unique_id_problems(description) == []
    assert type_urn_problems(description) == []
    assert description_url_problems(description, LOCATION) == []


def test_document_root_namespace_and_spec_version():
    bad = GOOD.replace(b"device-1-0", b"device-9-9").replace(b"<major>1</major>", b"")
    root = parse_xml(bad, max_bytes=10_000)
    assert root_problems(root, "device") == [
        "the root element's namespace is 'urn:schemas-upnp-org:device-9-9', "
        "not 'urn:schemas-upnp-org:device-1-0'"
    ]
    assert spec_version_problems(root) == ["specVersion major is None, not 1 or 2"]
    scpd = b'<scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList/></scpd>'
    assert root_problems(parse_xml(scpd, max_bytes=1000), "scpd") == []
    assert spec_version_problems(parse_xml(scpd, max_bytes=1000)) == ["no <specVersion>"]


def test_required_elements_and_empty_event_url():
    bad = GOOD.replace(b"<manufacturer>m</manufacturer>", b"").replace(
        b"<eventSubURL>/cm/e</eventSubURL>", b"<eventSubURL></eventSubURL>"
    )
    root = parse_xml(bad, max_bytes=10_000)
    assert required_element_problems(root) == [
        "device uuid:5b1c6a0e-0000-4000-8000-0000000000a1: <manufacturer> is missing or empty"
    ]
    evented = {"urn:upnp-org:serviceId:ConnectionManager": True}
    assert "evented variables" in required_element_problems(root, evented)[-1]


def test_udn_forms_depend_on_the_uda_version():
    sonos = parse_device_description(
        GOOD.replace(b"uuid:5b1c6a0e-0000-4000-8000-0000000000a1", b"uuid:RINCON_000E58C0FFEE01400")
    )
    assert udn_problems(sonos, uda=(1, 0)) == (
        [],
        ["UDN 'uuid:RINCON_000E58C0FFEE01400' is not uuid: + an RFC 4122 UUID"],
    )
    assert len(udn_problems(sonos, uda=(1, 1))[0]) == 1
    bare = parse_device_description(GOOD.replace(b"<UDN>uuid:", b"<UDN>"))
    assert "does not start with 'uuid:'" in udn_problems(bare, uda=(1, 0))[0][0]


def test_type_urns_and_unique_service_ids():
    bad = GOOD.replace(b"urn:upnp-org:serviceId:ConnectionManager", b"ConnectionManager")
    description = parse_device_description(bad)
    assert type_urn_problems(description) == [
        "serviceId 'ConnectionManager' is not urn:<domain>:serviceId:<id>"
    ]
    twice = GOOD.replace(
        b"</serviceList>",
        GOOD.split(b"<serviceList>")[1].split(b"</serviceList>")[0] + b"</serviceList>",
    )
    assert "used 2 times" in unique_id_problems(parse_device_description(twice))[0]


def test_urls_resolve_and_stay_on_the_device_host():
    bad = GOOD.replace(
        b"<controlURL>/cm/c</controlURL>", b"<controlURL>http://10.0.0.9/c</controlURL>"
    )
    problems = description_url_problems(parse_device_description(bad), LOCATION)
    assert problems == [
        "urn:upnp-org:serviceId:ConnectionManager controlURL http://10.0.0.9/c is not on the description's host 10.0.0.5"
    ]
    broken = GOOD.replace(b"<url>/icon.png</url>", b"<url>http://[::1/icon.png</url>")
    assert (
        "does not resolve"
        in description_url_problems(parse_device_description(broken), LOCATION)[0]
    )


def test_arguments_related_variables_and_order():
    scpd = ServiceDescription(
        actions=(
            Action(
                name="GetX",
                arguments=(
                    Argument(name="Out", direction="out", related_state_variable="X"),
                    Argument(name="In", direction="in", related_state_variable="Nope"),
                ),
            ),
        ),
        state_variables=(StateVariable(name="X"),),
    )
    missing, order = argument_problems(scpd)
    assert missing == ["GetX/In: relatedStateVariable 'Nope' is not in the serviceStateTable"]
    assert order == ["GetX/In: an in-argument after an out-argument"]


def test_variables_types_lists_ranges_defaults():
    scpd = ServiceDescription(
        state_variables=(
            StateVariable(name="A", data_type="integer"),
            StateVariable(name="B", data_type="i4", allowed_values=("1", "2")),
            StateVariable(name="C", data_type="string", allowed_values=("x", "x")),
            StateVariable(
                name="D", data_type="ui2", allowed_range=AllowedValueRange(minimum="9", maximum="1")
            ),
            StateVariable(
                name="E",
                data_type="ui2",
                allowed_range=AllowedValueRange(minimum="0", maximum="9", step="0"),
            ),
            StateVariable(name="F", data_type="string", allowed_values=("x",), default_value="y"),
            StateVariable(
                name="G",
                data_type="ui1",
                allowed_range=AllowedValueRange(minimum="0", maximum="9"),
                default_value="10",
            ),
            StateVariable(
                name="H",
                data_type="i2",
                allowed_range=AllowedValueRange(minimum="-3", maximum="3", step="1"),
                default_value="0",
            ),
        )
    )
    types, allowed = variable_problems(scpd)
    assert types == ["A: dataType 'integer' is not a UPnP data type"]
    assert [p.split(":")[0] for p in allowed] == ["B", "C", "D", "E", "F", "G"]


def test_cm_scpd_against_the_standard():
    standard = connection_manager_scpd()
    assert compare_cm_scpd(standard, standard).problems == ()
    sonos = parse_scpd(load_fixture("sonos", "ConnectionManager1.xml"))
    result = compare_cm_scpd(sonos, standard)
    assert result.problems == ()
    assert result.optional_absent == ("PrepareForConnection", "ConnectionComplete")
    gmr = parse_scpd(load_fixture("gmediarender", "renderconnmgrSCPD.xml"))
    assert compare_cm_scpd(gmr, standard).problems == (
        "PrepareForConnection is offered without ConnectionComplete",
    )
    info = standard.action("GetCurrentConnectionInfo")
    assert info is not None
    swapped = (*info.arguments[:-2], info.arguments[-1], info.arguments[-2])
    reordered = replace(
        standard,
        actions=tuple(
            Action(name=a.name, arguments=swapped) if a.name == info.name else a
            for a in standard.actions
        ),
    )
    assert (
        "GetCurrentConnectionInfo arguments are" in compare_cm_scpd(reordered, standard).problems[0]
    )
