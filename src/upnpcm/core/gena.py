"""GENA eventing, device side: the subscription table (UDA 1.1 §4).

Theory of operation
===================

One :class:`SubscriberTable` per evented service: the device side of GENA (the
control point's side is :mod:`upnpcm.core.subscription`). It answers SUBSCRIBE /
renewal / UNSUBSCRIBE header sets with a grant or an HTTP status, keeps each
subscription's SEQ counter and its *pending* changes, and hands the adapter the
next NOTIFY for a subscription when the adapter is ready to send it. Time
(``now``, monotonic seconds) and randomness (``entropy``) are arguments.

Grammar and answers (UDA 1.1 §4.1.2-4.1.4; rules B5, B6)
---------------------------------------------------------------
G1  SID together with CALLBACK or NT → 400 Incompatible header fields.
    A duplicated SID, CALLBACK, NT or TIMEOUT header → 400.
G2  New subscription (no SID): NT missing or not ``upnp:event`` → 412;
    CALLBACK missing, or no usable URL in it → 412.
G3  Renewal (SID, no CALLBACK/NT) and UNSUBSCRIBE: SID unknown or expired
    → 412 (never 404: a 404 makes some control points stop resubscribing).
G4  TIMEOUT ``Second-N`` is clamped into [minimum, maximum] of the
    :class:`GenaPolicy`; missing, ``Second-infinite``/``infinite`` and
    malformed values (``Second-0:30:00``, ``Second--5``, 20 digits) get the
    default. ``Second-180030`` is just large and is clamped. The grant is
    always answered as ``Second-N``.
G5  SIDs are ``uuid:`` + a random (version 4) UUID from 122 bits of
    ``entropy``, or a profile's own format with as much randomness.

CallStranger (CVE-2020-12695)
-----------------------------
U1  At most :attr:`GenaPolicy.max_callbacks` URLs are considered (the rest are
    ignored), each at most :attr:`GenaPolicy.max_callback_length` bytes.
U2  A URL is usable only as ``http://<IP literal>[:port]/path`` with a port
    of 1-65535: no names, no user info, no other scheme, no port 0.
    ``[::ffff:a.b.c.d]`` counts as ``a.b.c.d``.
U3  The address must equal the subscriber's own (the TCP peer) — or, with
    ``callback_scope="subnet"``, lie in a network of the device's that holds
    the address the SUBSCRIBE arrived on (so a request that came in over the
    LAN can never aim NOTIFYs at loopback); never 0.0.0.0/::, multicast,
    broadcast, or the device's own ip:port. The adapter supplies the
    networks (:meth:`SubscriberTable.set_networks`); with none, "subnet"
    accepts nothing.
U4  Rejected URLs are dropped before any connection is made; when none is
    left the answer is 412.

Caps
----
K1  At most ``max_subscriptions`` per service and ``max_per_peer`` per
    subscriber address; over that → 503, existing subscriptions untouched.

Events and SEQ
--------------
E1  A new subscription's first message is the initial event, SEQ 0, holding
    every evented variable (an empty propertyset for a service that events
    none). The adapter sends it only after the SUBSCRIBE 200 is on the wire.
    Renewals send nothing.
E2  Changes are merged into each subscription's pending set (bounded by the
    number of evented variables; a later value replaces an earlier one, so
    the last value always goes out). :meth:`SubscriberTable.take_message`
    turns the pending set into one NOTIFY and assigns the SEQ.
E3  SEQ grows by one per message taken, whether or not delivery succeeds, so a
    loss shows as a gap; after 4294967295 it wraps to 1 (0 is only ever the
    initial event).
E4  A 412 answer drops the subscription at once; ``max_failures``
    consecutive failed deliveries drop it; expiry drops it.
Q4  A variable with a merge rule (``merges``: LastChange, whose values are
    deltas) is not replaced in a pending set but merged with the value
    already waiting there, so a subscriber behind by several changes still
    hears every one (:mod:`upnpcm.core.lastchange`).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit
from xml.etree.ElementTree import tostring

from upnpcm.core.http import Headers, decimal, format_host, plain_ip
from upnpcm.core.xml import check_chars, check_name, escape_text, local_name, parse_xml
from upnpcm.errors import RemoteProtocolError, SubscriptionError

if TYPE_CHECKING:
    from upnpcm.core.http import Network

__all__ = [
    "EVENT_NS",
    "SEQ_MAX",
    "GenaPolicy",
    "Grant",
    "Notification",
    "Subscriber",
    "SubscriberTable",
    "build_propertyset",
    "callback_target",
    "format_timeout",
    "next_seq",
    "parse_callback_header",
    "parse_propertyset",
    "parse_timeout",
    "policy_problem",
    "short_sid",
    "validate_callback",
]

EVENT_NS: Final = "urn:schemas-upnp-org:event-1-0"
#: Largest SEQ; the next one is 1 (E3).
SEQ_MAX: Final = 4294967295
_TIMEOUT_RE: Final = re.compile(r"\s*Second-([0-9]{1,10})\s*\Z", re.IGNORECASE)
#: Largest NOTIFY body a control point reads, the one limit for parser and listener (B3;
#: a Sonos ZoneGroupState body is larger than 16 KiB).
MAX_NOTIFY_BYTES: Final = 1024 * 1024


def next_seq(seq: int) -> int:
    """The SEQ after ``seq`` (E3: 4294967295 wraps to 1)."""
    return 1 if seq >= SEQ_MAX else seq + 1


def short_sid(sid: str) -> str:
    """A SID as a page may show it: its last 4 characters (``uuid:…3f2a``).

    A full SID lets whoever holds it renew or cancel the subscription (G5),
    so pages and logs that others may read show only this.
    """
    tail = sid[-4:] if len(sid) > 12 else ""
    return f"uuid:…{tail}" if sid.lower().startswith("uuid:") else f"…{tail}"


def parse_timeout(value: str | None) -> int | None:
    """Seconds asked for by a TIMEOUT header; None for missing, infinite or malformed (G4)."""
    if value is None:
        return None
    match = _TIMEOUT_RE.match(value)
    return decimal(match.group(1)) if match else None


def format_timeout(seconds: int) -> str:
    """The TIMEOUT header value for a grant (always ``Second-N``)."""
    return f"Second-{int(seconds)}"


def parse_callback_header(value: str, *, limit: int) -> list[str]:
    """The ``<url>`` items of a CALLBACK header, at most ``limit`` of them (U1)."""
    urls: list[str] = []
    for match in re.finditer(r"<([^<>]*)>", value):
        urls.append(match.group(1).strip())
        if len(urls) >= limit:
            break
    return urls


CallbackScope = Literal["peer", "subnet"]


def validate_callback(
    url: str,
    *,
    peer: str,
    own: tuple[str, int],
    scope: CallbackScope = "peer",
    networks: Sequence[Network] = (),
    max_length: int = 256,
) -> str | None:
    """Why ``url`` may not be used as a delivery URL, or None when it may (U1-U3)."""
    if len(url.encode("utf-8", "surrogateescape")) > max_length:
        return f"longer than {max_length} bytes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() != "http":
        return "scheme is not http"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "has user info"
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "host is not an IP literal"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast or str(address) == "255.255.255.255":
        return "unspecified, multicast or broadcast address"
    peer_address = plain_ip(peer)
    if peer_address is None:
        return "subscriber address unknown"
    if port == 0:
        return "port 0"
    effective_port = port if port is not None else 80
    if str(address) == own[0] and effective_port == own[1]:
        return "the device's own address"
    if scope == "peer":
        if address != peer_address:
            return "not the subscriber's own address"
    else:
        arrival = plain_ip(own[0])
        local = [
            net
            for net in networks
            if arrival is not None and arrival.version == net.version and arrival in net
        ]
        inside = [net for net in local if address.version == net.version and address in net]
        if not inside:
            return "outside the device's network the request arrived on"
        if any(
            address == net.broadcast_address and net.prefixlen < net.max_prefixlen - 1
            for net in inside
        ):
            return "a broadcast address"
    return None


@lru_cache(maxsize=1024)
def callback_target(url: str) -> tuple[str, int, str, str]:
    """(ip, port, request target, Host header value) of a validated callback URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, target, format_host(host, port)


