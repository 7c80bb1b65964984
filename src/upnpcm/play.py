"""Play an item of a media server on a renderer: the whole three-box job.

::

    from upnpcm.play import play

    playback = await play(server_url, "Music/Album/Track", renderer_url)
    print(playback.state, playback.position, playback.choice.resource.protocol_info)
    await playback.wait()          # until the track ends (or fails), then torn down
    # or: await playback.stop()    # Stop, ConnectionComplete, UNSUBSCRIBE

Steps (each device's description and SCPDs are loaded once, rule M3):

1. find the item: an ObjectID, else a path of titles (``Music/Album/Track``),
   or the first hit of a ``search``; or a plain ``url`` with its ``mime``;
2. rank every ``res`` of the item against the renderer's Sink list (rules
   F1, F2); if none is playable, fail before anything is sent, naming the
   closest Sink entries;
3. PrepareForConnection on both ends with that res's exact protocolInfo
   (connection 0 where it is not offered, with the instance IDs connection 0
   uses: :func:`upnpcm.negotiation.connect`);
4. subscribe to the renderer's AVTransport, SetAVTransportURI with the res URL
   and the item's own DIDL-Lite (rule L3), then Play;
5. watch the transport (events, polls where there are none: rules V1-V5)
   until PLAYING; :func:`play` returns then.

The returned :class:`Playback` follows the transport until the track ends,
fails or is stopped; its teardown stops the renderer (unless the track
ended), calls ConnectionComplete on every non-zero ConnectionID made
(renderer first), unsubscribes and releases the control point it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from upnpcm.aio.control_point import ControlPoint, RemoteDevice, RemoteService
from upnpcm.aio.events import EventListener, Subscription
from upnpcm.core.content import ResourceChoice, rank_resources
from upnpcm.core.didl import DidlObject, didl_for_url, metadata_for, parse_didl
from upnpcm.core.subscription import EventReceived, RetryScheduled, SubscriptionEvent
from upnpcm.core.transport import PlaybackWatch, Snapshot, fault_text, parse_last_change
from upnpcm.errors import PlaybackError, TransportError, UpnpCmError, UPnPError
from upnpcm.negotiation import Side, choose_resource, complete, connect, sink_list

__all__ = ["Playback", "play", "resolve_item"]

_LOG: Final = logging.getLogger("upnpcm.play")
#: Longest wait for PLAYING after Play.
PLAYING_TIMEOUT: Final = 20.0
#: Consecutive failed polls after which the renderer counts as gone.
MAX_POLL_FAILURES: Final = 5


def _service(device: RemoteDevice, *names: str) -> RemoteService:
    for name in names:
        with contextlib.suppress(LookupError):
            return device.service(name)
    return device.service(names[-1])


async def resolve_item(
    content_directory: RemoteService, item: str | None, *, search: str | None = None
) -> DidlObject:
    """The item named by an ObjectID or a path of titles, or the first hit of ``search``.

    Raises:
        upnpcm.aio.content.ItemNotFound: nothing so named or found.
        LookupError: ``search`` on a server that cannot search.
    """
    from upnpcm.aio.content import find_item, first_match

    if search is not None:
        return await first_match(content_directory, search)
    if item is None:
        raise LookupError("name an item (an ObjectID or a path of titles) or a search")
    return await find_item(content_directory, item)


@dataclass(slots=True, kw_only=True)
class Playback:
    """A track set up on a renderer and watched; see the module docstring."""

    item: DidlObject
    ranked: list[ResourceChoice]
    choice: ResourceChoice
    server: Side
    renderer: Side
    instance_id: int
    watch: PlaybackWatch
    av_transport: RemoteService
    server_cm: RemoteService | None
    renderer_cm: RemoteService
    control_point: ControlPoint
    owns_control_point: bool
    listener: EventListener | None = None
    subscription: Subscription | None = None
    on_change: Callable[[Snapshot], None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _poll_failures: int = 0
    _closed: bool = False
    teardown: dict[str, Any] | None = None

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> str | None:
        """The last TransportState seen (``PLAYING``, ``STOPPED``…)."""
        return self.watch.state

    @property
    def position(self) -> float | None:
        """Seconds into the track (moved on since the last poll while playing)."""
        return self.watch.position_now(asyncio.get_running_loop().time())

    @property
    def duration(self) -> float | None:
        """The track's length in seconds, when the renderer says."""
        return self.watch.duration

    @property
    def phase(self) -> str:
        """``starting``, ``playing``, ``ended``, ``failed`` or ``stopped``."""
        return self.watch.phase

    def snapshot(self) -> Snapshot:
        """State, status, position and duration now."""
        return self.watch.snapshot(asyncio.get_running_loop().time())

    # ---------------------------------------------------------------- watching

    def _on_event(self, event: SubscriptionEvent) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(event, EventReceived):
            last_change = event.changes.get("LastChange")
            if last_change:
                values = parse_last_change(last_change, self.instance_id)
                if values:
                    self.watch.on_event(values, loop.time())
                    self._changed()
        elif isinstance(event, RetryScheduled):
            self.watch.on_subscription_failed()
        self._wake.set()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.snapshot())
            except Exception:
                _LOG.exception("on_change callback failed")

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        try:
            if self.watch.needs_transport_polls(now):
                info = await self.av_transport.call("GetTransportInfo", InstanceID=self.instance_id)
                self.watch.on_transport_info(info, loop.time())
            if self.watch.phase in ("starting", "playing"):
                position = await self.av_transport.call(
                    "GetPositionInfo", InstanceID=self.instance_id
                )
                self.watch.on_position_info(position, loop.time())
            self._poll_failures = 0
        except (TransportError, UPnPError) as exc:
            self._poll_failures += 1
            self.watch.last_poll = loop.time()
            if self._poll_failures >= MAX_POLL_FAILURES:
                self.watch.phase = "failed"
                self.watch.error = f"the renderer stopped answering: {exc}"
        self._changed()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.watch.phase in ("starting", "playing"):
            if self.watch.poll_due(loop.time()):
                await self._poll()
                continue
            deadline = self.watch.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - loop.time())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        self._changed()

    def start(self) -> None:
        """Start following the transport (``play`` does this)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="playback watch")

    async def until_playing(self, timeout: float = PLAYING_TIMEOUT) -> None:
        """Wait for PLAYING.

        Raises:
            PlaybackError: the renderer failed, ended or took longer than ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.watch.phase == "starting":
            if loop.time() >= deadline:
                raise PlaybackError(
                    f"the renderer did not reach PLAYING within {timeout:g} s "
                    f"(TransportState {self.watch.state}, TransportStatus {self.watch.status})"
                )
            self.start()
            assert self._task is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 0.05)
        if self.watch.phase == "failed":
            raise PlaybackError(self.watch.error or "the renderer failed to play")

    async def wait(self) -> Snapshot:
        """Follow the transport until the track ends, fails or is stopped; then tear down."""
        self.start()
        assert self._task is not None
        await asyncio.shield(self._task)
        snapshot = self.snapshot()
        await self.close(stop=snapshot.phase == "failed")
        return snapshot

    # ----------------------------------------------------------------- teardown

    async def stop(self) -> dict[str, Any]:
        """Stop the renderer, complete the connections, unsubscribe (see :meth:`close`)."""
        return await self.close(stop=True)

    async def detach(self) -> None:
        """Leave it playing: unsubscribe and release; the connections stay open."""
        await self._release()

    async def close(self, *, stop: bool) -> dict[str, Any]:
        """Tear down (once): Stop if asked, ConnectionComplete on non-zero IDs, UNSUBSCRIBE.

        Returns what each step did; failures are reported there, not raised.
        """
        if self.teardown is not None:
            return self.teardown
        outcome: dict[str, Any] = {}
        if self._task is not None and not self._task.done():
            self.watch.stop_requested = True
        if stop:
            try:
                async with asyncio.timeout(5):
                    await self.av_transport.call("Stop", InstanceID=self.instance_id)
                outcome["stop"] = {"stopped": True}
            except (UpnpCmError, TimeoutError) as exc:
                outcome["stop"] = {"stopped": False, "error": str(exc) or type(exc).__name__}
        completed = []
        if self.renderer.prepared and self.renderer.connection_id > 0:
            completed.append(await complete(self.renderer_cm, self.renderer.connection_id))
        if self.server_cm is not None and self.server.prepared and self.server.connection_id > 0:
            completed.append(await complete(self.server_cm, self.server.connection_id))
        outcome["connectionComplete"] = completed
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._release()
        outcome["unsubscribed"] = True
        self.teardown = outcome
        return outcome

    async def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.listener is not None:
            await self.listener.stop()
        if self.owns_control_point:
            await self.control_point.close()


