"""Model-based test of the connection table (hypothesis RuleBasedStateMachine)."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from upnpcm.core.connection_manager import ConnectionManager, ConnectionManagerConfig
from upnpcm.errors import UPnPError

LIMIT = 4
IDLE = 100.0  # connection_idle_timeout (R8)
OFFERS = st.sampled_from(
    [
        "http-get:*:audio/mpeg:*",
        "http-get:*:audio/mp3:*",
        "http-get:*:video/mp4:*",
        "rtsp-rtp-udp:*:x:*",
        "bad",
    ]
)


class ConnectionTable(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.cm = ConnectionManager(
            ConnectionManagerConfig(
                sink="http-get:*:audio/mpeg:*",
                max_connections=LIMIT,
                connection_idle_timeout=IDLE,
            )
        )
        self.live: set[int] = set()
        self.issued: list[int] = []
        self.last_evented: str | None = None
        self.now = 0.0
        # model: last reference of each live row (None: at an unknown time, R8)
        self.seen: dict[int, float | None] = {}

    @rule(target=ids, offer=OFFERS, direction=st.sampled_from(["Input", "Output", "Both"]))
    def prepare(self, offer, direction):
        compatible = offer in ("http-get:*:audio/mpeg:*", "http-get:*:audio/mp3:*")
        try:
            info = self.cm.prepare_for_connection(offer, "", -1, direction, now=self.now)
        except UPnPError as exc:
            if direction == "Both":
                assert exc.code == 601
            elif direction == "Output":
                assert exc.code == 702
            elif not compatible:
                assert exc.code == 701
            else:
                assert exc.code == 704
                assert len(self.live) == LIMIT
            return -1
        assert direction == "Input" and compatible
        assert info.connection_id not in self.issued
        assert not self.issued or info.connection_id > max(self.issued)
        self.issued.append(info.connection_id)
        self.live.add(info.connection_id)
        self.seen[info.connection_id] = self.now
        return info.connection_id

    @rule(connection_id=consumes(ids))
    def complete(self, connection_id):
        try:
            self.cm.connection_complete(connection_id)
        except UPnPError as exc:
            assert exc.code == 706
            assert connection_id not in self.live
            return
        self.live.remove(connection_id)
        del self.seen[connection_id]

    @rule(connection_id=st.one_of(ids, st.integers(-5, 50)))
    def info(self, connection_id):
        try:
            got = self.cm.connection_info(connection_id, now=self.now)
        except UPnPError as exc:
            assert exc.code == 706
            assert connection_id not in self.live
        else:
            assert got.connection_id == connection_id in self.live
            self.seen[connection_id] = self.now  # a reference renews the lease

    @rule(connection_id=ids)
    def info_at_unknown_time(self, connection_id):
        try:
            self.cm.connection_info(connection_id, now=None)
        except UPnPError as exc:
            assert exc.code == 706 and connection_id not in self.live
        else:
            self.seen[connection_id] = None  # counts from the next sweep

    @rule(seconds=st.floats(0, 150, allow_nan=False))
    def clock_steps_back(self, seconds):
        # ``now`` is an argument: a caller may pass an earlier time than before.
        self.now = max(0.0, self.now - seconds)

    @rule(seconds=st.floats(0, 150, allow_nan=False))
    def advance_and_sweep(self, seconds):
        self.now += seconds
        dropped = self.cm.expire_idle(self.now)
        self.seen = {i: self.now if t is None else t for i, t in self.seen.items()}
        expected = sorted(i for i, t in self.seen.items() if t + IDLE <= self.now)
        assert dropped == expected
        for connection_id in dropped:
            self.live.remove(connection_id)
            del self.seen[connection_id]

    @invariant()
    def table_matches_model(self):
        assert len(self.live) <= LIMIT
        assert set(self.seen) == self.live
        expiry = self.cm.next_expiry()
        known = [t for t in self.seen.values() if t is not None]
        assert expiry == (min(known) + IDLE if known else None)
        expected = ",".join(str(i) for i in sorted(self.live))
        assert self.cm.current_connection_ids() == expected
        for event in self.cm.events():
            self.last_evented = event.changes["CurrentConnectionIDs"]
        if self.last_evented is not None:
            assert self.last_evented == expected


TestConnectionTable = ConnectionTable.TestCase
TestConnectionTable.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