def build_propertyset(changes: Mapping[str, str], *, declaration: bool = True) -> bytes:
    """The NOTIFY body: one ``<e:property>`` per variable (UDA 1.1 §4.2.1)."""
    props = "".join(
        f"<e:property><{check_name(name)}>{escape_text(value)}</{name}></e:property>"
        for name, value in changes.items()
    )
    head = '<?xml version="1.0"?>\n' if declaration else ""
    return f'{head}<e:propertyset xmlns:e="{EVENT_NS}">{props}</e:propertyset>'.encode()


def parse_propertyset(data: bytes, *, max_bytes: int = MAX_NOTIFY_BYTES) -> dict[str, str]:
    """Read a NOTIFY body into {variable: text}; nested markup is kept as text.

    Raises:
        RemoteProtocolError: unsafe or malformed XML, or not a propertyset.
    """
    root = parse_xml(data, max_bytes=max_bytes)
    if local_name(root.tag) != "propertyset":
        raise RemoteProtocolError("NOTIFY body is not an e:propertyset")
    values: dict[str, str] = {}
    for prop in root:
        if local_name(prop.tag) != "property":
            continue
        for var in prop:
            if len(var):
                text = (var.text or "") + "".join(tostring(sub, encoding="unicode") for sub in var)
            else:
                text = var.text or ""
            values[local_name(var.tag)] = text
    return values


