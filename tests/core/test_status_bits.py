"""Small pure pieces of the status page and the UI: Accept (H11), match explanations (P3),
list comparison (F3), the activity tail (K2), shortened SIDs."""

from __future__ import annotations

import pytest

from upnpcm.core.activity import ActivityLog
from upnpcm.core.content import compare_lists
from upnpcm.core.gena import short_sid
from upnpcm.core.http import preferred_media_type
from upnpcm.core.protocol_info import ProtocolInfo, match, parse_list

OFFERS = ("text/plain; charset=utf-8", "text/html; charset=utf-8", "application/json")
CHROMIUM = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, OFFERS[0]),
        ("", OFFERS[0]),
        ("*/*", OFFERS[0]),  # curl: the server's own preference
        (CHROMIUM, OFFERS[1]),
        ("application/json", OFFERS[2]),
        ("application/json, text/html;q=0.5", OFFERS[2]),
        ("text/*;q=0.3, application/json;q=0.2", OFFERS[0]),
        ("text/html;q=0.1, text/*;q=0.9", OFFERS[0]),  # the most specific range decides
        ("application/json;q=0, */*", OFFERS[0]),
        ("image/png", OFFERS[0]),  # nothing acceptable: the default, not 406
        ("application/json;q=abc, text/html", OFFERS[1]),  # a malformed q is skipped
        ("garbage, ;;, /, application/json", OFFERS[2]),
    ],
)
def test_preferred_media_type(accept, chosen):
    assert preferred_media_type(accept, OFFERS) == chosen


def test_preferred_media_type_needs_offers():
    with pytest.raises(ValueError, match="no media type"):
        preferred_media_type("*/*", ())


def test_explain_says_how_each_rule_was_met_without_changing_the_verdict():
    offer = ProtocolInfo.parse("http-get:*:audio/mp3:DLNA.ORG_PN=MP3")
    accept = ProtocolInfo.parse("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    plain, explained = match(offer, accept), match(offer, accept, explain=True)
    assert plain.notes == () and (plain.compatible, plain.score) == (
        explained.compatible,
        explained.score,
    )
    assert explained.notes == (
        "protocol: http-get = http-get",
        "mime: audio/mp3 ~ audio/mpeg (aliases of audio/mpeg)",
        "dlna_profile: MP3 = MP3",
    )
    wild = match(ProtocolInfo.parse("*:*:*:*"), accept, explain=True)
    assert wild.notes[:2] == (
        "protocol: * ~ http-get (wildcard)",
        "mime: * ~ audio/mpeg (wildcard)",
    )
    bad = match(ProtocolInfo.parse("rtsp:*:video/mp4:*"), accept, explain=True)
    assert bad.explanation == (
        "dlna_profile: none ~ MP3 (checked only when both name one)",
        "protocol: rtsp ≠ http-get",
        "mime: video/mp4 ≠ audio/mpeg",
    )


def test_compare_lists_best_pair_and_why_or_the_closest_misses():
    sources = parse_list("http-get:*:image/jpeg:*,http-get:*:audio/flac:*").entries
    sinks = parse_list("http-get:*:audio/x-flac:*,http-get:*:image/jpeg:*").entries
    result = compare_lists(sources, sinks)
    assert result.compatible and result.pairs == 2
    assert result.best is not None and str(result.best.source) == "http-get:*:audio/flac:*"
    assert result.explanation[0].startswith(
        "best: http-get:*:audio/flac:* → http-get:*:audio/x-flac:*"
    )
    assert "mime: audio/flac ~ audio/x-flac (aliases of audio/flac)" in result.explanation
    none = compare_lists(parse_list("http-get:*:video/mp4:*").entries, sinks)
    assert not none.compatible and none.pairs == 0
    assert none.explanation == (
        "http-get:*:video/mp4:*: closest http-get:*:audio/x-flac:* (mime: video/mp4 ≠ audio/x-flac)",
    )
    empty = compare_lists((), sinks)
    assert empty.explanation == ("nothing to match: the Source list is empty",)


def test_activity_log_is_bounded_and_keeps_only_short_sids():
    log = ActivityLog(size=3)
    sid = "uuid:12345678-1234-4234-8234-1234567890ab"
    log.subscription(1.0, "subscribe", "/e", sid, "10.0.0.9")
    log.evented(2.0, "/e", {f"V{i}": "x" * 500 for i in range(20)}, 2)
    log.notified(3.0, "/e", sid, 4, 200)
    log.notified(4.0, "/e", sid, 5, None)
    entries = list(log)
    assert len(entries) == 3 and log.recorded == 4
    assert [e.kind for e in entries] == ["event", "notify", "notify"]
    assert len(entries[0].variables) == 8 and all(len(v) == 160 for _, v in entries[0].variables)
    assert entries[0].detail == "2 subscribers"
    assert entries[1].sid == "uuid:…90ab" and entries[2].status is None
    with pytest.raises(ValueError, match="at least 1"):
        ActivityLog(size=0)


@pytest.mark.parametrize(
    ("sid", "short"),
    [
        ("uuid:12345678-1234-4234-8234-1234567890ab", "uuid:…90ab"),
        ("uuid:RINCON_0A1B2C301400_sub12345678901234567890", "uuid:…7890"),
        ("uuid:short", "uuid:…"),
        ("opaque-token-without-prefix", "…efix"),
    ],
)
def test_short_sid(sid, short):
    assert short_sid(sid) == short
