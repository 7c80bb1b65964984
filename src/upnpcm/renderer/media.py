"""How long a track lasts, read from the first bytes of its stream (pure).

The renderer has no decoder, yet a track must last as long as it would play,
not as long as it takes to download: a short file arrives in milliseconds.
When the metadata gives no ``res@duration``, the stream's own header usually
does. Read here, from at most the first :data:`SNIFF_BYTES` of the body and
the size the server announced:

- WAV (RIFF): the ``fmt`` chunk's byte rate and the ``data`` chunk's size;
- FLAC: STREAMINFO's sample rate and total samples;
- MP3 (MPEG-1/2/2.5 Layer III): a Xing/Info/VBRI frame count, else the first
  frame's bit rate over the stream's size (constant bit rate).

Anything else, or a header that does not read, gives None: the track then
ends when its stream ends. Every length read from the bytes is checked
against what is there; nothing here can raise on hostile input.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SNIFF_BYTES", "stream_duration"]

#: Bytes of a stream's start kept to read its duration (an ID3 tag with cover art
#: can push the first MP3 frame this far).
SNIFF_BYTES: Final = 256 * 1024
#: A duration longer than this is not believed (a day).
_MAX_SECONDS: Final = 86400.0

# MPEG audio frame header tables (ISO/IEC 11172-3 §2.4.2.3, ISO/IEC 13818-3 §2.4.2.3).
_BITRATES_V1_L3: Final = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_BITRATES_V2_L3: Final = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0)
_SAMPLE_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def stream_duration(head: bytes, content_type: str | None, size: int | None) -> float | None:
    """Seconds the stream lasts, from its first bytes ``head`` and its whole ``size``.

    ``content_type`` is a hint only: the bytes decide which format is read.
    """
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        seconds = _wav(head)
    elif head.startswith(b"fLaC"):
        seconds = _flac(head)
    else:
        seconds = _mp3(head, size)
    if seconds is None or not 0 < seconds <= _MAX_SECONDS:
        return None
    return seconds


def _wav(head: bytes) -> float | None:
    byte_rate = 0
    at = 12
    while at + 8 <= len(head):
        chunk, length = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if chunk == b"fmt " and at + 20 <= len(head):
            byte_rate = int.from_bytes(head[at + 16 : at + 20], "little")
        elif chunk == b"data":
            return length / byte_rate if byte_rate else None
        at += 8 + length + (length & 1)
    return None


def _flac(head: bytes) -> float | None:
    # The first metadata block is STREAMINFO (type 0): after 10 bytes of block sizes,
    # 20 bits of sample rate, 3 of channels, 5 of bits per sample, 36 of total samples.
    if len(head) < 26 or head[4] & 0x7F != 0:
        return None
    bits = int.from_bytes(head[18:26], "big")
    rate = bits >> 44
    total = bits & ((1 << 36) - 1)
    return total / rate if rate and total else None


def _mp3(head: bytes, size: int | None) -> float | None:
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        tag = head[6:10]
        if any(b & 0x80 for b in tag):
            return None
        start = 10 + (tag[0] << 21 | tag[1] << 14 | tag[2] << 7 | tag[3])
        if head[5] & 0x10:  # a footer follows the tag
            start += 10
    frame = _frame(head, start)
    if frame is None:
        return None
    at, version, rate, bitrate, samples = frame
    frames = _vbr_frames(head, at, version)
    if frames:
        return frames * samples / rate
    if size is None or size <= at:
        return None
    return (size - at) * 8 / (bitrate * 1000)


def _frame(head: bytes, start: int) -> tuple[int, int, int, int, int] | None:
    """The first Layer III frame header at or after ``start`` (4 KiB searched)."""
    for at in range(start, min(len(head) - 4, start + 4096)):
        if head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
            continue
        version = (head[at + 1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        layer = (head[at + 1] >> 1) & 3  # 1: Layer III
        index, rate_index = head[at + 2] >> 4, (head[at + 2] >> 2) & 3
        if version == 1 or layer != 1 or rate_index == 3:
            continue
        bitrate = (_BITRATES_V1_L3 if version == 3 else _BITRATES_V2_L3)[index]
        if not bitrate:
            continue
        samples = 1152 if version == 3 else 576
        return at, version, _SAMPLE_RATES[version][rate_index], bitrate, samples
    return None


def _vbr_frames(head: bytes, at: int, version: int) -> int | None:
    """The frame count of a Xing/Info (after the side information) or VBRI header."""
    mono = (head[at + 3] >> 6) == 3
    side = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    xing = at + 4 + side
    if head[xing : xing + 4] in (b"Xing", b"Info") and len(head) >= xing + 12:
        flags = int.from_bytes(head[xing + 4 : xing + 8], "big")
        if flags & 1:
            return int.from_bytes(head[xing + 8 : xing + 12], "big") or None
    vbri = at + 36
    if head[vbri : vbri + 4] == b"VBRI" and len(head) >= vbri + 18:
        return int.from_bytes(head[vbri + 14 : vbri + 18], "big") or None
    return None