def policy_problem(
    *,
    min_timeout: int | None = None,
    default_timeout: int | None = None,
    max_timeout: int | None = None,
    max_subscriptions: int | None = None,
    max_per_peer: int | None = None,
    max_callbacks: int | None = None,
) -> str | None:
    """What is wrong with these :class:`GenaPolicy` values (None: not given), or None.

    The one check of them: the policy runs it whole, the settings loader on
    what a file gives before a profile fills in the rest.
    """
    ordered = [v for v in (min_timeout, default_timeout, max_timeout) if v is not None]
    if any(v <= 0 for v in ordered) or ordered != sorted(ordered):
        return "needs 0 < min_timeout <= default_timeout <= max_timeout"
    if any(v is not None and v < 1 for v in (max_subscriptions, max_per_peer, max_callbacks)):
        return "subscription and callback caps must be at least 1"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class GenaPolicy:
    """Limits and grants of a subscription table (rule B5).

    ``min_timeout``/``max_timeout`` clamp a requested TIMEOUT (G4);
    ``default_timeout`` is granted when none (or an unusable one) is asked for.
    """

    min_timeout: int = 1800
    max_timeout: int = 3600
    default_timeout: int = 1800
    max_subscriptions: int = 32
    max_per_peer: int = 8
    max_callbacks: int = 6
    max_callback_length: int = 256
    callback_scope: CallbackScope = "peer"
    max_failures: int = 3
    #: Build a SID from 128 random bits (G5); None = ``uuid:`` + UUID4.
    sid_format: Callable[[int], str] | None = None
    #: Whether NOTIFY bodies start with an XML declaration (Sonos sends none).
    xml_declaration: bool = True

    def __post_init__(self) -> None:
        problem = policy_problem(
            min_timeout=self.min_timeout,
            default_timeout=self.default_timeout,
            max_timeout=self.max_timeout,
            max_subscriptions=self.max_subscriptions,
            max_per_peer=self.max_per_peer,
            max_callbacks=self.max_callbacks,
        )
        if problem:
            raise ValueError(problem)

    def grant(self, requested: int | None) -> int:
        """The TIMEOUT to grant for a request (G4)."""
        if requested is None:
            return self.default_timeout
        return max(self.min_timeout, min(self.max_timeout, requested))

    def make_sid(self, entropy: int) -> str:
        """A fresh SID from 128 random bits (G5)."""
        if self.sid_format is not None:
            return self.sid_format(entropy)
        return "uuid:" + str(uuid.UUID(int=entropy & ((1 << 128) - 1), version=4))


