"""Every AVTransport transition, allowed and forbidden, against a model (rules Y1-Y9).

A hypothesis state machine drives the renderer's real AVTransport service
(its actions, its timer, its streams) on an event loop of its own, with a
fake fetcher instead of HTTP and a hand-moved clock. The model below is
written from the AVTransport:1 state diagram, not from the implementation:
after every step the service's TransportState, TransportStatus, position,
CurrentTransportActions and every fault (701, 711, 714, 716) must be the
model's.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.helpers.media import didl
from upnpcm.core.lastchange import parse_last_change
from upnpcm.errors import UPnPError
from upnpcm.renderer.player import StreamFailed, StreamRefused
from upnpcm.renderer.services import AVTransport

NO, STOP, TRANS, PLAY, PAUSE = (
    "NO_MEDIA_PRESENT",
    "STOPPED",
    "TRANSITIONING",
    "PLAYING",
    "PAUSED_PLAYBACK",
)
#: The AVTransport:1 state diagram for a playback-only transport (no recording).
MODEL = {
    NO: {},
    STOP: {"Play", "Stop", "Seek", "Next", "Previous"},
    PLAY: {"Play", "Stop", "Pause", "Seek", "Next", "Previous"},
    PAUSE: {"Play", "Stop", "Seek", "Next", "Previous"},
    TRANS: {"Stop"},
}
DURATION = 60.0
KINDS = ["known", "unknown", "missing", "html", "down", "slow"]
ACTIONS = ("Play", "Stop", "Pause", "Seek", "Next", "Previous")
#: (state, action) pairs the machine has tried, allowed or not.
SEEN: set[tuple[str, str]] = set()


class FakeStream:
    def __init__(self, fetcher: FakeFetcher, uri: str) -> None:
        self.uri = uri
        self.outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        fetcher.streams.append(self)

    async def pump(self) -> bool:
        return await self.outcome

    def close(self) -> None:
        pass


class FakeFetcher:
    """Opens ``http://h/<kind>/<n>`` as its kind says; "slow" waits for the test."""

    def __init__(self) -> None:
        self.streams: list[FakeStream] = []
        self.slow: asyncio.Future[str] | None = None

    async def open(self, uri: str) -> FakeStream:
        kind = uri.split("/")[3]
        if kind == "slow":
            self.slow = asyncio.get_running_loop().create_future()
            kind = await self.slow
        if kind == "missing":
            raise StreamRefused(716, "404")
        if kind == "html":
            raise StreamRefused(714, "text/html")
        if kind == "down":
            raise StreamFailed("refused")
        return FakeStream(self, uri)

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Model:
    state: str = NO
    status: str = "OK"
    current: str | None = None
    next: str | None = None
    previous: str | None = None
    position: float = 0.0
    since: float | None = None
    stream: bool = False
    now: float = 1000.0

    def where(self) -> float:
        pos = self.position + (self.now - self.since if self.state == PLAY and self.since else 0.0)
        return min(pos, DURATION) if self.known() else pos

    def known(self) -> bool:
        return bool(self.current) and "/known/" in self.current  # type: ignore[operator]


class AVTransportMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.model = Model()
        self.service = AVTransport(
            sink_protocols="http-get:*:audio/mpeg:*", clock=lambda: self.model.now
        )
        self.fetcher = FakeFetcher()
        self.service.fetcher = self.fetcher  # type: ignore[assignment]
        self.numbers = itertools.count(1)
        self.pending_play: asyncio.Task[object] | None = None
        self.pending_generation: tuple[str, str] | None = None

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.loop.run_until_complete(self.service.on_stop())
            if self.pending_play is not None:
                self.pending_play.cancel()
                self.loop.run_until_complete(
                    asyncio.gather(self.pending_play, return_exceptions=True)
                )
            self.loop.close()

    # -------------------------------------------------------------- helpers

    def settle(self) -> None:
        for _ in range(5):
            self.loop.run_until_complete(asyncio.sleep(0))

    def call(self, action: str, **args: object) -> int:
        async def run() -> int:
            try:
                result = self.service.handle_action(action, {"InstanceID": 0, **args})
                if not isinstance(result, dict):
                    await result
            except UPnPError as exc:
                return exc.code
            return 0

        code = self.loop.run_until_complete(run())
        self.settle()
        return code

    def uri(self, kind: str) -> str:
        return f"http://h/{kind}/{next(self.numbers)}"

    def metadata(self, uri: str) -> str:
        return didl(uri, duration="0:01:00" if "/known/" in uri else None)

    def model_open(self, uri: str, *, answer: bool) -> int:
        """What opening ``uri`` does to the model (Y3); the fault Play answers."""
        m = self.model
        kind = uri.split("/")[3]
        if kind in ("known", "unknown"):
            m.state, m.status, m.since, m.stream = PLAY, "OK", m.now, True
            return 0
        if kind in ("missing", "html") and answer:
            m.state = STOP
            return 716 if kind == "missing" else 714
        m.state, m.status, m.position, m.since, m.stream = STOP, "ERROR_OCCURRED", 0.0, None, False
        return 0

    def model_halt(self) -> None:
        self.model.stream = False

    def model_track_end(self) -> None:
        m = self.model
        self.model_halt()
        m.position, m.since = 0.0, None
        if m.next:
            m.previous, m.current, m.next = m.current, m.next, None
            m.state = TRANS
            self.model_open(m.current, answer=False)
        else:
            m.state = STOP

    # ---------------------------------------------------------------- rules

    @rule(kind=st.sampled_from([*KINDS, "empty"]))
    def set_uri(self, kind: str) -> None:
        uri = "" if kind == "empty" else self.uri(kind)
        assert (
            self.call(
                "SetAVTransportURI",
                CurrentURI=uri,
                CurrentURIMetaData=self.metadata(uri) if uri else "",
            )
            == 0
        )
        m = self.model
        self.model_halt()
        m.current, m.previous = uri or None, None
        m.state, m.status, m.position, m.since = (STOP if uri else NO), "OK", 0.0, None

    @rule(kind=st.sampled_from([*KINDS, "empty"]))
    def set_next(self, kind: str) -> None:
        uri = "" if kind == "empty" else self.uri(kind)
        meta = self.metadata(uri) if uri else ""
        assert self.call("SetNextAVTransportURI", NextURI=uri, NextURIMetaData=meta) == 0
        self.model.next = uri or None

    def forbidden(self, action: str) -> int | None:
        m = self.model
        SEEN.add((m.state, action))
        if action not in MODEL[m.state]:
            return 701
        if action == "Next" and not m.next:
            return 711
        if action == "Previous" and not m.previous:
            return 711
        return None

    @rule()
    def play(self) -> None:
        m = self.model
        if self.pending_play is not None and m.state != TRANS:
            return  # one slow open at a time
        expected = self.forbidden("Play")
        if expected is None and m.state == STOP and m.current and "/slow/" in m.current:
            self.pending_play = self.loop.create_task(
                self.service.handle_action("Play", {"InstanceID": 0, "Speed": "1"})
            )  # type: ignore[arg-type]
            self.settle()
            m.state = TRANS
            return
        code = self.call("Play", Speed="1")
        if expected is not None:
            assert code == expected
            return
        if m.state == PAUSE:
            m.state, m.since = PLAY, m.now
        elif m.state == STOP:
            assert m.current is not None
            assert code == self.model_open(m.current, answer=True)
        else:
            assert code == 0

    @precondition(lambda self: self.pending_play is not None)
    @rule(outcome=st.sampled_from(["known", "missing", "down"]))
    def answer_slow(self, outcome: str) -> None:
        assert self.fetcher.slow is not None and self.pending_play is not None
        still_current = self.model.state == TRANS
        self.fetcher.slow.set_result(outcome)
        self.settle()
        assert self.pending_play.done()
        error = self.pending_play.exception()
        self.pending_play = None
        code = error.code if isinstance(error, UPnPError) else 0
        if still_current:
            assert code == self.model_open(f"http://h/{outcome}/0", answer=True)
        elif outcome == "missing":
            assert code == 716  # the answer is the server's, the state was left alone
        if outcome == "known" and not still_current:
            self.model.stream = False

    @rule()
    def stop(self) -> None:
        expected = self.forbidden("Stop")
        code = self.call("Stop")
        if expected is not None:
            assert code == expected
            return
        assert code == 0
        self.model_halt()
        self.model.state, self.model.position, self.model.since = STOP, 0.0, None

    @rule()
    def pause(self) -> None:
        expected = self.forbidden("Pause")
        code = self.call("Pause")
        if expected is not None:
            assert code == expected
            return
        m = self.model
        m.position, m.since, m.state = m.where(), None, PAUSE

    @rule(seconds=st.integers(0, 90))
    def seek(self, seconds: int) -> None:
        target = f"0:{seconds // 60:02d}:{seconds % 60:02d}"
        expected = self.forbidden("Seek")
        code = self.call("Seek", Unit="REL_TIME", Target=target)
        m = self.model
        if expected is None and m.known() and seconds > DURATION:
            expected = 711
        if expected is not None:
            assert code == expected
            return
        assert code == 0
        m.position = float(seconds)
        if m.state == PLAY:
            m.since = m.now

    @rule(which=st.sampled_from(["Next", "Previous"]))
    def step(self, which: str) -> None:
        m = self.model
        if self.pending_play is not None and m.state != TRANS:
            return  # one slow open at a time
        expected = self.forbidden(which)
        target = m.next if which == "Next" else m.previous
        if expected is None and m.state == PLAY and target and "/slow/" in target:
            return  # a slow open behind Next is covered by Play's
        code = self.call(which)
        if expected is not None:
            assert code == expected
            return
        playing = m.state == PLAY
        self.model_halt()
        if which == "Next":
            m.previous, m.current, m.next = m.current, m.next, None
        else:
            m.current, m.next, m.previous = m.previous, m.current, None
        m.position, m.since = 0.0, None
        if playing:
            m.state = TRANS
            assert m.current is not None
            assert code == self.model_open(m.current, answer=True)
        else:
            assert code == 0
            m.state = STOP

    @precondition(lambda self: self.pending_play is None)
    @rule(seconds=st.sampled_from([0.5, 10.0, 30.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        m = self.model
        m.now += seconds
        if m.next and "/slow/" in m.next and m.state == PLAY and m.known():
            m.now -= seconds
            return  # an automatic advance to a slow stream would wait for the test

        async def tick() -> None:  # the device core's timer call, on the loop
            self.service.advance(m.now)

        self.loop.run_until_complete(tick())
        self.settle()
        if m.state == PLAY and m.known() and m.where() >= DURATION:
            self.model_track_end()

    @precondition(lambda self: self.model.stream and self.pending_play is None)
    @rule(broken=st.booleans())
    def stream_ends(self, broken: bool) -> None:
        m = self.model
        if not broken and not m.known() and m.next and "/slow/" in m.next:
            return
        stream = self.fetcher.streams[-1]
        if broken:
            stream.outcome.set_exception(StreamFailed("reset"))
        else:
            stream.outcome.set_result(True)
        self.settle()
        m.stream = False
        if broken:
            m.state, m.status, m.position, m.since = STOP, "ERROR_OCCURRED", 0.0, None
        elif not m.known():
            self.model_track_end()

    # ------------------------------------------------------------ invariants

    @invariant()
    def service_matches_model(self) -> None:
        if not hasattr(self, "model"):
            return
        m = self.model
        transport = self.service.transport(0)
        assert (str(transport.state), transport.status) == (m.state, m.status)
        assert transport.media.uri == (m.current or "")
        assert transport.next.uri == (m.next or "")
        assert abs(transport.position(m.now) - m.where()) < 1e-6
        allowed = [
            a
            for a in ("Play", "Stop", "Pause", "Seek", "Next", "Previous")
            if self.forbidden(a) is None
        ]
        assert transport.actions() == ",".join(allowed)
        reported = parse_last_change(self.service.evented_state()["LastChange"])[1][0]
        assert reported[("TransportState", "")] == m.state
        assert reported[("CurrentTransportActions", "")] == ",".join(allowed)


MACHINE_SETTINGS = settings(max_examples=150, stateful_step_count=30, deadline=None)
AVTransportMachine.TestCase.settings = MACHINE_SETTINGS
TestAVTransportTransitions = AVTransportMachine.TestCase


def test_every_state_meets_every_action():
    # Which pairs a random exploration meets is luck (one CI run missed PAUSED_PLAYBACK):
    # this coverage check explores the same way every time.
    run_state_machine_as_test(
        AVTransportMachine, settings=settings(MACHINE_SETTINGS, derandomize=True)
    )
    missing = {(state, action) for state in MODEL for action in ACTIONS} - SEEN
    assert not missing, sorted(missing)
