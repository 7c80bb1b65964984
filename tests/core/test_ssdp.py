"""SSDP core: codec, advertisement set, search responder and advertiser (fake clock, seeded RNG)."""

import ipaddress
import random

import pytest

from upnpcm.core.description import Device, Service
from upnpcm.core.ssdp import (
    Advertiser,
    SearchResponder,
    SsdpConfig,
    advertisements,
    build_msearch,
    build_notify,
    location_matches_source,
    matches,
    parse_datagram,
)
from upnpcm.errors import RemoteProtocolError

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"
ROOT_UDN = "uuid:11111111-1111-4111-8111-111111111111"


def cm(prefix):
    return Service(
        service_type=CM,
        service_id="urn:upnp-org:serviceId:ConnectionManager",
        scpd_url="/x.xml",
        control_url=f"/{prefix}/c",
        event_sub_url=f"/{prefix}/e",
    )


ROOT = Device(
    device_type="urn:schemas-upnp-org:device:Basic:1",
    udn=ROOT_UDN,
    devices=(
        Device(
            device_type="urn:schemas-upnp-org:device:MediaRenderer:1",
            udn="uuid:22222222-2222-4222-8222-222222222222",
            services=(cm("MR"),),
        ),
        Device(
            device_type="urn:schemas-upnp-org:device:MediaServer:1",
            udn="uuid:33333333-3333-4333-8333-333333333333",
            services=(cm("MS"), cm("MS2")),
        ),
    ),
)
CONFIG = SsdpConfig(server="Linux/6 UPnP/1.1 upnpcm/0.1", boot_id=7, config_id=1234)
NETS = [ipaddress.ip_network("127.0.0.0/8")]
LOCATION = "http://127.0.0.1:1400/xml/device_description.xml"
SRC = ("127.0.0.5", 50000)


def responder(**kw):
    return SearchResponder(advertisements(ROOT), CONFIG, rng=random.Random(1), **kw)


def search(
    r,
    st,
    *,
    mx="1",
    man='"ssdp:discover"',
    host="239.255.255.250:1900",
    now=0.0,
    source=SRC,
    raw=None,
):
    lines = ["M-SEARCH * HTTP/1.1", f"HOST: {host}"]
    if man is not None:
        lines.append(f"MAN: {man}")
    if mx is not None:
        lines.append(f"MX: {mx}")
    lines.append(f"ST: {st}")
    data = raw if raw is not None else ("\r\n".join(lines) + "\r\n\r\n").encode()
    return r.handle_datagram(
        data,
        source,
        now=now,
        location=LOCATION,
        networks=NETS,
        date="Tue, 24 Nov 2026 22:00:00 GMT",
    )


def test_advertisement_set_is_3_plus_2d_plus_k():
    ads = advertisements(ROOT)
    d = 2  # embedded devices
    k = 2  # distinct service types per device: MR 1, MS 1 (two CM services, one type)
    assert len(ads) == 3 + 2 * d + k
    assert ads[0].nt == "upnp:rootdevice" and ads[0].usn == f"{ROOT_UDN}::upnp:rootdevice"
    pairs = {(a.nt, a.usn) for a in ads}
    assert (ROOT_UDN, ROOT_UDN) in pairs
    assert (
        "urn:schemas-upnp-org:device:Basic:1",
        f"{ROOT_UDN}::urn:schemas-upnp-org:device:Basic:1",
    ) in pairs
    assert (CM, f"uuid:33333333-3333-4333-8333-333333333333::{CM}") in pairs


