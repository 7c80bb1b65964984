"""Model-based test of the GENA subscription table (hypothesis RuleBasedStateMachine)."""

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from upnpcm.core.gena import SEQ_MAX, GenaPolicy, SubscriberTable
from upnpcm.core.http import Headers
from upnpcm.errors import LocalProtocolError, SubscriptionError

POLICY = GenaPolicy(max_subscriptions=6, max_per_peer=3)
PEERS = st.sampled_from(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
STATE = {"CurrentConnectionIDs": "", "SinkProtocolInfo": "x"}


class GenaTable(RuleBasedStateMachine):
    sids = Bundle("sids")

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.table = SubscriberTable(POLICY)
        self.expiry: dict[str, float] = {}  # model: live SID -> expiry
        self.peer_of: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.seqs: dict[str, list[int]] = {}
        #: Positions in seqs[sid] where near_wrap moved the counter (the only allowed jumps).
        self.jumps: dict[str, set[int]] = {}
        self.issued: set[str] = set()
        self.entropy = 0

    def _expire_model(self) -> None:
        for sid in [s for s, t in self.expiry.items() if t <= self.now]:
            del self.expiry[sid]

    @rule(
        target=sids,
        peer=PEERS,
        timeout=st.sampled_from([None, "Second-1800", "Second-3600", "Second-10"]),
    )
    def subscribe(self, peer, timeout):
        self._expire_model()
        self.entropy += 1
        headers = [("CALLBACK", f"<http://{peer}:5000/>"), ("NT", "upnp:event")]
        if timeout:
            headers.append(("TIMEOUT", timeout))
        full = (
            len(self.expiry) >= POLICY.max_subscriptions
            or sum(1 for s in self.expiry if self.peer_of[s] == peer) >= POLICY.max_per_peer
        )
        try:
            grant = self.table.subscribe(
                Headers(headers),
                peer=peer,
                own=("127.0.0.1", 1400),
                now=self.now,
                entropy=self.entropy,
                evented_state=STATE,
            )
        except SubscriptionError as exc:
            assert full and exc.http_status == 503
            return "uuid:never-issued"
        assert not full
        assert grant.sid not in self.issued
        self.issued.add(grant.sid)
        self.expiry[grant.sid] = self.now + grant.timeout
        self.peer_of[grant.sid] = peer
        self.failures[grant.sid] = 0
        self.seqs[grant.sid] = []
        self.jumps[grant.sid] = set()
        return grant.sid

    @rule(sid=sids)
    def renew(self, sid):
        self._expire_model()
        try:
            grant = self.table.subscribe(
                Headers([("SID", sid), ("TIMEOUT", "Second-1800")]),
                peer="127.0.0.2",
                own=("127.0.0.1", 1400),
                now=self.now,
                entropy=0,
                evented_state=STATE,
            )
        except SubscriptionError as exc:
            assert exc.http_status == 412
            assert sid not in self.expiry
            return
        assert sid in self.expiry
        self.expiry[sid] = self.now + grant.timeout

    @rule(sid=sids)
    def unsubscribe(self, sid):
        self._expire_model()
        try:
            self.table.unsubscribe(Headers([("SID", sid)]), now=self.now)
        except SubscriptionError as exc:
            assert exc.http_status == 412
            assert sid not in self.expiry
            return
        del self.expiry[sid]

    @rule(seconds=st.floats(0, 4000))
    def advance_clock(self, seconds):
        self.now += seconds
        self.table.expire(self.now)
        self._expire_model()

    @rule(
        value=st.text(
            alphabet=st.characters(
                codec="utf-8",
                exclude_categories=("Cs", "Cc"),
                exclude_characters="\ufffe\uffff",  # not XML characters either
            ),
            max_size=5,
        )
    )
    def change_state(self, value):
        self.table.queue_changes({"CurrentConnectionIDs": value})

    @rule(value=st.sampled_from(["\x00", "a\x08b", "\x1f", "\ufffe"]))
    def change_state_unrepresentable(self, value):
        before = {sid: dict(self.table.get(sid).pending) for sid in self.table.sids()}
        try:
            self.table.queue_changes({"CurrentConnectionIDs": value})
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("a value XML cannot carry was queued")
        assert {sid: dict(self.table.get(sid).pending) for sid in self.table.sids()} == before

    @rule(sid=sids)
    def deliver(self, sid):
        message = self.table.take_message(sid)
        if message is None:
            return
        assert sid in self.expiry
        self.seqs[sid].append(message.seq)
        self.table.delivered(sid)
        self.failures[sid] = 0

    @rule(sid=sids)
    def kill_callback(self, sid):
        message = self.table.take_message(sid)
        if message is not None:
            self.seqs[sid].append(message.seq)
        if sid not in self.expiry:
            return
        self.failures[sid] += 1
        dropped = self.table.delivery_failed(sid)
        assert dropped == (self.failures[sid] >= POLICY.max_failures)
        if dropped:
            del self.expiry[sid]

    @rule(sid=sids)
    def near_wrap(self, sid):
        if sid in self.expiry and self.seqs[sid]:
            # As if 4294967294 messages had gone out: the record is the table's own.
            self.table.get(sid).seq = SEQ_MAX - 1
            self.jumps[sid].add(len(self.seqs[sid]))
            self.seqs[sid].append(SEQ_MAX - 1)

    @rule()
    def restart(self):
        # A device restart: a new table; every old SID is stale and must get 412.
        old = list(self.expiry)
        self.table = SubscriberTable(POLICY)
        self.expiry.clear()
        for sid in old:
            try:
                self.table.unsubscribe(Headers([("SID", sid)]), now=self.now)
            except SubscriptionError as exc:
                assert exc.http_status == 412
            else:
                raise AssertionError("stale SID accepted after restart")

    @invariant()
    def consistent(self):
        assert len(self.table) <= POLICY.max_subscriptions
        assert set(self.table.sids()) == set(self.expiry)
        for sid, seqs in self.seqs.items():
            if not seqs:
                continue
            assert seqs[0] == 0, (sid, seqs)
            for index, (before, after) in enumerate(itertools.pairwise(seqs), start=1):
                if index in self.jumps[sid]:
                    assert after == SEQ_MAX - 1, (sid, seqs)
                    continue
                assert after == (1 if before == SEQ_MAX else before + 1), (sid, seqs)


TestGenaTable = GenaTable.TestCase
TestGenaTable.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
