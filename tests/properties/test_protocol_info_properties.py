"""Properties of protocolInfo parsing, formatting and matching (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from upnpcm.core.protocol_info import (
    MIME_ALIASES,
    ProtocolInfo,
    canonical_mime,
    format_list,
    match,
    parse_list,
)

FIELD_CHARS = st.sampled_from([*"abcxyz019-+./*,\\;=_", "é"])
field_text = st.text(FIELD_CHARS, min_size=1, max_size=10)
tail_text = (
    st.text(st.sampled_from(list("abcXYZ09-.,\\;=:*_ ")), min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
MIMES = sorted({*MIME_ALIASES, *MIME_ALIASES.values(), "audio/L16", "video/mp4", "*"})
PROTOCOLS = ["http-get", "HTTP-GET", "rtsp-rtp-udp", "internal", "x-rincon", "sonos.com-http", "*"]


@st.composite
def protocol_infos(draw, *, realistic=False):
    if realistic:
        protocol = draw(st.sampled_from(PROTOCOLS))
        network = draw(st.sampled_from(["*", "10.0.0.1", "10.0.0.2"]))
        mime = draw(st.sampled_from(MIMES))
        if mime.startswith("audio/L16") and draw(st.booleans()):
            mime += draw(st.sampled_from([";rate=44100", ";rate=48000", ";rate=44100;channels=2"]))
        extra = draw(
            st.sampled_from(
                [
                    "*",
                    "DLNA.ORG_PN=MP3",
                    "DLNA.ORG_PN=LPCM;DLNA.ORG_OP=01",
                    "DLNA.ORG_PN=*",
                    "DLNA.ORG_OP=11;DLNA.ORG_FLAGS=01700000000000000000000000000000",
                ]
            )
        )
        return ProtocolInfo(protocol, network, mime, extra)
    parts = [draw(field_text.filter(lambda s: ":" not in s and s == s.strip())) for _ in range(3)]
    return ProtocolInfo(*parts, draw(tail_text))


@given(st.lists(protocol_infos(), max_size=8))
@settings(max_examples=300)
def test_format_parse_round_trip(entries):
    text = format_list(entries)
    parsed = parse_list(text)
    assert parsed.invalid == ()
    assert list(parsed.entries) == entries
    assert format_list(parsed.entries) == text


@given(protocol_infos(realistic=True), protocol_infos(realistic=True))
@settings(max_examples=500)
def test_match_is_symmetric(a, b):
    one, two = match(a, b), match(b, a)
    assert one.compatible == two.compatible
    assert one.score == two.score
    assert bool(one.reasons) == bool(two.reasons)


@given(protocol_infos(realistic=True))
def test_full_wildcard_accepts_everything_and_self_match(a):
    assert match(a, ProtocolInfo("*", "*", "*", "*")).compatible
    assert match(ProtocolInfo("*", "*", "*", "*"), a).compatible
    assert match(a, a).compatible


@given(st.sampled_from(MIMES), st.sampled_from(MIMES), st.sampled_from(MIMES))
def test_aliases_are_an_equivalence(x, y, z):
    same = lambda p, q: canonical_mime(p) == canonical_mime(q)  # noqa: E731
    assert same(x, x)
    assert same(x, y) == same(y, x)
    if same(x, y) and same(y, z):
        assert same(x, z)


@given(
    protocol_infos(realistic=True),
    protocol_infos(realistic=True),
    st.sampled_from(sorted(MIME_ALIASES)),
)
def test_matching_sees_through_aliases(a, b, alias):
    canonical = MIME_ALIASES[alias]
    with_alias = ProtocolInfo(a.protocol, a.network, alias, a.additional_info)
    with_canonical = ProtocolInfo(a.protocol, a.network, canonical, a.additional_info)
    assert match(with_alias, b).compatible == match(with_canonical, b).compatible
