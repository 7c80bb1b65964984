"""protocolInfo: parsing, formatting, DLNA decoding and matching, with real lists."""

import pytest

from tests.conftest import load_fixture
from upnpcm.core.protocol_info import (
    DlnaFlags,
    MimeType,
    ProtocolInfo,
    best_pairs,
    canonical_mime,
    format_list,
    match,
    parse_list,
)
from upnpcm.errors import ProtocolInfoError

P = ProtocolInfo.parse


def test_parse_and_format_one():
    info = P("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01")
    assert (info.protocol, info.network, info.content_format, info.additional_info) == (
        "http-get",
        "*",
        "audio/mpeg",
        "DLNA.ORG_PN=MP3;DLNA.ORG_OP=01",
    )
    assert str(info) == "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01"
    assert (
        str(P(" internal:192.168.1.2:vendor:x:y ")) == "internal:192.168.1.2:vendor:x:y"
    )  # additionalInfo keeps colons


@pytest.mark.parametrize("text", ["", "http-get", "http-get:*", "http-get:*:audio/mpeg"])
def test_fewer_than_four_fields_is_an_error(text):
    with pytest.raises(ProtocolInfoError, match="needs 4"):
        P(text)


def test_list_escaping_round_trip():
    entries = [P("http-get:*:audio/L16;rate=44100:DLNA.ORG_PS=-2,-1,1,2"), P("x-vendor:*:a\\b:*")]
    text = format_list(entries)
    assert text == "http-get:*:audio/L16;rate=44100:DLNA.ORG_PS=-2\\,-1\\,1\\,2,x-vendor:*:a\\\\b:*"
    assert parse_list(text).entries == tuple(entries)


def test_lenient_list_parsing():
    parsed = parse_list(" http-get:*:audio/mpeg:* ,, \n http-get:*:audio/flac:*,")
    assert [str(e) for e in parsed] == ["http-get:*:audio/mpeg:*", "http-get:*:audio/flac:*"]
    assert parsed.invalid == ()


def test_unescaped_dlna_speed_list_is_rejoined():
    parsed = parse_list("http-get:*:video/mpeg:DLNA.ORG_PS=-2,-1,1,2,http-get:*:audio/mpeg:*")
    assert [str(e) for e in parsed] == [
        "http-get:*:video/mpeg:DLNA.ORG_PS=-2,-1,1,2",
        "http-get:*:audio/mpeg:*",
    ]
    assert parsed.entries[0].dlna.play_speeds == ("-2", "-1", "1", "2")


def test_bad_entries_are_reported_not_dropped():
    parsed = parse_list("http-get:*:audio/mpeg:*,broken,rtsp:*")
    assert len(parsed) == 1
    assert [(bad.index, bad.text) for bad in parsed.invalid] == [(1, "broken"), (2, "rtsp:*")]
    with pytest.raises(ProtocolInfoError):
        parse_list("http-get:*:audio/mpeg:*,broken", strict=True)


def test_mime_parameters_and_aliases():
    mime = MimeType.parse('audio/L16; rate=44100 ;Channels="2"')
    assert mime.essence == "audio/L16"
    assert mime.parameters == (("rate", "44100"), ("channels", "2"))
    assert mime.canonical == "audio/l16"
    for alias, canonical in [
        ("audio/mp3", "audio/mpeg"),
        ("AUDIO/X-FLAC", "audio/flac"),
        ("audio/x-wav", "audio/wav"),
        ("audio/x-m4a", "audio/mp4"),
    ]:
        assert canonical_mime(alias) == canonical


def test_dlna_decoding():
    dlna = P(
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=11;DLNA.ORG_CI=1;DLNA.ORG_FLAGS=01700000000000000000000000000000;X=1"
    ).dlna
    assert dlna.profile == "MP3"
    assert (dlna.time_seek, dlna.byte_seek, dlna.converted) == (True, True, True)
    assert (
        dlna.flags
        == DlnaFlags.STREAMING_TRANSFER_MODE
        | DlnaFlags.BACKGROUND_TRANSFER_MODE
        | DlnaFlags.CONNECTION_STALL
        | DlnaFlags.DLNA_V15
    )
    assert dlna.flag_names == (
        "DLNA_V15",
        "CONNECTION_STALL",
        "BACKGROUND_TRANSFER_MODE",
        "STREAMING_TRANSFER_MODE",
    )
    assert dlna.other == (("X", "1"),)
    only_range = P("http-get:*:audio/mpeg:DLNA.ORG_OP=01").dlna
    assert (only_range.time_seek, only_range.byte_seek, only_range.profile) == (False, True, None)
    assert P("http-get:*:audio/mpeg:*").dlna is None
    bad = P("http-get:*:audio/mpeg:DLNA.ORG_OP=7;DLNA.ORG_FLAGS=xyz").dlna
    assert len(bad.problems) == 2 and bad.flags is None


