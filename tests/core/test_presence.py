"""Which devices are present, by what SSDP says (rules A8, A9, M5): pure, time is an argument."""

from __future__ import annotations

import pytest

from upnpcm.core.discovery import Discovered, Presence


def msg(
    udn: str = "uuid:root",
    *,
    kind: str = "alive",
    nt: str = "upnp:rootdevice",
    source: str = "10.0.0.2",
    boot_id: int | None = 1,
    config_id: int | None = 7,
    max_age: int | None = 1800,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> Discovered:
    return Discovered(
        kind=kind,  # type: ignore[arg-type]
        usn=f"{udn}::{nt}" if nt != udn else udn,
        nt=nt,
        location=location or f"http://{source}:1400/d.xml",
        source=(source, 1900),
        boot_id=boot_id,
        config_id=config_id,
        max_age=max_age,
        headers=headers or {},
    )


def test_a_root_appears_is_seen_and_leaves_on_byebye():
    presence = Presence()
    change = presence.observe(msg(), 10.0)
    assert change is not None and change.kind == "appeared"
    assert change.device.location == "http://10.0.0.2:1400/d.xml"
    assert change.device.expires_at == 10.0 + 1800
    seen = presence.observe(msg(nt="uuid:root"), 20.0)
    assert seen is not None and seen.kind == "seen" and seen.device.last_seen == 20.0
    gone = presence.observe(msg(kind="byebye", nt="urn:x:device:Y:1"), 30.0)
    assert gone is not None and (gone.kind, gone.reason) == ("gone", "ssdp:byebye")
    assert len(presence) == 0 and presence.peers() == {}


def test_only_a_rootdevice_message_creates_an_entry():
    presence = Presence()
    assert presence.observe(msg(nt="urn:schemas-upnp-org:device:MediaRenderer:1"), 1.0) is None
    assert presence.observe(msg(kind="response", nt="uuid:root"), 1.0) is None
    assert presence.observe(msg(kind="response"), 1.0) is not None  # ST upnp:rootdevice


def test_max_age_expires_it_unless_renewed_also_by_an_embedded_device():
    presence = Presence()
    presence.observe(msg(max_age=100), 0.0)
    presence.set_embedded("uuid:root", ["uuid:mr", "uuid:ms"])
    assert presence.next_deadline() == 100.0
    renewal = presence.observe(msg("uuid:mr", nt="urn:x:device:MediaRenderer:1", max_age=100), 90.0)
    assert renewal is not None and renewal.device.udn == "uuid:root"
    assert presence.expire(150.0) == []
    [expired] = presence.expire(190.0)
    assert expired.kind == "expired" and expired.device.udn == "uuid:root"
    # its embedded UDNs are forgotten with it
    assert presence.observe(msg("uuid:mr", nt="urn:x:device:MediaRenderer:1"), 200.0) is None


def test_no_max_age_gets_the_default():
    presence = Presence(default_max_age=1800)
    change = presence.observe(msg(max_age=None), 0.0)
    assert change is not None and change.device.expires_at == 1800.0


def test_a_new_bootid_or_configid_is_a_change_with_the_new_location():
    presence = Presence()
    presence.observe(msg(), 0.0)
    change = presence.observe(msg(boot_id=2, location="http://10.0.0.2:1401/d.xml"), 1.0)
    assert change is not None and change.kind == "changed"
    assert change.reason == "BOOTID 1 → 2"
    assert change.device.location == "http://10.0.0.2:1401/d.xml"
    change = presence.observe(msg(boot_id=2, config_id=8), 2.0)
    assert change is not None and (change.kind, change.reason) == ("changed", "CONFIGID 7 → 8")
    # the same values again: only seen
    again = presence.observe(msg(boot_id=2, config_id=8), 3.0)
    assert again is not None and again.kind == "seen"


def test_ssdp_update_announces_the_next_bootid():
    presence = Presence()
    presence.observe(msg(), 0.0)
    change = presence.observe(
        msg(kind="update", nt="uuid:root", headers={"NEXTBOOTID.UPNP.ORG": "5"}), 1.0
    )
    assert change is not None and change.reason == "BOOTID 1 → 5"


def test_another_sender_cannot_move_a_device():
    presence = Presence()
    presence.observe(msg(), 0.0)
    change = presence.observe(
        msg(boot_id=9, source="10.0.0.66", location="http://10.0.0.66/evil.xml"), 1.0
    )
    assert change is not None and change.device.location == "http://10.0.0.2:1400/d.xml"


def test_an_embedded_byebye_does_not_remove_the_root():
    presence = Presence()
    presence.observe(msg(), 0.0)
    presence.set_embedded("uuid:root", ["uuid:mr"])
    assert presence.observe(msg("uuid:mr", kind="byebye", nt="uuid:mr"), 1.0) is None
    assert presence.get("uuid:mr") is presence.get("uuid:root") is not None


def test_bounds_in_all_and_per_sender_refuse_and_count():
    presence = Presence(max_devices=5, max_per_peer=2, max_embedded=1)
    for n in range(4):
        presence.observe(msg(f"uuid:a{n}", source="10.0.0.2"), 0.0)
    assert len(presence) == 2 and presence.refused == 2
    for n in range(10):
        presence.observe(msg(f"uuid:b{n}", source=f"10.0.1.{n}"), 0.0)
    assert len(presence) == 5 and presence.refused == 9
    first = next(iter(presence))
    presence.set_embedded(first.udn, ["uuid:e1", "uuid:e2", "uuid:e3"])
    assert first.embedded == ("uuid:e1",)
    # a device already there is never evicted: its renewals still count
    seen = presence.observe(msg(first.udn, source=first.source), 1.0)
    assert seen is not None and seen.kind == "seen"


def test_bounds_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        Presence(max_devices=0)


def test_other_locations_are_kept_as_alternatives_bounded():
    presence = Presence(max_locations=2)
    presence.observe(msg(source="fd99::1", location="http://[fd99::1]:1400/d.xml"), 0.0)
    seen = presence.observe(msg(nt="uuid:root"), 1.0)  # the same device on IPv4
    assert seen is not None and seen.device.locations == (
        ("fd99::1", "http://[fd99::1]:1400/d.xml"),
        ("10.0.0.2", "http://10.0.0.2:1400/d.xml"),
    )
    presence.observe(msg(source="10.0.0.3"), 2.0)
    assert len(seen.device.locations) == 2  # bounded
    assert seen.device.location == "http://[fd99::1]:1400/d.xml"  # the first stays the first
    rebooted = presence.observe(
        msg(boot_id=2, source="fd99::1", location="http://[fd99::1]:1401/d.xml"), 3.0
    )
    assert rebooted is not None and rebooted.device.locations == (
        ("fd99::1", "http://[fd99::1]:1401/d.xml"),
    )
