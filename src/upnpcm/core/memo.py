"""Every fast path of a device, in one room (rule M1).

A :class:`Memo` belongs to one :class:`~upnpcm.core.device.DeviceCore`. It
remembers what the protocol code would compute again for a repeated input:

* parsed control requests, by (SOAPACTION, body) — control points repeat
  identical requests (polling GetProtocolInfo, GetTransportInfo…);
* request *templates*: a body that is, byte for byte, an accepted body except
  for the plain text of its arguments is read from that body's template
  (:class:`Template`) instead of being parsed — ConnectionComplete with
  another ConnectionID, Seek to another position…;
* checked and converted in-arguments, by (service, action, raw arguments);
* whole answers of read-only actions, by (service, action, arguments), valid
  while the handler's ``state_version`` is unchanged;
* the answer of an action without out-arguments (SetVolume, Stop…), by
  (service, action): it is the same bytes every time it succeeds;
* how an action's out-arguments become its answer (:class:`OutPlan`), by
  (service, action): the types and checks of each, and the markup between
  them, looked up in the SCPD once;
* the verdict on a Host header (rule H2), by (Host, local address, port);
* what a header section says that does not depend on the rest of the request
  (the Host verdict, the control checks of Content-Type and SOAPACTION), kept
  with that very :class:`~upnpcm.core.http.Headers` object (rule M8): the HTTP
  framing hands the same object again for a head it read before (M6);
* whole requests, by their bytes and the address and port they arrived on:
  a request whose bytes equal, exactly, those of one answered from the
  answer cache is answered from it again, while the entry is valid, without
  being parsed at all (:meth:`Memo.recall`; the adapter hands over the bytes
  of a request that came whole in one read, rule M5).

M1  A fast path gives exactly the answer of the slow path: ``Memo(enabled=False)``
    turns every one off, and a property test requires byte-identical responses
    both ways over arbitrary request sequences. No error is ever remembered,
    except a Host verdict, which is a pure function of its key.
M2  Every table here is bounded: entries by count, templates also in bytes.
    Keys are the client's choice, so a full table is emptied, not grown.
M5  Whole requests are remembered only when their answer came from the answer
    cache, and lead back to that cache entry (so its validity rules it): the
    bytes of a request decide everything the slow path reads before that cache
    (method, target, Host, Content-Type, SOAPACTION, body) and the key holds
    the address and port it arrived on (rule H2 compares them), so equal
    bytes on the same address get the slow path's answer. A connection whose
    last read was not recalled offers a read only when its head is unknown or
    marked :attr:`KnownHead.recallable` (a request was remembered under it).
M6  A request head (request line and header section, up to its blank line)
    equal, byte for byte, to one the HTTP framing accepted before is read
    from what that framing made of it (:class:`HeadMemo`): method, target,
    header section and keep-alive verdict, with the body its Content-Length
    announced. Only heads of requests with a Content-Length body (or none)
    that needed nothing else (no chunked body, no ``100 Continue``) are kept.
M8  What the device core reads from a header section alone (the Host verdict
    for the local address and port, Content-Type's and SOAPACTION's agreement,
    the XML media type check) is kept with that header section, by identity:
    an object the framing hands again is the same immutable section, so the
    same verdict. A check that fails is not kept (M1). The table holds at most
    :data:`MAX_HEAD_FACTS` sections, :data:`MAX_HEAD_FACTS_PER_PEER` first seen
    from one peer address (a peer over its share loses its own entries).
M3  A control point's :class:`DescriptionCache` keeps one loaded description
    (and its SCPDs) per LOCATION, valid only for the BOOTID.UPNP.ORG and
    CONFIGID.UPNP.ORG it was loaded under; a load with a failed SCPD is not kept.
M4  It holds at most :data:`MAX_DESCRIPTIONS` locations, and
    :data:`MAX_DESCRIPTIONS_PER_HOST` per host (a host names its own locations).

Nothing here is module-level state: two devices (or control points) never share a memo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final, TypeVar
from urllib.parse import urlsplit

from upnpcm.core.arguments import check_allowed, variable_for
from upnpcm.core.datatypes import INTEGER_RANGES, from_wire, to_wire
from upnpcm.core.description import (
    Action,
    DeviceDescription,
    ServiceDescription,
    StateVariable,
)
from upnpcm.core.http import Headers, HttpRequest, HttpResponse
from upnpcm.core.soap import ActionRequest, parse_action_request, response_literals
from upnpcm.core.xml import _INVALID_XML_CHARS, escape_text
from upnpcm.errors import UPnPError

__all__ = [
    "DescriptionCache",
    "HeadMemo",
    "KnownHead",
    "LoadedDevice",
    "Memo",
    "OutPlan",
    "Template",
]

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")

#: Entries per table (M2).
MAX_ENTRIES: Final = 256
#: SOAPACTION values with templates, and templates kept for each.
MAX_TEMPLATE_KEYS: Final = 128
MAX_TEMPLATES_PER_KEY: Final = 4
#: Largest body a template is derived from, and most template bytes a memo holds.
MAX_TEMPLATE_BODY: Final = 4 * 1024
MAX_TEMPLATE_BYTES: Final = 256 * 1024
#: Most body bytes the parsed-request table holds as keys.
MAX_REQUEST_KEY_BYTES: Final = 1024 * 1024
#: Most request bytes the whole-request table holds as keys (M5).
MAX_RAW_KEY_BYTES: Final = 1024 * 1024
#: Most head bytes a head memo holds as keys (M6).
MAX_HEAD_KEY_BYTES: Final = 512 * 1024

#: Header sections whose facts are kept (M8), in all and first seen from one peer.
MAX_HEAD_FACTS: Final = 64
MAX_HEAD_FACTS_PER_PEER: Final = 16

#: Locations a control point's description cache holds, in all and per host (M4).
MAX_DESCRIPTIONS: Final = 64
MAX_DESCRIPTIONS_PER_HOST: Final = 8

ReadKey = tuple[int, str, tuple[tuple[str, str], ...]]
#: A whole request: its bytes, and the local address and port it arrived on.
RawKey = tuple[bytes, str, int]


@dataclass(frozen=True, slots=True)
class Template:
    """The markup of an accepted request body, with a hole for each argument's text.

    Why this is sound: a body that matches has, byte for byte, the markup of a
    body that the safe parser accepted (so it is well-formed, has no DTD, and
    has the same action, namespace and argument elements); only the character
    data of the argument elements differs. That text holds no ``<`` or ``&``
    (so no markup or entity), no CR (so no line-end normalisation), no
    ``]]>`` and only characters XML allows, and is valid UTF-8 in a UTF-8
    document. Under those conditions XML 1.0 gives exactly the same tree with
    the new text, so the :class:`ActionRequest` is the template's with the
    new values. Anything else falls back to the parser.

    The markup is kept as literal byte strings (``literals[i]`` before hole
    ``i``, the last one after every hole); every literal after a hole starts
    with that argument's end tag, so a hole ends at the first ``<``. Matching
    is one left-to-right scan of the body: no regular expression is compiled
    or run, so a template costs about what reading the body costs (M2).
    """

    literals: tuple[bytes, ...]
    service_type: str
    action: str
    names: tuple[str, ...]

    @property
    def size(self) -> int:
        """Bytes of markup this template holds."""
        return sum(map(len, self.literals))

    @classmethod
    def derive(cls, request: ActionRequest, body: bytes) -> Template | None:
        """A template from a body the parser just accepted, or None when unsure."""
        if len(body) > MAX_TEMPLATE_BODY:
            return None  # M2: large bodies are rare and parsed
        head = body.lstrip()
        declaration = head.startswith(b"<?xml")
        if b"<!" in body or b"\r" in body or body.count(b"<?") != (1 if declaration else 0):
            return None  # comments, CDATA, PIs, CRs: keep it simple, parse those
        if declaration:
            prolog = head[: head.find(b"?>") + 2].lower()
            if b"encoding" in prolog and not (
                b"encoding='utf-8'" in prolog or b'encoding="utf-8"' in prolog
            ):
                return None
        literals: list[bytes] = []
        position = 0
        for name, text in request.arguments:
            if any(c in text for c in "<&\r") or "]]>" in text:
                return None
            needle = f"<{name}>{text}</{name}>".encode()
            if body.count(needle) != 1:
                return None
            start = body.index(needle)
            if start < position:
                return None
            value_at = start + len(name) + 2
            literals.append(body[position:value_at])
            position = value_at + len(text.encode())
        literals.append(body[position:])
        return cls(
            literals=tuple(literals),
            service_type=request.service_type,
            action=request.action,
            names=tuple(name for name, _ in request.arguments),
        )

    def read(self, body: bytes) -> ActionRequest | None:
        """The request ``body`` carries, if it fits this template; else None."""
        literals = self.literals
        first = literals[0]
        if not body.startswith(first):
            return None
        position = len(first)
        arguments = []
        for index, name in enumerate(self.names):
            literal = literals[index + 1]
            end = body.find(b"<", position)
            if end < 0 or not body.startswith(literal, end):
                return None
            raw = body[position:end]
            if b"&" in raw or b"\r" in raw:
                return None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if "]]>" in text or _INVALID_XML_CHARS.search(text):
                return None
            arguments.append((name, text))
            position = end + len(literal)
        if position != len(body):
            return None
        return ActionRequest(
            service_type=self.service_type, action=self.action, arguments=tuple(arguments)
        )


@dataclass(frozen=True, slots=True)
class OutPlan:
    """How an action's out-arguments become the body of its 200 answer (M1).

    What :func:`~upnpcm.core.arguments.encode_arguments` and
    :func:`~upnpcm.core.soap.build_action_response` look up in the SCPD for
    every answer, looked up once: each out-argument's name, data type and
    (when its values are checked) state variable, in SCPD order, and the
    markup between the values. Values are converted, checked and escaped as
    those functions do; anything else (a missing or unknown name, a value that
    does not fit) is left to them, so that they raise what they raise.
    """

    #: (name, data type, the variable when its values are checked, the bounds of an
    #: integer type): an in-range ``int`` of an integer type is its decimal text, which
    #: needs no conversion and no escaping.
    arguments: tuple[tuple[str, str, StateVariable | None, tuple[int, int] | None], ...]
    literals: tuple[str, ...]

    @classmethod
    def derive(cls, scpd: ServiceDescription, action: Action, service_type: str) -> OutPlan | None:
        """The plan of ``action``'s answers, or None (a name the markup cannot carry)."""
        names = [arg.name for arg in action.out_arguments]
        try:
            literals = response_literals(service_type, action.name, names)
        except UPnPError:
            return None
        arguments = []
        for arg in action.out_arguments:
            var = variable_for(scpd, arg)
            checked = var.allowed_values is not None or var.allowed_range is not None
            bounds = INTEGER_RANGES.get(var.data_type)
            arguments.append((arg.name, var.data_type, var if checked else None, bounds))
        return cls(arguments=tuple(arguments), literals=literals)

    def body(self, values: Mapping[str, object]) -> bytes | None:
        """The body answering ``values``, or None where the slow path must speak."""
        arguments, literals = self.arguments, self.literals
        if len(values) != len(arguments):
            return None  # a name missing or one too many (or a name listed twice)
        parts = [literals[0]]
        try:
            for index, (name, data_type, checked, bounds) in enumerate(arguments):
                if name not in values:
                    return None
                value = values[name]
                if (
                    checked is None
                    and bounds is not None
                    and type(value) is int
                    and bounds[0] <= value <= bounds[1]
                ):
                    parts.append(str(value))  # to_wire's text; digits and "-" need no escape
                else:
                    text = to_wire(data_type, value)
                    if checked is not None:
                        check_allowed(checked, from_wire(data_type, text), text, name)
                    parts.append(escape_text(text))
                parts.append(literals[index + 1])
        except Exception:  # the slow path raises it again, as it would have
            return None
        return "".join(parts).encode()