@dataclass(slots=True, kw_only=True)
class Subscriber:
    """One live subscription as the device keeps it (mutable; owned by its table)."""

    sid: str
    callbacks: tuple[str, ...]
    peer: str
    timeout: int
    expires_at: float
    seq: int = -1  # SEQ of the last message taken; -1 before the initial event
    failures: int = 0
    pending: dict[str, str] = field(default_factory=dict)
    messages: int = 0

    @property
    def has_pending(self) -> bool:
        """Whether a NOTIFY is waiting to be taken (the initial event always is, E1)."""
        return bool(self.pending) or self.seq < 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One NOTIFY to deliver: to the callbacks in order until one succeeds."""

    sid: str
    seq: int
    callbacks: tuple[str, ...]
    body: bytes
    changes: Mapping[str, str]

    def headers_for(self, callback: str) -> dict[str, str]:
        """The NOTIFY request headers for delivery to ``callback`` (UDA 1.1 §4.2.1)."""
        return {
            "HOST": callback_target(callback)[3],
            "CONTENT-TYPE": 'text/xml; charset="utf-8"',
            "NT": "upnp:event",
            "NTS": "upnp:propchange",
            "SID": self.sid,
            "SEQ": str(self.seq),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """The answer to an accepted SUBSCRIBE: SID and TIMEOUT header values."""

    sid: str
    timeout: int
    renewal: bool

    def headers(self) -> list[tuple[str, str]]:
        """SID and TIMEOUT response headers."""
        return [("SID", self.sid), ("TIMEOUT", format_timeout(self.timeout))]


class SubscriberTable:
    """All subscriptions of one evented service (rules in the module docstring)."""

    def __init__(
        self,
        policy: GenaPolicy | None = None,
        *,
        networks: Iterable[Network] = (),
        merges: Mapping[str, Callable[[str, str], str]] | None = None,
    ) -> None:
        self._policy = policy or GenaPolicy()
        #: Variables whose pending values are merged, not replaced (Q4).
        self._merges = dict(merges or {})
        self._subs: dict[str, Subscriber] = {}
        self._networks = tuple(networks)
        self._expired: list[str] = []
        self.rejected_callbacks = 0

    @property
    def policy(self) -> GenaPolicy:
        """The limits this table enforces."""
        return self._policy

    def __len__(self) -> int:
        return len(self._subs)

    def __contains__(self, sid: object) -> bool:
        return sid in self._subs

    def get(self, sid: str) -> Subscriber | None:
        """The live subscription ``sid``, or None."""
        return self._subs.get(sid)

    def sids(self) -> list[str]:
        """SIDs of the live subscriptions, oldest first."""
        return list(self._subs)

    def set_networks(self, networks: Iterable[Network]) -> None:
        """The device's own networks, for ``callback_scope="subnet"``."""
        self._networks = tuple(networks)

    # ---------------------------------------------------------------- requests

    def subscribe(
        self,
        headers: Headers,
        *,
        peer: str,
        own: tuple[str, int],
        now: float,
        entropy: int,
        evented_state: Mapping[str, str],
    ) -> Grant:
        """Handle a SUBSCRIBE (new or renewal).

        Args:
            headers: the request headers.
            peer: the subscriber's IP address (TCP peer).
            own: the device's ip and port this request arrived on.
            now: monotonic seconds.
            entropy: 128 random bits for a new SID.
            evented_state: every evented variable's value, for the initial event.

        Raises:
            SubscriptionError: 400, 412 or 503 (G1-G3, U4, K1).
        """
        try:
            sid = headers.get_single("SID")
            callback = headers.get_single("CALLBACK")
            nt = headers.get_single("NT")
            timeout_text = headers.get_single("TIMEOUT")
        except RemoteProtocolError as exc:
            raise SubscriptionError(400, str(exc)) from None
        self.expire(now)
        granted = self._policy.grant(parse_timeout(timeout_text))
        if sid is not None:
            if callback is not None or nt is not None:
                raise SubscriptionError(400, "SID together with CALLBACK or NT")
            return self._renew(sid.strip(), granted, now)
        if nt is None or nt.strip() != "upnp:event":
            raise SubscriptionError(412, "NT must be upnp:event")
        if callback is None:
            raise SubscriptionError(412, "CALLBACK missing")
        urls = [
            url
            for url in parse_callback_header(callback, limit=self._policy.max_callbacks)
            if self._callback_ok(url, peer, own)
        ]
        if not urls:
            raise SubscriptionError(412, "no acceptable CALLBACK URL")
        return self._add(urls, peer, granted, now, entropy, evented_state)

    def _renew(self, sid: str, granted: int, now: float) -> Grant:
        sub = self._subs.get(sid)
        if sub is None:
            raise SubscriptionError(412, "unknown or expired SID")
        sub.timeout = granted
        sub.expires_at = now + granted
        return Grant(sid=sub.sid, timeout=granted, renewal=True)

    def _add(
        self,
        urls: list[str],
        peer: str,
        granted: int,
        now: float,
        entropy: int,
        evented_state: Mapping[str, str],
    ) -> Grant:
        if len(self._subs) >= self._policy.max_subscriptions:
            raise SubscriptionError(503, "subscription limit of this service reached")
        if sum(1 for s in self._subs.values() if s.peer == peer) >= self._policy.max_per_peer:
            raise SubscriptionError(503, "subscription limit for this subscriber reached")
        new_sid = self._policy.make_sid(entropy)
        if new_sid in self._subs:
            raise SubscriptionError(503, "SID collision; try again")
        self._subs[new_sid] = Subscriber(
            sid=new_sid,
            callbacks=tuple(urls),
            peer=peer,
            timeout=granted,
            expires_at=now + granted,
            pending=dict(evented_state),
        )
        return Grant(sid=new_sid, timeout=granted, renewal=False)

    def _callback_ok(self, url: str, peer: str, own: tuple[str, int]) -> bool:
        why = validate_callback(
            url,
            peer=peer,
            own=own,
            scope=self._policy.callback_scope,
            networks=self._networks,
            max_length=self._policy.max_callback_length,
        )
        if why is not None:
            self.rejected_callbacks += 1
        return why is None

    def unsubscribe(self, headers: Headers, *, now: float) -> str:
        """Handle an UNSUBSCRIBE; return the SID removed.

        Raises:
            SubscriptionError: 400 (CALLBACK/NT present, duplicate SID), 412
                (SID missing, unknown or expired).
        """
        try:
            sid = headers.get_single("SID")
            callback = headers.get_single("CALLBACK")
            nt = headers.get_single("NT")
        except RemoteProtocolError as exc:
            raise SubscriptionError(400, str(exc)) from None
        if callback is not None or nt is not None:
            raise SubscriptionError(400, "UNSUBSCRIBE with CALLBACK or NT")
        self.expire(now)
        if sid is None:
            raise SubscriptionError(412, "SID missing")
        if self._subs.pop(sid.strip(), None) is None:
            raise SubscriptionError(412, "unknown or expired SID")
        return sid.strip()

    # ------------------------------------------------------------------ events

    def queue_changes(self, changes: Mapping[str, str]) -> list[str]:
        """Merge ``changes`` into every subscription's pending set (E2); return the SIDs.

        Raises:
            LocalProtocolError: a name or value XML cannot carry (checked before
                anything is queued, so a bad change leaves every subscription as it was).
        """
        if not changes:
            return []
        for name, value in changes.items():  # what build_propertyset will need
            check_name(name)
            check_chars(value)
        if not self._subs:
            return []
        merges = self._merges
        if merges and not merges.keys().isdisjoint(changes):
            for sub in self._subs.values():
                pending = sub.pending
                for name, value in changes.items():
                    earlier = pending.get(name)
                    merge = merges.get(name)
                    pending[name] = (
                        value if earlier is None or merge is None else merge(earlier, value)
                    )
            return list(self._subs)
        for sub in self._subs.values():
            sub.pending.update(changes)
        return list(self._subs)

    def take_message(self, sid: str, *, declaration: bool | None = None) -> Notification | None:
        """The next NOTIFY for ``sid`` (assigning its SEQ, E1-E3), or None if nothing waits."""
        sub = self._subs.get(sid)
        if sub is None or not sub.has_pending:
            return None
        use_declaration = self._policy.xml_declaration if declaration is None else declaration
        body = build_propertyset(sub.pending, declaration=use_declaration)
        changes, sub.pending = sub.pending, {}
        sub.seq = 0 if sub.seq < 0 else next_seq(sub.seq)
        sub.messages += 1
        return Notification(
            sid=sid, seq=sub.seq, callbacks=sub.callbacks, body=body, changes=changes
        )

    def delivered(self, sid: str) -> None:
        """Record a successful delivery (resets the failure count)."""
        sub = self._subs.get(sid)
        if sub is not None:
            sub.failures = 0

    def delivery_failed(self, sid: str, *, status: int | None = None) -> bool:
        """Record a failed delivery; return True if the subscription was dropped (E4)."""
        sub = self._subs.get(sid)
        if sub is None:
            return True
        if status == 412:
            del self._subs[sid]
            return True
        sub.failures += 1
        if sub.failures >= self._policy.max_failures:
            del self._subs[sid]
            return True
        return False

    def clear(self) -> list[str]:
        """Forget every subscription (the device restarts); return their SIDs (G3 from now on)."""
        gone = list(self._subs)
        self._subs.clear()
        return gone

    def drop(self, sid: str) -> bool:
        """Remove ``sid``; True if it existed."""
        return self._subs.pop(sid, None) is not None

    # -------------------------------------------------------------------- time

    def expire(self, now: float) -> list[str]:
        """Drop subscriptions whose TIMEOUT has passed; return their SIDs (E4)."""
        gone = [sid for sid, sub in self._subs.items() if sub.expires_at <= now]
        for sid in gone:
            del self._subs[sid]
        self._expired.extend(gone)
        return gone

    def drain_expired(self) -> list[str]:
        """SIDs dropped by expiry since the last call (also those found while answering)."""
        gone, self._expired = self._expired, []
        return gone

    def next_deadline(self) -> float | None:
        """When the next subscription expires (monotonic), or None."""
        return min((s.expires_at for s in self._subs.values()), default=None)