def test_parse_response_and_notify_forms():
    msg = parse_datagram(
        b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age = 1800\r\nST:ssdp:all\r\nEXT:\r\n\r\n"
    )
    assert (msg.kind, msg.status, msg.get("st"), msg.get("EXT")) == (
        "RESPONSE",
        200,
        "ssdp:all",
        "",
    )
    soco = parse_datagram(
        b'M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\nMAN: "ssdp:discover"\nMX: 1\nST: urn:schemas-upnp-org:device:ZonePlayer:1\n'
    )
    assert soco.kind == "M-SEARCH" and soco.get("MX") == "1"
    alive = build_notify(advertisements(ROOT)[0], "ssdp:alive", CONFIG, location=LOCATION)
    parsed = parse_datagram(alive)
    assert parsed.kind == "NOTIFY"
    assert [name for name, _ in parsed.headers] == [
        "HOST",
        "CACHE-CONTROL",
        "LOCATION",
        "NT",
        "NTS",
        "SERVER",
        "USN",
        "BOOTID.UPNP.ORG",
        "CONFIGID.UPNP.ORG",
    ]
    assert parsed.get("CACHE-CONTROL") == "max-age=1800"
    byebye = parse_datagram(build_notify(advertisements(ROOT)[0], "ssdp:byebye", CONFIG))
    assert (
        byebye.get("LOCATION") is None
        and byebye.get("NTS") == "ssdp:byebye"
        and byebye.get("BOOTID.UPNP.ORG") == "7"
    )
    update = parse_datagram(
        build_notify(
            advertisements(ROOT)[0], "ssdp:update", CONFIG, location=LOCATION, next_boot_id=8
        )
    )
    assert update.get("NEXTBOOTID.UPNP.ORG") == "8"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x00" * 100,
        b"M-SEARCH * HTTP/1.1\r\nno colon here\r\n\r\n",
        b"M-SEARCH * HTTP/1.1\r\nST: " + b"x" * 5000 + b"\r\n\r\n",
        b"M-SEARCH * HTTP/1.1\r\n" + b"X: y\r\n" * 1000 + b"\r\n",
        b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n" + b" " * 9000,
        b"\r\n\r\n\r\n",
    ],
)
def test_bad_datagrams_raise_protocol_error_only(data):
    with pytest.raises(RemoteProtocolError):
        parse_datagram(data)


def test_ssdp_all_gets_every_message_with_required_headers():
    replies = search(responder(), "ssdp:all")
    assert len(replies) == len(advertisements(ROOT))
    for reply in replies:
        msg = parse_datagram(reply.data)
        assert msg.kind == "RESPONSE"
        for name in (
            "CACHE-CONTROL",
            "DATE",
            "LOCATION",
            "SERVER",
            "ST",
            "USN",
            "BOOTID.UPNP.ORG",
            "CONFIGID.UPNP.ORG",
        ):
            assert msg.get(name), name
        assert msg.get("EXT") == ""
        assert reply.address == SRC
        assert 0 <= reply.send_at <= 0.75
    assert len({parse_datagram(r.data).get("USN") for r in replies}) == len(
        replies
    )  # no duplicates


@pytest.mark.parametrize(
    ("st", "count", "usn_suffix"),
    [
        ("upnp:rootdevice", 1, "::upnp:rootdevice"),
        (ROOT_UDN, 1, ""),
        ("uuid:22222222-2222-4222-8222-222222222222", 1, ""),
        (
            "urn:schemas-upnp-org:device:MediaRenderer:1",
            1,
            "::urn:schemas-upnp-org:device:MediaRenderer:1",
        ),
        (CM, 2, f"::{CM}"),
        ("urn:schemas-upnp-org:service:ConnectionManager:2", 0, ""),
        ("urn:schemas-upnp-org:device:ZonePlayer:1", 0, ""),
        ("uuid:nope", 0, ""),
        # Unicode digits are not a version ("\u0661" is ARABIC-INDIC DIGIT ONE).
        ("urn:schemas-upnp-org:service:ConnectionManager:\u0661", 0, ""),
    ],
)
def test_specific_targets(st, count, usn_suffix):
    replies = search(responder(), st)
    assert len(replies) == count
    for reply in replies:
        msg = parse_datagram(reply.data)
        assert msg.get("ST") == st
        assert msg.get("USN").endswith(usn_suffix)