async def play(
    server: str | RemoteDevice | None,
    item: str | DidlObject | None,
    renderer: str | RemoteDevice,
    *,
    search: str | None = None,
    url: str | None = None,
    mime: str | None = None,
    title: str | None = None,
    control_point: ControlPoint | None = None,
    listen: str | None = None,
    on_change: Callable[[Snapshot], None] | None = None,
    on_chosen: Callable[[DidlObject, list[ResourceChoice]], None] | None = None,
    playing_timeout: float = PLAYING_TIMEOUT,
) -> Playback:
    """Play ``item`` of ``server`` on ``renderer``; return once PLAYING (module docstring).

    ``server`` and ``renderer`` are description URLs or loaded devices;
    ``item`` an ObjectID, a path of titles or a :class:`DidlObject`. With
    ``url`` and ``mime`` there is no server: that URL is played. ``listen``
    is the address the NOTIFY listener binds (default: every address).
    ``on_chosen`` sees the item and its ranked res before anything is sent.

    Raises:
        NegotiationError: no res is playable (701, nothing was sent) or a side
            refused PrepareForConnection.
        PlaybackError: the renderer refused SetAVTransportURI or Play (with its
            fault code), reported an error, or never reached PLAYING; what was
            set up has been torn down.
        upnpcm.aio.content.ItemNotFound: no such item.
        TransportError, RemoteProtocolError: a device could not be asked.
    """
    owns = control_point is None
    cp = control_point or ControlPoint()
    try:
        return await _play(
            cp,
            owns,
            server,
            item,
            renderer,
            search=search,
            url=url,
            mime=mime,
            title=title,
            listen=listen,
            on_change=on_change,
            on_chosen=on_chosen,
            playing_timeout=playing_timeout,
        )
    except BaseException:
        if owns:
            await cp.close()
        raise