@pytest.mark.parametrize(
    ("offer", "accept", "ok", "reason"),
    [
        ("http-get:*:audio/mpeg:*", "http-get:*:audio/mpeg:*", True, None),
        ("HTTP-GET:*:Audio/MPEG:*", "http-get:*:audio/mpeg:*", True, None),
        ("http-get:*:audio/mp3:*", "http-get:*:audio/mpeg:*", True, None),
        ("*:*:*:*", "rtsp-rtp-udp:*:MP2T:*", True, None),
        ("http-get:*:*:*", "http-get:*:video/mp4:*", True, None),
        ("http-get:*:audio/L16:*", "http-get:*:audio/L16;rate=44100;channels=2:*", True, None),
        (
            "http-get:*:audio/L16;rate=48000:*",
            "http-get:*:audio/L16;rate=44100;channels=2:*",
            False,
            "parameters",
        ),
        ("rtsp-rtp-udp:*:audio/mpeg:*", "http-get:*:audio/mpeg:*", False, "protocol"),
        ("http-get:*:audio/mpeg:*", "http-get:*:video/mpeg:*", False, "mime"),
        (
            "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3",
            "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3X",
            False,
            "dlna_profile",
        ),
        ("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3", "http-get:*:audio/mpeg:*", True, None),
        (
            "http-get:*:audio/mpeg:DLNA.ORG_PN=mp3;DLNA.ORG_OP=01",
            "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_FLAGS=01700000000000000000000000000000",
            True,
            None,
        ),
        ("internal:10.0.0.1:vendor:*", "internal:10.0.0.2:vendor:*", False, "network"),
        ("internal:10.0.0.1:vendor:*", "internal:10.0.0.1:vendor:*", True, None),
        ("x-rincon-mp3radio:*:*:*", "x-rincon-mp3radio:*:*:*", True, None),
    ],
)
def test_match_rules(offer, accept, ok, reason):
    result = match(P(offer), P(accept))
    assert result.compatible is ok
    assert bool(result) is ok
    if reason:
        assert result.reasons and result.reasons[0].startswith(reason + ":")
        assert result.score == 0
    else:
        assert result.reasons == () and result.score > 0


def test_scores_rank_exact_over_alias_over_wildcard():
    exact = match(P("http-get:*:audio/mpeg:*"), P("http-get:*:audio/mpeg:*")).score
    alias = match(P("http-get:*:audio/mp3:*"), P("http-get:*:audio/mpeg:*")).score
    wild = match(P("http-get:*:*:*"), P("http-get:*:audio/mpeg:*")).score
    profile = match(
        P("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3"), P("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    ).score
    assert profile > exact > alias > wild


def test_best_pairs_ranks_every_compatible_pair():
    sources = parse_list(
        "http-get:*:audio/flac:*,http-get:*:audio/mpeg:DLNA.ORG_PN=MP3,http-get:*:video/mp4:*"
    )
    sinks = parse_list(
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3,http-get:*:audio/x-flac:*,x-rincon:*:*:*"
    )
    pairs = best_pairs(sources, sinks)
    assert [(str(p.source), str(p.sink)) for p in pairs] == [
        ("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3", "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3"),
        ("http-get:*:audio/flac:*", "http-get:*:audio/x-flac:*"),
    ]
    assert pairs[0].score > pairs[1].score


def test_real_lists_parse_cleanly_and_match_each_other():
    sonos = parse_list(load_fixture("sonos", "MediaRenderer-GetProtocolInfo-Sink.txt").decode())
    assert sonos.invalid == () and len(sonos) >= 60  # the trailing comma is no entry
    assert any(e.protocol == "sonos.com-http" for e in sonos)
    assert any(e.protocol.startswith("x-rincon") for e in sonos)
    assert any(e.protocol == "x-file-cifs" for e in sonos)
    gmr = parse_list(load_fixture("gmediarender", "ProtocolInfo-Sink.txt").decode())
    rygel_source = parse_list(load_fixture("rygel-mediaserver", "ProtocolInfo-Source.txt").decode())
    rygel_sink = parse_list(load_fixture("rygel-renderer", "ProtocolInfo-Sink.txt").decode())
    for parsed in (gmr, rygel_source, rygel_sink):
        assert parsed.invalid == () and len(parsed) > 50
        assert format_list(parsed.entries).count(",") == len(parsed) - 1 + sum(
            str(e).count(",") for e in parsed
        )
    to_sonos = best_pairs(rygel_source, sonos)
    assert to_sonos and all(
        p.source.mime.canonical.startswith(("audio/", "application/"))
        or p.sink.content_format == "*"
        for p in to_sonos
    )
    assert best_pairs(rygel_source, gmr)
    assert best_pairs(rygel_source, rygel_sink)[0].score >= 75  # same DLNA profile on both sides


def test_empty_entries_and_trailing_comma_are_reported():
    sonos = parse_list("http-get:*:audio/mp3:*,x-rincon:*:*:*,")
    assert (sonos.empty, sonos.trailing_comma, len(sonos)) == ((2,), True, 2)
    middle = parse_list("a:b:c:d,,a:b:c:e")
    assert (middle.empty, middle.trailing_comma) == ((1,), False)
    assert parse_list("").empty == ()