def test_lower_version_request_matches():
    cm2 = Device(
        device_type="urn:schemas-upnp-org:device:MediaServer:2",
        udn="uuid:4",
        services=(
            Service(
                service_type="urn:schemas-upnp-org:service:ConnectionManager:2",
                service_id="x",
                scpd_url="/",
                control_url="/",
                event_sub_url="/",
            ),
        ),
    )
    ads = advertisements(cm2)
    assert any(matches(a, "urn:schemas-upnp-org:service:ConnectionManager:1") for a in ads)
    assert any(matches(a, "urn:schemas-upnp-org:device:MediaServer:1") for a in ads)
    assert not any(matches(a, "urn:schemas-upnp-org:service:ConnectionManager:3") for a in ads)
    reply = SearchResponder(ads, CONFIG, rng=random.Random(1)).handle_datagram(
        build_msearch("urn:schemas-upnp-org:service:ConnectionManager:1", mx=1),
        SRC,
        now=0,
        location=LOCATION,
        networks=NETS,
    )
    msg = parse_datagram(reply[0].data)
    assert msg.get("ST") == "urn:schemas-upnp-org:service:ConnectionManager:1"  # echoed
    assert msg.get("USN") == "uuid:4::urn:schemas-upnp-org:service:ConnectionManager:2"


@pytest.mark.parametrize(
    ("mx", "man"),
    [
        (None, '"ssdp:discover"'),
        ("0", '"ssdp:discover"'),
        ("-1", '"ssdp:discover"'),
        ("abc", '"ssdp:discover"'),
        ("1", None),
        ("1", "ssdp:discover"),
        ("1", '"ssdp:alive"'),
    ],
)
def test_bad_mx_or_man_ignored(mx, man):
    assert search(responder(), "ssdp:all", mx=mx, man=man) == []


def test_mx_capped_at_five_and_delays_seeded():
    r = responder()
    replies = search(r, "ssdp:all", mx="120", now=10.0)
    assert all(10.0 <= reply.send_at <= 14.75 for reply in replies)
    assert max(reply.send_at for reply in replies) > 11.0  # really spread, not all at once
    again = search(
        SearchResponder(advertisements(ROOT), CONFIG, rng=random.Random(1)),
        "ssdp:all",
        mx="120",
        now=10.0,
    )
    assert [o.send_at for o in again] == [o.send_at for o in replies]


def test_unicast_search_needs_no_mx_and_is_immediate():
    replies = search(responder(), "upnp:rootdevice", mx=None, host="127.0.0.1:1900", now=3.0)
    assert [o.send_at for o in replies] == [3.0]


def test_reflection_defence_sources_outside_our_networks():
    r = SearchResponder(advertisements(ROOT), CONFIG, rng=random.Random(1))
    only_us = [ipaddress.ip_network("127.0.0.1/32")]
    out = r.handle_datagram(
        build_msearch("ssdp:all", mx=1),
        ("127.0.0.5", 1900),
        now=0,
        location=LOCATION,
        networks=only_us,
    )
    assert out == []
    assert r.handle_datagram(
        build_msearch("ssdp:all", mx=1),
        ("127.0.0.1", 1900),
        now=0,
        location=LOCATION,
        networks=only_us,
    )


def test_rate_limit_per_source_and_pending_cap():
    r = responder()
    answered = sum(1 for i in range(100) if search(r, "upnp:rootdevice", now=i * 0.001))
    assert answered == 10
    assert search(r, "upnp:rootdevice", now=2.0)  # a second later: allowed again
    assert search(r, "upnp:rootdevice", source=("127.0.0.6", 1), now=0.05)  # others unaffected
    capped = SearchResponder(
        advertisements(ROOT), CONFIG, rng=random.Random(2), max_pending=20, max_rate=1000
    )
    total = sum(
        len(search(capped, "ssdp:all", mx="5", now=0.0, source=(f"127.0.1.{i}", 1)))
        for i in range(10)
    )
    assert total == 20