async def _load(cp: ControlPoint, device: str | RemoteDevice | None) -> RemoteDevice | None:
    if device is None or isinstance(device, RemoteDevice):
        return device
    return await cp.load(device)


async def _play(
    cp: ControlPoint,
    owns: bool,
    server: str | RemoteDevice | None,
    item: str | DidlObject | None,
    renderer: str | RemoteDevice,
    *,
    search: str | None,
    url: str | None,
    mime: str | None,
    title: str | None,
    listen: str | None,
    on_change: Callable[[Snapshot], None] | None,
    on_chosen: Callable[[DidlObject, list[ResourceChoice]], None] | None,
    playing_timeout: float,
) -> Playback:
    server_device, renderer_device = await asyncio.gather(
        _load(cp, None if url is not None else server), _load(cp, renderer)
    )
    assert renderer_device is not None
    renderer_cm = _service(renderer_device, "MediaRenderer/ConnectionManager", "ConnectionManager")
    av_transport = renderer_device.service("AVTransport")
    server_cm: RemoteService | None = None

    async def the_item() -> DidlObject:
        if url is not None:
            if not mime:
                raise LookupError("a plain --url needs its --mime")
            return parse_didl(didl_for_url(url, mime, title or url)).objects[0]
        if isinstance(item, DidlObject):
            return item
        if server_device is None:
            raise LookupError("name a server (or a plain --url and --mime)")
        content_directory = server_device.service("ContentDirectory")
        return await resolve_item(content_directory, item, search=search)

    if server_device is not None:
        server_cm = _service(server_device, "MediaServer/ConnectionManager", "ConnectionManager")
    found, sinks = await asyncio.gather(the_item(), sink_list(renderer_cm))
    if found.container:
        raise LookupError(f"{found.title!r} ({found.id}) is a container, not an item: browse it")
    ranked = rank_resources(found.resources, sinks)
    if on_chosen is not None:
        on_chosen(found, ranked)
    choice = choose_resource(found, ranked, sinks)  # 701 before anything is sent
    listener = EventListener(cp.http, bind_host=listen)
    await listener.start()
    try:
        server_side, renderer_side = await connect(
            server_cm, renderer_cm, choice.resource.protocol_info
        )
    except BaseException:
        await listener.stop()
        raise
    loop = asyncio.get_running_loop()
    instance_id = renderer_side.av_transport_id if renderer_side.av_transport_id >= 0 else 0
    playback = Playback(
        item=found,
        ranked=ranked,
        choice=choice,
        server=server_side,
        renderer=renderer_side,
        instance_id=instance_id,
        watch=PlaybackWatch(loop.time()),
        av_transport=av_transport,
        server_cm=server_cm,
        renderer_cm=renderer_cm,
        control_point=cp,
        owns_control_point=owns,
        listener=listener,
        on_change=on_change,
    )
    try:
        playback.subscription = await listener.subscribe(av_transport, on_event=playback._on_event)
    except UpnpCmError as exc:  # no route for a CALLBACK: poll instead
        _LOG.info("no AVTransport subscription (%s): polling", exc)
        playback.watch.on_subscription_failed()
    try:
        await _start(playback, metadata_for(found, choice.resource), playing_timeout)
    except BaseException:
        await asyncio.shield(playback.close(stop=True))
        raise
    return playback


async def _start(playback: Playback, metadata: str, timeout: float) -> None:
    av_transport = playback.av_transport
    instance = playback.instance_id
    loop = asyncio.get_running_loop()
    try:
        await av_transport.call(
            "SetAVTransportURI",
            InstanceID=instance,
            CurrentURI=playback.choice.resource.url,
            CurrentURIMetaData=metadata,
        )
    except UPnPError as exc:
        raise PlaybackError(
            f"SetAVTransportURI: {fault_text(exc.code)} (UPnP error {exc.code}"
            + (f": {exc.description})" if exc.description else ")"),
            code=exc.code,
        ) from exc
    playback.watch.arm(loop.time())
    try:
        await av_transport.call("Play", InstanceID=instance, Speed="1")
    except UPnPError as exc:
        raise PlaybackError(
            f"Play: {fault_text(exc.code)} (UPnP error {exc.code}"
            + (f": {exc.description})" if exc.description else ")"),
            code=exc.code,
        ) from exc
    playback.start()
    await playback.until_playing(timeout)