class _HeadFacts:
    """What was read from one header section (M8); ``headers`` keeps it alive, so its id."""

    __slots__ = ("control", "headers", "host", "peer")

    def __init__(self, headers: Headers, peer: str) -> None:
        self.headers = headers
        self.peer = peer
        #: (local address, local port, Host verdict: "" when it passes).
        self.host: tuple[str, int, str] | None = None
        #: (whether Content-Type names XML, the agreed SOAPACTION).
        self.control: tuple[bool, str | None] | None = None


class Memo:
    """The fast paths of one device (M1, M2); ``enabled=False`` turns them all off."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._requests: dict[tuple[str | None, bytes, int], ActionRequest] = {}
        self.templates: dict[str | None, list[Template]] = {}
        self._template_bytes = 0
        self._request_bytes = 0
        self._decoded: dict[ReadKey, object] = {}
        self._answers: dict[ReadKey, tuple[int, HttpResponse]] = {}
        self._empty_answers: dict[tuple[int, str], HttpResponse] = {}
        self._plans: dict[tuple[int, str], OutPlan] = {}
        self._hosts: dict[tuple[str, str, int], str] = {}
        self._raw: dict[RawKey, tuple[ReadKey, bool]] = {}
        self._raw_bytes = 0
        self._head_facts: dict[int, _HeadFacts] = {}
        self._head_fact_peers: dict[str, int] = {}

    # ------------------------------------------------------------ SOAP parsing

    def parse_action_request(
        self, soapaction: str | None, body: bytes, *, max_bytes: int
    ) -> ActionRequest:
        """:func:`~upnpcm.core.soap.parse_action_request`, remembered (errors never are)."""
        if not self.enabled or len(body) > max_bytes:
            return parse_action_request(soapaction, body, max_bytes=max_bytes)
        key = (soapaction, body, max_bytes)
        found = self._requests.get(key)
        if found is not None:
            return found
        found = self._from_template(soapaction, body)
        if found is None:
            found = parse_action_request(soapaction, body, max_bytes=max_bytes)
            self._learn(soapaction, body, found)
        if self._request_bytes + len(body) > MAX_REQUEST_KEY_BYTES:
            self._requests.clear()  # M2: bounded in bytes too
            self._request_bytes = 0
        if len(self._requests) >= MAX_ENTRIES:
            self._request_bytes = 0
        _put(self._requests, key, found)
        self._request_bytes += len(body)
        return found

    def _from_template(self, soapaction: str | None, body: bytes) -> ActionRequest | None:
        for template in self.templates.get(soapaction, ()):
            found = template.read(body)
            if found is not None:
                return found
        return None

    def _learn(self, soapaction: str | None, body: bytes, request: ActionRequest) -> None:
        template = Template.derive(request, body)
        if template is None:
            return
        full = soapaction not in self.templates and len(self.templates) >= MAX_TEMPLATE_KEYS
        if full or self._template_bytes + template.size > MAX_TEMPLATE_BYTES:
            self.templates.clear()  # M2: header values and markup are the client's choice
            self._template_bytes = 0
        known = self.templates.setdefault(soapaction, [])
        known.insert(0, template)
        self._template_bytes += template.size
        for dropped in known[MAX_TEMPLATES_PER_KEY:]:
            self._template_bytes -= dropped.size
        del known[MAX_TEMPLATES_PER_KEY:]

    # --------------------------------------------------------------- arguments

    def decoded(self, key: ReadKey, compute: Callable[[], _T]) -> _T:
        """``compute()`` for ``key`` (checked in-arguments), remembered when it succeeds."""
        if not self.enabled:
            return compute()
        found = self._decoded.get(key)
        if found is None:
            found = compute()
            _put(self._decoded, key, found)
        return found  # type: ignore[return-value]  # stored by this method under this key

    # ----------------------------------------------------------------- answers

    def answer(self, key: ReadKey, version: int) -> HttpResponse | None:
        """The remembered answer for ``key`` at state ``version``, or None."""
        if not self.enabled:
            return None
        hit = self._answers.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def keep_answer(self, key: ReadKey, version: int, response: HttpResponse) -> None:
        """Remember the answer for ``key`` at state ``version``."""
        if self.enabled:
            _put(self._answers, key, (version, response))

    def empty_answer(
        self, key: tuple[int, str], *context: object, build: Callable[..., HttpResponse]
    ) -> HttpResponse:
        """``build(*context)``: the answer of an action without out-arguments, built once per key."""
        if not self.enabled:
            return build(*context)
        found = self._empty_answers.get(key)
        if found is None:
            found = build(*context)
            _put(self._empty_answers, key, found)
        return found

    def out_plan(
        self, key: tuple[int, str], *context: object, derive: Callable[..., OutPlan | None]
    ) -> OutPlan | None:
        """``derive(*context)``: the :class:`OutPlan` of an action, derived once per key.

        None with the fast paths off, or when there is no plan (never kept).
        """
        if not self.enabled:
            return None
        found = self._plans.get(key)
        if found is None:
            found = derive(*context)
            if found is not None:
                _put(self._plans, key, found)
        return found

    # ---------------------------------------------------------- whole requests

    def recall(self, key: RawKey) -> tuple[ReadKey, bool] | None:
        """The answer-cache key and keep-alive verdict remembered for a whole request (M5)."""
        if not self.enabled:
            return None
        return self._raw.get(key)

    def keep_raw(self, key: RawKey, read: ReadKey, keep_alive: bool) -> bool:
        """Remember that the request ``key`` was answered from the answer cache's ``read``.

        Returns whether it was kept (False with the fast paths off).
        """
        if not self.enabled:
            return False
        if self._raw_bytes + len(key[0]) > MAX_RAW_KEY_BYTES or len(self._raw) >= MAX_ENTRIES:
            self._raw.clear()  # M2: keys are the client's bytes
            self._raw_bytes = 0
        self._raw[key] = (read, keep_alive)
        self._raw_bytes += len(key[0])
        return True

    def forget_answers(self) -> None:
        """Drop every remembered answer (something they all carry changed)."""
        self._answers.clear()
        self._empty_answers.clear()

    # -------------------------------------------------------------------- Host

    def host_verdict(self, key: tuple[str, str, int], judge: Callable[[], str]) -> str:
        """``judge()`` for a (Host, local address, port) key, remembered."""
        if not self.enabled:
            return judge()
        verdict = self._hosts.get(key)
        if verdict is None:
            verdict = judge()
            _put(self._hosts, key, verdict)
        return verdict

    # ---------------------------------------------------- header sections (M8)

    def host_problem(self, request: HttpRequest, judge: Callable[[HttpRequest], str]) -> str:
        """``judge(request)``, the Host verdict ("" when it passes), kept with the headers."""
        if not self.enabled:
            return judge(request)
        facts = self._facts(request.headers, request.peer)
        host = facts.host
        if host is not None and host[1] == request.local_port and host[0] == request.local:
            return host[2]
        verdict = judge(request)
        facts.host = (request.local, request.local_port, verdict)
        return verdict

    def control_head(
        self, headers: Headers, peer: str, read: Callable[[Headers], tuple[bool, str | None]]
    ) -> tuple[bool, str | None]:
        """``read(headers)``: (Content-Type is XML, SOAPACTION), kept with the headers.

        What ``read`` raises propagates and is not kept (M1).
        """
        if not self.enabled:
            return read(headers)
        facts = self._facts(headers, peer)
        control = facts.control
        if control is None:
            control = facts.control = read(headers)
        return control

    def _facts(self, headers: Headers, peer: str) -> _HeadFacts:
        facts = self._head_facts.get(id(headers))
        if facts is not None and facts.headers is headers:
            return facts
        table, peers = self._head_facts, self._head_fact_peers
        if len(table) >= MAX_HEAD_FACTS:
            table.clear()  # M2: emptied when full
            peers.clear()
        count = peers.get(peer, 0)
        if count >= MAX_HEAD_FACTS_PER_PEER:  # M8: the peer filled its share
            for key in [key for key, kept in table.items() if kept.peer == peer]:
                del table[key]
            count = 0
        facts = table[id(headers)] = _HeadFacts(headers, peer)
        peers[peer] = count + 1
        return facts


@dataclass(frozen=True, slots=True)
class KnownHead:
    """What the HTTP framing made of a request head (M6)."""

    method: str
    path: str
    query: str
    headers: Headers
    keep_alive: bool
    #: The body length its Content-Length announced (0 without one).
    body_length: int
    #: A whole request with this head was remembered by its bytes (M5): a read with
    #: it is worth offering to that memory first; others go straight to the handler.
    recallable: bool = False


class HeadMemo:
    """Request heads seen before, by their bytes (M6, M2); ``enabled=False`` keeps none.

    One per server, shared by its connections: control points send the same
    head again and again (the same action, the same Host, a Content-Length
    that rarely changes).
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._heads: dict[bytes, KnownHead] = {}
        self._bytes = 0

    def get(self, head: bytes) -> KnownHead | None:
        """What ``head`` was read as before, or None."""
        return self._heads.get(head)

    def mark_recallable(self, head: bytes) -> None:
        """A whole request with this (kept) head was just remembered by its bytes (M5)."""
        known = self._heads.get(head)
        if known is not None and not known.recallable:
            self._heads[head] = replace(known, recallable=True)

    def keep(self, head: bytes, known: KnownHead) -> None:
        """Remember what the framing made of ``head``."""
        if not self.enabled:
            return
        if self._bytes + len(head) > MAX_HEAD_KEY_BYTES or len(self._heads) >= MAX_ENTRIES:
            self._heads.clear()  # M2: heads are the client's bytes
            self._bytes = 0
        self._heads[head] = known
        self._bytes += len(head)