def test_storm_of_garbage_does_not_stop_answers():
    r = responder()
    for junk in (
        b"\xff" * 50,
        b"M-SEARCH * HTTP/1.1\r\n" + b"A: b\r\n" * 500,
        b"x" * 9000,
        b"NOTIFY * HTTP/1.1\r\nNT: x\r\n\r\n",
    ):
        assert r.handle_datagram(junk, SRC, now=0, location=LOCATION, networks=NETS) == []
    assert search(r, "upnp:rootdevice")
    assert r.ignored >= 3


def test_advertiser_burst_readvertise_and_byebye(clock):
    ads = advertisements(ROOT)
    adv = Advertiser(ads, CONFIG, {"127.0.0.1": LOCATION}, rng=random.Random(3))
    first = adv.start(clock.now)
    assert len(first) == len(ads)  # first copy now
    deadline = adv.next_deadline()
    assert deadline is not None and clock.now < deadline <= clock.now + 0.3
    second = adv.handle_timer(clock.advance(0.3))
    assert len(second) == len(ads)  # the second copy
    assert {parse_datagram(o.data).get("USN") for o in first} == {a.usn for a in ads}
    for out in first:
        msg = parse_datagram(out.data)
        assert msg.get("NTS") == "ssdp:alive"
        assert msg.get("LOCATION") == LOCATION
        assert out.address == ("239.255.255.250", 1900)
    next_round = adv.next_deadline()
    assert clock.now + 1800 * 0.3 < next_round < clock.now + 900  # before max-age/2
    assert adv.handle_timer(next_round - 1) == []
    sent = adv.handle_timer(next_round)
    sent += adv.handle_timer(next_round + 2.0)  # copies spread over about a second
    assert len(sent) == 2 * len(ads)
    assert all(next_round <= o.send_at <= next_round + 1.5 for o in sent)
    bye = adv.stop(clock.now)
    assert len(bye) == 2 * len(ads)
    assert {parse_datagram(o.data).get("NTS") for o in bye} == {"ssdp:byebye"}
    assert adv.next_deadline() is None
    assert adv.handle_timer(clock.advance(10_000)) == []


def test_readvertise_jitter_differs_by_seed():
    ads = advertisements(ROOT)
    a = Advertiser(ads, CONFIG, {"127.0.0.1": LOCATION}, rng=random.Random(1))
    b = Advertiser(ads, CONFIG, {"127.0.0.1": LOCATION}, rng=random.Random(2))
    a.start(0.0)
    b.start(0.0)
    a.handle_timer(1.0)
    b.handle_timer(1.0)
    assert a.next_deadline() != b.next_deadline()


def test_profile_extras_and_no_configid():
    config = SsdpConfig(
        server="Linux UPnP/1.0 Sonos/85.0-64200 (ZPS29)",
        boot_id=6,
        config_id=None,
        cache_control="max-age = 1800",
        headers={"X-RINCON-HOUSEHOLD": "Sonos_x", "X-RINCON-BOOTSEQ": "{boot_id}"},
    )
    msg = parse_datagram(
        build_notify(advertisements(ROOT)[0], "ssdp:alive", config, location=LOCATION)
    )
    assert msg.get("CONFIGID.UPNP.ORG") is None
    assert msg.get("X-RINCON-BOOTSEQ") == "6" == msg.get("BOOTID.UPNP.ORG")
    assert msg.get("CACHE-CONTROL") == "max-age = 1800"


def test_ipv6_target_and_host():
    adv = Advertiser(
        advertisements(ROOT), CONFIG, {"::1": "http://[::1]:1400/x"}, rng=random.Random(1)
    )
    out = adv.start(0.0)
    assert out[0].address == ("ff02::c", 1900)
    assert parse_datagram(out[0].data).get("HOST") == "[FF02::C]:1900"


