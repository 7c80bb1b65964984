"""async_upnp_client's DLNA renderer profile (DmrDevice, as Home Assistant uses it) drives our renderer.

Loopback only: our MediaRenderer hosted by DeviceHost, a media server of the
test's own, and async_upnp_client's requester and notify server. Each step
(set URI, play, pause, seek, volume, mute, next) is followed by the
LastChange event that reports it, and DmrDevice's view of the renderer must
match what was set — and what our renderer did (it fetched the media).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from async_upnp_client.aiohttp import AiohttpNotifyServer, AiohttpRequester
from async_upnp_client.client_factory import UpnpFactory
from async_upnp_client.profiles.dlna import DmrDevice, TransportState

from tests.helpers.media import TRACK_BYTES, MediaServer, didl
from upnpcm import DeviceHost, DeviceSettings
from upnpcm.renderer import MediaRenderer


class Seen:
    """What DmrDevice's on_event saw: (batch, service, variable, value), with a waiter.

    A wait looks only at batches from the one where the previous wait matched
    on (a LastChange event is expanded into one batch, in no fixed order).
    """

    def __init__(self) -> None:
        self.events: list[tuple[int, str, str, object]] = []
        self.batches = 0
        self.changed = asyncio.Event()
        self.cursor = 0

    def __call__(self, service, variables) -> None:
        self.batches += 1
        for variable in variables:
            name = service.service_id.rsplit(":", 1)[-1]
            self.events.append((self.batches, name, variable.name, variable.value))
        self.changed.set()

    async def wait_for(self, service: str, name: str, value: object, timeout: float = 5.0) -> None:
        def found() -> int | None:
            for batch, *rest in self.events:
                if batch >= self.cursor and tuple(rest) == (service, name, value):
                    return batch
            return None

        async with asyncio.timeout(timeout):
            while (batch := found()) is None:
                self.changed.clear()
                await self.changed.wait()
        self.cursor = batch

    def last_change_count(self, service: str) -> int:
        return sum(1 for _, s, n, _ in self.events if s == service and n == "LastChange")


@pytest.fixture
async def dmr(tmp_path):
    media = await MediaServer().start()
    renderer = MediaRenderer(friendly_name="HA test renderer")
    settings = DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False)
    async with DeviceHost(renderer.device, settings=settings, state_dir=tmp_path) as host:
        requester = AiohttpRequester()
        device = await UpnpFactory(requester, non_strict=True).async_create_device(
            host.description_url("127.0.0.1")
        )
        notify = AiohttpNotifyServer(requester, source=("127.0.0.1", 0))
        await notify.async_start_server()
        profile = DmrDevice(device, notify.event_handler)
        seen = Seen()
        profile.on_event = seen
        try:
            await profile.async_subscribe_services(auto_resubscribe=False)
            yield profile, renderer, media, seen
        finally:
            await profile.async_unsubscribe_services()
            await notify.async_stop_server()
            await media.stop()


async def test_dmr_device_plays_pauses_seeks_and_sets_volume_and_mute(dmr):
    profile, renderer, media, seen = dmr
    await profile.async_update()
    assert profile.transport_state is TransportState.NO_MEDIA_PRESENT
    assert profile.volume_level == pytest.approx(0.30)
    assert profile.is_volume_muted is False
    assert (
        profile.has_seek_rel_time
        and profile.has_presets
        and profile.preset_names == ["FactoryDefaults"]
    )

    url = media.url("track.mp3")
    await profile.async_set_transport_uri(url, "Track", didl(url, duration="0:03:20"))
    await seen.wait_for("AVTransport", "AVTransportURI", url)
    await profile.async_wait_for_can_play()
    assert profile.can_play and profile.transport_state is TransportState.STOPPED

    await profile.async_play()
    await seen.wait_for("AVTransport", "TransportState", "PLAYING")
    assert profile.transport_state is TransportState.PLAYING
    assert profile.can_pause and profile.can_stop and profile.can_seek_rel_time
    assert profile.media_duration == 200
    async with asyncio.timeout(5):  # the renderer really fetched the media
        while renderer.sink.received(url) < TRACK_BYTES:
            await asyncio.sleep(0.02)
    assert media.requests.count("/track.mp3") == 1  # our GET (the metadata was given)

    await profile.async_pause()
    await seen.wait_for("AVTransport", "TransportState", "PAUSED_PLAYBACK")
    await profile.async_seek_rel_time(timedelta(minutes=1, seconds=5))
    await profile.async_update()  # position is polled, never evented (AVT:1)
    assert profile.media_position == 65
    await asyncio.sleep(0.3)
    await profile.async_update()
    assert profile.media_position == 65  # paused: it does not move

    await profile.async_play()
    await seen.wait_for("AVTransport", "TransportState", "PLAYING")
    await asyncio.sleep(1.1)
    await profile.async_update()
    assert profile.media_position in (66, 67)  # playing: it advances with time

    await profile.async_set_volume_level(0.42)
    await seen.wait_for("RenderingControl", "Volume", 42)
    await profile.async_mute_volume(True)
    await seen.wait_for("RenderingControl", "Mute", True)
    assert profile.volume_level == pytest.approx(0.42) and profile.is_volume_muted is True
    assert renderer.rendering_control.instance(0).get("Volume", "Master") == 42

    await profile.async_select_preset("FactoryDefaults")
    await seen.wait_for("RenderingControl", "Volume", 30)
    await seen.wait_for("RenderingControl", "Mute", False)

    other = media.url("other.mp3")
    await profile.async_set_next_transport_uri(other, "Other", didl(other))
    await seen.wait_for("AVTransport", "NextAVTransportURI", other)
    assert profile.can_next
    await profile.async_next()
    await seen.wait_for("AVTransport", "CurrentTrackURI", other)
    await seen.wait_for("AVTransport", "TransportState", "PLAYING")
    assert profile.current_track_uri == other and profile.can_previous

    await profile.async_stop()
    await seen.wait_for("AVTransport", "TransportState", "STOPPED")
    assert profile.transport_state is TransportState.STOPPED
    # Every change came as a LastChange event, moderated: far fewer than the changes.
    assert seen.last_change_count("AVTransport") >= 6
    assert seen.last_change_count("RenderingControl") >= 3


async def test_dmr_device_sees_a_stream_that_cannot_be_reached(dmr):
    profile, renderer, media, seen = dmr
    closed = "http://127.0.0.1:9/track.mp3"  # discard port: nothing listens on loopback
    await profile.async_set_transport_uri(closed, "Nowhere", didl(closed))
    await profile.async_wait_for_can_play()
    await profile.async_play()
    await seen.wait_for("AVTransport", "TransportStatus", "ERROR_OCCURRED")
    assert profile.transport_state is TransportState.STOPPED
    url = media.url("track.mp3")  # the renderer carries on
    await profile.async_set_transport_uri(url, "Track", didl(url))
    await seen.wait_for("AVTransport", "TransportStatus", "OK")
    await profile.async_play()
    await seen.wait_for("AVTransport", "TransportState", "PLAYING")
