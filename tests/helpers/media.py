"""A small media server for renderer tests (loopback, port 0) and DIDL-Lite helpers."""

from __future__ import annotations

import asyncio
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

TRACK_BYTES = 200_000


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV of ``seconds``: its header says how long it lasts."""
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return out.getvalue()


def didl(
    url: str, *, mime: str = "audio/mpeg", duration: str | None = "0:05:00", title: str = "t"
) -> str:
    """DIDL-Lite metadata of one music track at ``url``."""
    extra = f" duration={quoteattr(duration)}" if duration else ""
    return (
        '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/">'
        f'<item id="1" parentID="0" restricted="1"><dc:title>{escape(title)}</dc:title>'
        "<upnp:class>object.item.audioItem.musicTrack</upnp:class>"
        f'<res protocolInfo="http-get:*:{mime}:*"{extra}>{escape(url)}</res></item></DIDL-Lite>'
    )


class MediaServer:
    """Serves /track.mp3 (audio/mpeg), /other.mp3, /tone.wav (1.5 s), /page (text/html),
    /missing (404), /slow."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> MediaServer:
        async def track(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            return web.Response(body=b"\x00" * TRACK_BYTES, content_type="audio/mpeg")

        async def page(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            return web.Response(text="<html></html>", content_type="text/html")

        async def slow(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            await asyncio.sleep(30)
            return web.Response(body=b"")

        async def tone(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            return web.Response(body=wav(1.5), content_type="audio/wav")

        app = web.Application()
        app.router.add_get("/tone.wav", tone)
        app.router.add_get("/track.mp3", track)
        app.router.add_get("/other.mp3", track)
        app.router.add_get("/page", page)
        app.router.add_get("/slow", slow)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