@pytest.mark.parametrize(
    ("location", "source", "ok"),
    [
        ("http://127.0.0.1:1400/xml/device_description.xml", "127.0.0.1", True),
        ("  http://127.0.0.1/d.xml  ", "127.0.0.1", True),
        ("http://[::1]:8080/d.xml", "::1", True),
        ("http://[0:0::1]:8080/d.xml", "::1", True),  # the same address, written differently
        ("http://127.0.0.1:80/d.xml", "::ffff:127.0.0.1", True),  # IPv4-mapped source
        ("http://[fe80::1%25eth0]:80/d.xml", "fe80::1%eth0", True),  # zones are ignored
        ("http://[fe80::1]:80/d.xml", "fe80::1%2", True),
        ("http://127.0.0.9:18950/private/admin", "127.0.0.1", False),  # security.md item 36
        ("http://localhost:1400/d.xml", "127.0.0.1", False),  # names are not resolved
        ("http://[::1/x.xml", "::1", False),  # unparsable
        ("/relative.xml", "127.0.0.1", False),
        ("", "127.0.0.1", False),
        ("http://127.0.0.1/d.xml", "not-an-ip", False),
    ],
)
def test_location_matches_source(location, source, ok):
    assert location_matches_source(location, source) is ok


@pytest.mark.parametrize("mx", ["\u00b2", "\u0663", "1\u00b9"])
def test_non_ascii_digit_mx_is_ignored_without_raising(mx):
    r = responder()
    assert search(r, "ssdp:all", mx=mx) == []
    assert search(r, "ssdp:all", mx="1")  # still answering


@pytest.mark.parametrize("start", ["HTTP/1.1 \u00b200 OK", "HTTP/1.1 \u0662\u0660\u0660 OK"])
def test_non_ascii_digit_status_line_is_a_protocol_error(start):
    with pytest.raises(RemoteProtocolError):
        parse_datagram(f"{start}\r\nST: ssdp:all\r\n\r\n".encode())
    r = responder()
    assert (
        r.handle_datagram(
            f"{start}\r\n\r\n".encode(), SRC, now=0.0, location=LOCATION, networks=NETS
        )
        == []
    )


def test_extra_header_values_are_not_format_strings():
    config = SsdpConfig(
        server="s", boot_id=7, headers={"X-RINCON-HOUSEHOLD": "Sonos_{a}{0}{", "X-B": "{boot_id}"}
    )
    headers = dict(config.common())
    assert headers["X-RINCON-HOUSEHOLD"] == "Sonos_{a}{0}{"
    assert headers["X-B"] == "7"
    ad = advertisements(ROOT)[0]
    assert (
        parse_datagram(build_notify(ad, "ssdp:alive", config, location=LOCATION)).get(
            "X-RINCON-HOUSEHOLD"
        )
        == "Sonos_{a}{0}{"
    )


def test_unicast_replies_count_against_the_global_reply_budget():
    r = responder()  # max_pending=100, max_rate=10 per source
    total = 0
    for i in range(20):  # 20 sources, each within its own rate limit
        for k in range(10):
            total += len(
                search(
                    r,
                    "ssdp:all",
                    mx=None,
                    host="127.0.0.1:1900",
                    now=0.001 * (i * 10 + k),
                    source=(f"127.0.2.{i + 1}", 1900),
                )
            )
    assert total == 100  # not 200 searches x every advertisement
    # Multicast searches share the same budget in that second.
    assert search(r, "ssdp:all", mx="1", now=0.5, source=("127.0.3.1", 1)) == []
    # A second later the budget is back.
    later = search(r, "upnp:rootdevice", mx=None, host="127.0.0.1:1900", now=1.3)
    assert [o.send_at for o in later] == [1.3]


def test_reply_budget_bounds_output_per_second_over_a_long_storm():
    r = responder()
    per_second: dict[int, int] = {}
    now = 0.0
    for n in range(5000):  # 1000 sources, unicast, over 5 s
        now = n * 0.001
        out = search(
            r,
            "ssdp:all",
            mx=None,
            host="127.0.0.1:1900",
            now=now,
            source=(f"127.0.{4 + n % 1000 // 250}.{n % 250 + 1}", 1900),
        )
        per_second[int(now)] = per_second.get(int(now), 0) + len(out)
    assert max(per_second.values()) <= 100


