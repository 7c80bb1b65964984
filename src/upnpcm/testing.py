"""pytest fixtures: a UPnP renderer and a virtual Sonos household, on loopback, for your tests.

Installed with ``pip install upnpcm`` (a ``pytest11`` entry point): nothing
to import, nothing to configure. docs/testing.md has a whole example.

``sonos_household``
    A factory: ``sonos_household(players=3, rooms=…, port=0, addresses=…,
    options={…})`` starts a household (by default on 127.0.0.2, 127.0.0.3, …,
    each on a free port; ``port=1400`` as real players, where that port is
    free) and returns a :class:`SyncHousehold` whose players carry their
    addresses and the fault-injection handles (reboot, offline, NOTIFY faults,
    ``fail_next``, "pressing the buttons"). It runs on an event loop of its
    own in a background thread, so it serves synchronous clients (SoCo) and
    asyncio ones (any test loop) alike; every household is stopped at teardown.
``async_sonos_household``
    The same in the test's own event loop (pytest-asyncio): an ``async``
    factory returning the :class:`~upnpcm.sonos.household.Household` itself.
``upnpcm_renderer``
    A running UPnP AV MediaRenderer (:class:`~upnpcm.renderer.MediaRenderer`)
    on 127.0.0.1, a free port: a :class:`RendererHandle` with its ``url``.

For other scopes (one household per module or session), use the context
managers :func:`running_household` and :func:`running_renderer` in a
fixture of your own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import pytest

if TYPE_CHECKING:
    from upnpcm.host import DeviceHost
    from upnpcm.renderer import MediaRenderer
    from upnpcm.sonos.household import Household, HouseholdPlayer

__all__ = [
    "LoopThread",
    "RendererHandle",
    "SyncHousehold",
    "SyncPlayer",
    "async_sonos_household",
    "running_household",
    "running_renderer",
    "sonos_household",
    "upnpcm_renderer",
]

T = TypeVar("T")
#: Seconds any call into the background loop may take before the test fails.
CALL_TIMEOUT = 60.0


class LoopThread:
    """An asyncio event loop running in a daemon thread; calls into it block until done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="upnpcm-testing-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the loop and wait for its result."""

        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def call(self, function: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT) -> T:
        """Run ``function(*args)`` on the loop's thread (where the devices live) and return its result."""

        async def wrapped() -> T:
            return function(*args)

        return self.run(wrapped(), timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class _Forward(Generic[T]):
    """A read-only attribute of the wrapped player, as it is now."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, wrapper: None, owner: type) -> _Forward[T]: ...
    @overload
    def __get__(self, wrapper: SyncPlayer, owner: type) -> T: ...
    def __get__(self, wrapper: SyncPlayer | None, owner: type) -> _Forward[T] | T:
        if wrapper is None:
            return self
        return cast(T, getattr(wrapper.player, self.name))


class SyncPlayer:
    """A player of a :class:`SyncHousehold`: where it is, and its faults, as blocking calls."""

    def __init__(self, runner: LoopThread, player: HouseholdPlayer) -> None:
        self._runner = runner
        #: The player itself (use it only through :meth:`LoopThread.call`).
        self.player = player

    def __repr__(self) -> str:
        return f"<SyncPlayer {self.room!r} {self.address}:{self.port}>"

    room = _Forward[str]("Its room name.")
    uid = _Forward[str]("``RINCON_…01400``.")
    udn = _Forward[str]("``uuid:RINCON_…01400``.")
    address = _Forward[str]("Its IP address.")
    port = _Forward[int]("Its HTTP port.")
    location = _Forward[str]("Its description's URL.")
    boot_id = _Forward[int]("BOOTID.UPNP.ORG, the ZoneGroupState's BootSeq.")

    @property
    def volume(self) -> int:
        """Its Master volume."""
        return self._runner.call(lambda: self.player.zone.rendering_control.volume)

    @property
    def transport_state(self) -> str:
        """Its group's TransportState."""
        return self._runner.call(lambda: str(self.player.zone.coordinator.transport.state))

    def reboot(self, *, downtime: float = 0.0, port: int | None = None) -> None:
        """Reboot: byebye, subscriptions forgotten (renewals 412), BOOTID +1, alive."""
        self._runner.run(self.player.reboot(downtime=downtime, port=port))

    def go_offline(self, *, byebye: bool = False) -> None:
        """Leave the network (the others list it as vanished)."""
        self._runner.run(self.player.go_offline(byebye=byebye))

    def go_online(self, *, port: int | None = None) -> None:
        """Come back, with the next BOOTID."""
        self._runner.run(self.player.go_online(port=port))

    def move(self, port: int) -> None:
        """Serve on another port from now on."""
        self._runner.run(self.player.move(port))

    def notify_faults(self, *, delay: float = 0.0, fail: bool = False) -> None:
        """Every NOTIFY waits ``delay`` s, or (``fail``) is not sent at all."""
        self._runner.call(lambda: self.player.notify_faults(delay=delay, fail=fail))

    def fail_next(
        self,
        service: str,
        action: str,
        code: int,
        description: str | None = None,
        *,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``service``'s ``action`` answer UPnP error ``code``."""
        self._runner.call(
            lambda: self.player.fail_next(service, action, code, description, times=times)
        )

    def press_volume(self, volume: int) -> None:
        """Turn the volume on the speaker (subscribers hear of it)."""
        self._runner.call(self.player.press_volume, volume)

    def press_mute(self, mute: bool = True) -> None:
        """Mute or unmute on the speaker."""
        self._runner.call(self.player.press_mute, mute)

    def press_play_pause(self) -> str:
        """The play/pause button; the new TransportState."""
        return self._runner.call(self.player.press_play_pause)

    def press_next(self) -> None:
        """Skip to the next track of the queue."""
        self._runner.call(self.player.press_next)

    def play_uri(self, uri: str, metadata: str = "") -> None:
        """Play ``uri`` as if chosen in the Sonos app."""
        self._runner.call(self.player.play_uri, uri, metadata)

    def join(self, coordinator: SyncPlayer | str) -> None:
        """Join another player's group."""
        target = coordinator.player if isinstance(coordinator, SyncPlayer) else coordinator
        self._runner.call(self.player.join, target)

    def unjoin(self) -> None:
        """Leave its group."""
        self._runner.call(self.player.unjoin)


class SyncHousehold:
    """A running household, usable from synchronous code (and from any event loop)."""

    def __init__(self, runner: LoopThread, household: Household) -> None:
        self._runner = runner
        #: The household itself (use it only through :meth:`call`).
        self.household = household
        self.players = [SyncPlayer(runner, p) for p in household.players]

    def __getitem__(self, index: int) -> SyncPlayer:
        return self.players[index]

    def __iter__(self) -> Iterator[SyncPlayer]:
        return iter(self.players)

    def __len__(self) -> int:
        return len(self.players)

    @property
    def household_id(self) -> str:
        """``Sonos_…``."""
        return self.household.household_id

    def player(self, which: int | str) -> SyncPlayer:
        """A player by index, room name, UUID, UDN or address."""
        found = self.household.player(which)
        return next(p for p in self.players if p.player is found)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` where the household lives (to read or change its state)."""
        return self._runner.call(function, *args)


class RendererHandle:
    """A running MediaRenderer: its description URL, host and the renderer object."""

    def __init__(self, runner: LoopThread, renderer: MediaRenderer, host: DeviceHost) -> None:
        self._runner = runner
        self.renderer = renderer
        self.host = host
        self.address = "127.0.0.1"
        self.port = host.port
        #: The description's URL.
        self.url = host.description_url(self.address)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` where the renderer lives (to read or change its state)."""
        return self._runner.call(function, *args)


def _settings(options: Mapping[str, Any] | None) -> Any:
    from upnpcm.settings import DeviceSettings

    return DeviceSettings(profile="sonos", profile_options=dict(options or {}))


@contextlib.contextmanager
def running_household(
    players: int = 3,
    *,
    rooms: Sequence[str] | None = None,
    addresses: Sequence[str] | None = None,
    port: int = 0,
    ssdp: bool = False,
    options: Mapping[str, Any] | None = None,
    state_dir: Path | str,
    seed: int | None = None,
) -> Iterator[SyncHousehold]:
    """A household served from a background thread until the block ends.

    ``port=0`` gives every player a free port on its address (127.0.0.2, …
    by default); ``port=1400`` serves them as real players are served (the
    port must be free on those addresses). ``options`` are ``[profile_options]``
    (household, software_version, display_version, model_number, sink, …).
    """
    from upnpcm.sonos.household import Household

    runner = LoopThread()
    try:
        household = runner.call(
            lambda: Household(
                players,
                rooms=rooms,
                addresses=addresses,
                port=port,
                ssdp=ssdp,
                state_dir=state_dir,
                settings=_settings(options),
                seed=seed,
            )
        )
        runner.run(household.start())
        try:
            yield SyncHousehold(runner, household)
        finally:
            runner.run(household.stop())
    finally:
        runner.close()


@contextlib.contextmanager
def running_renderer(
    *, state_dir: Path | str, friendly_name: str = "upnpcm test renderer"
) -> Iterator[RendererHandle]:
    """A MediaRenderer on 127.0.0.1 (a free port, no SSDP) until the block ends."""
    from upnpcm.host import DeviceHost
    from upnpcm.renderer import MediaRenderer
    from upnpcm.settings import DeviceSettings

    runner = LoopThread()
    try:
        renderer, host = runner.call(
            lambda: _renderer_host(
                MediaRenderer, DeviceHost, DeviceSettings, state_dir, friendly_name
            )
        )
        runner.run(host.start())
        try:
            yield RendererHandle(runner, renderer, host)
        finally:
            runner.run(host.stop())
    finally:
        runner.close()


def _renderer_host(
    renderer_class: Any, host_class: Any, settings_class: Any, state_dir: Path | str, name: str
) -> tuple[Any, Any]:
    renderer = renderer_class(friendly_name=name)
    settings = settings_class(host=("127.0.0.1",), port=0, ssdp=False)
    return renderer, host_class(renderer.device, settings=settings, state_dir=state_dir)


@pytest.fixture
def sonos_household(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SyncHousehold]]:
    """A factory of households (see :func:`running_household`), all stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def start(players: int = 3, **kwargs: Any) -> SyncHousehold:
            kwargs.setdefault("state_dir", tmp_path_factory.mktemp("sonos-household"))
            return stack.enter_context(running_household(players, **kwargs))

        yield start


@pytest.fixture
def upnpcm_renderer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RendererHandle]:
    """A running MediaRenderer on 127.0.0.1 (see :func:`running_renderer`)."""
    with running_renderer(state_dir=tmp_path_factory.mktemp("upnpcm-renderer")) as handle:
        yield handle


try:
    import pytest_asyncio as _pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is optional
    _pytest_asyncio = None  # type: ignore[assignment]

if _pytest_asyncio is not None:

    @_pytest_asyncio.fixture
    async def async_sonos_household(
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Any:
        """A factory of households in the test's own loop (``await start(players=…)``)."""
        from upnpcm.sonos.household import Household

        started: list[Household] = []

        async def start(
            players: int = 3, *, options: Mapping[str, Any] | None = None, **kwargs: Any
        ) -> Household:
            kwargs.setdefault("state_dir", tmp_path_factory.mktemp("sonos-household"))
            kwargs.setdefault("port", 0)
            kwargs.setdefault("ssdp", False)
            household = Household(players, settings=_settings(options), **kwargs)
            await household.start()
            started.append(household)
            return household

        try:
            yield start
        finally:
            for household in reversed(started):
                await household.stop()