def _put(table: dict[_K, _V], key: _K, value: _V) -> None:
    if len(table) >= MAX_ENTRIES:
        table.clear()  # M2: bounded, keys are the client's choice
    table[key] = value


# --------------------------------------------------------------- control point


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedDevice:
    """A description and the SCPD at each of its SCPD URLs, as loaded."""

    description: DeviceDescription
    scpds: tuple[tuple[str, ServiceDescription], ...]


class DescriptionCache:
    """What a control point loaded, by LOCATION, BOOTID and CONFIGID (M3, M4).

    ``enabled=False`` keeps nothing (every load fetches again).
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        max_entries: int = MAX_DESCRIPTIONS,
        max_per_host: int = MAX_DESCRIPTIONS_PER_HOST,
    ) -> None:
        self.enabled = enabled
        self.max_entries = max_entries
        self.max_per_host = max_per_host
        self._entries: dict[str, tuple[int | None, int | None, LoadedDevice]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, location: str, boot_id: int | None, config_id: int | None) -> LoadedDevice | None:
        """The device loaded from ``location`` under this BOOTID and CONFIGID, or None."""
        entry = self._entries.get(location)
        if entry is None or (entry[0], entry[1]) != (boot_id, config_id):
            return None
        return entry[2]

    def put(
        self,
        location: str,
        boot_id: int | None,
        config_id: int | None,
        loaded: LoadedDevice,
    ) -> None:
        """Remember a successful load (the caller keeps loads with a failed SCPD out)."""
        if not self.enabled:
            return
        host = _host(location)
        same_host = [key for key in self._entries if key != location and _host(key) == host]
        if len(same_host) >= self.max_per_host:
            for key in same_host:
                del self._entries[key]  # invalidates: M4, a host filled its share
        if location not in self._entries and len(self._entries) >= self.max_entries:
            self._entries.clear()  # invalidates: M4, full: emptied, not grown
        self._entries[location] = (boot_id, config_id, loaded)

    def observe(self, location: str, boot_id: int | None, config_id: int | None) -> None:
        """SSDP news for ``location``: a BOOTID or CONFIGID other than the kept one drops it."""
        entry = self._entries.get(location)
        if entry is None:
            return
        if (boot_id is not None and boot_id != entry[0]) or (
            config_id is not None and config_id != entry[1]
        ):
            del self._entries[location]  # invalidates: M3, the device rebooted or changed

    def forget(self, location: str) -> None:
        """Drop what was loaded from ``location``."""
        self._entries.pop(location, None)  # invalidates: M3, on the caller's word


def _host(location: str) -> str:
    try:
        return (urlsplit(location).hostname or "").lower()
    except ValueError:
        return ""