def test_over_long_numbers_are_dropped_never_raised():
    # Issue-12 regression: a 5,000-digit status code raised ValueError out of the responder.
    digits = "9" * 5000
    with pytest.raises(RemoteProtocolError):
        parse_datagram(f"HTTP/1.1 {digits} OK\r\nST: x\r\n\r\n".encode())
    r = responder()
    assert search(r, "", raw=f"HTTP/1.1 {digits} OK\r\nST: x\r\n\r\n".encode()) == []
    assert r.ignored == 1
    assert search(r, "ssdp:all", mx=digits[:900]) == []  # MX: refused, not converted
    assert search(r, f"urn:schemas-upnp-org:device:MediaRenderer:{digits[:900]}") == []
    assert search(r, "upnp:rootdevice")  # and searches are still answered


# ----------------------------------------------------- S8: the reply budget, shared fairly


def _flood(
    r, *, sources=50, searches=20_000, seconds=40.0, legit_every=2.0, legit_st="upnp:rootdevice"
):
    """``searches`` ssdp:all from ``sources`` addresses spread over ``seconds`` (10 a second
    from each: their rate limit), and a legitimate searcher every ``legit_every`` s, as a
    control point searches; (replies to each legitimate search, most replies pending)."""
    flood_rng = random.Random(7)
    events = [
        (flood_rng.uniform(0, seconds), f"127.0.2.{i % sources + 1}") for i in range(searches)
    ]
    # The legitimate searcher starts once the flood is under way (its first second is a race
    # every newcomer runs alike) and searches now and then, as control points do.
    events += [(k * legit_every + 0.05, "127.0.3.1") for k in range(1, int(seconds / legit_every))]
    legit, dues, most = [], [], 0
    for at, ip in sorted(events):
        st = legit_st if ip == "127.0.3.1" else "ssdp:all"
        out = search(r, st, now=at, source=(ip, 1900))
        if ip == "127.0.3.1":
            legit.append(len(out))
        dues = [due for due in dues if due > at - 1.0] + [o.send_at for o in out]
        most = max(most, len(dues))  # replies waiting, or due within the last second
    return legit, most


def test_a_flood_from_50_sources_leaves_every_legitimate_search_answered():
    # Issue-12 regression: 20,000 searches from 50 sources took the whole 100-reply budget
    # and a legitimate searcher got nothing about 1 time in 10.
    r = responder()
    legit, most = _flood(r)
    assert len(legit) == 19
    assert min(legit) >= 1, f"{legit.count(0)} legitimate searches got no reply"
    assert most <= 100  # the global budget still holds


def test_a_legitimate_ssdp_all_gets_at_least_its_share_under_a_flood():
    r = responder()
    legit, _ = _flood(r, legit_st="ssdp:all")
    assert min(legit) >= 1


def test_one_source_gets_at_most_half_the_budget_and_no_more_than_before():
    ads = advertisements(ROOT)
    r = responder(max_rate=1000)  # only the budget limits it here
    per_second = sum(len(search(r, "ssdp:all", now=i * 0.001)) for i in range(1000))
    assert per_second == 100 // 2  # before: all 100
    # and never more than the per-source rate allowed before: 10 searches/s x every ad
    r = responder()
    replies = sum(len(search(r, "ssdp:all", now=i * 0.01)) for i in range(100))
    assert replies <= 10 * len(ads)


def test_shares_shrink_as_sources_join_and_the_budget_frees_after_a_second():
    r = responder(max_rate=1000)
    first = search(r, "ssdp:all", source=("127.0.4.1", 1), now=0.0)
    assert len(first) == min(len(advertisements(ROOT)), 50)
    # with one other source holding replies, a newcomer's share is 100 // 3
    took = sum(len(search(r, "ssdp:all", source=("127.0.4.2", 1), now=0.0)) for _ in range(10))
    assert took == 100 // 3
    assert search(r, "ssdp:all", source=("127.0.4.2", 1), now=0.5) == []  # share used up
    assert search(r, "ssdp:all", source=("127.0.4.2", 1), now=2.5)  # a second later: free again
