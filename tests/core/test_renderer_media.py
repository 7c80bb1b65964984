"""upnpcm.renderer.media: a track's length from its stream's first bytes (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.media import wav
from upnpcm.renderer.media import SNIFF_BYTES, stream_duration


def mp3_frame(*, kbps_index: int = 9, xing_frames: int | None = None) -> bytes:
    """One MPEG-1 Layer III frame header (44.1 kHz, stereo), optionally with an Info header."""
    header = bytes([0xFF, 0xFB, (kbps_index << 4) | (0 << 2), 0x00])  # index 9: 128 kbit/s
    body = bytearray(413)
    if xing_frames is not None:
        at = 32  # after the stereo MPEG-1 side information
        body[at : at + 12] = b"Info" + (1).to_bytes(4, "big") + xing_frames.to_bytes(4, "big")
    return header + bytes(body)


def id3(size: int) -> bytes:
    synchsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + synchsafe + b"\x00" * size


def flac(rate: int, total: int) -> bytes:
    info = bytearray(34)
    bits = (rate << 44) | (1 << 41) | (15 << 36) | total  # 2 channels, 16 bits per sample
    info[10:18] = bits.to_bytes(8, "big")
    return b"fLaC" + bytes([0x80, 0, 0, 34]) + bytes(info)


def test_wav_length_is_its_data_over_its_byte_rate():
    assert stream_duration(wav(2.5), "audio/wav", None) == pytest.approx(2.5)


def test_flac_length_is_its_samples_over_its_rate():
    assert stream_duration(flac(44100, 44100 * 7), "audio/flac", None) == pytest.approx(7.0)
    assert stream_duration(flac(0, 100), "audio/flac", None) is None


def test_cbr_mp3_length_is_its_size_over_its_bit_rate_after_the_tag():
    head = id3(1000) + mp3_frame()
    size = 1010 + 16000 * 30  # 30 s at 128 kbit/s after a 1,010-byte tag
    assert stream_duration(head, "audio/mpeg", size) == pytest.approx(30.0)
    assert stream_duration(head, "audio/mpeg", None) is None  # no size, no CBR length


def test_vbr_mp3_length_is_its_frame_count():
    # 1,000 frames of 1,152 samples at 44.1 kHz, whatever the size says.
    head = mp3_frame(xing_frames=1000)
    assert stream_duration(head, "audio/mpeg", 10) == pytest.approx(1000 * 1152 / 44100)


def test_unknown_or_unbelievable_streams_have_no_length():
    assert stream_duration(b"\x00" * 1000, "audio/mpeg", 200_000) is None
    assert stream_duration(b"<html></html>", "text/html", 13) is None
    assert stream_duration(mp3_frame(kbps_index=15), "audio/mpeg", 10**6) is None  # bad index
    assert stream_duration(mp3_frame(), "audio/mpeg", 10**13) is None  # more than a day


@given(st.binary(max_size=2048), st.one_of(st.none(), st.integers(0, 2**40)))
def test_any_bytes_give_a_length_or_none(data, size):
    for head in (data, b"RIFF" + data[:4] + b"WAVE" + data, b"fLaC" + data, id3(16) + data):
        found = stream_duration(head[:SNIFF_BYTES], None, size)
        assert found is None or 0 < found <= 86400
