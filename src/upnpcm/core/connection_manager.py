"""The ConnectionManager service state machine (ConnectionManager:1, ISO/IEC 29341-17-11).

Theory of operation
===================

Everything that decides what a ConnectionManager answers lives in this file;
adapters only move bytes. Each method runs to completion without awaiting, so
on one event loop every call is atomic: racing PrepareForConnection and
ConnectionComplete calls are serialised by the loop and can never exceed the
limit or reuse an ID (no lock needed; a lock would only be needed if a
transition had to await, which none does).

State
-----
* ``source`` / ``sink``: the SourceProtocolInfo / SinkProtocolInfo lists,
  kept as the exact wire text (a Sonos Sink list ends with a comma and is
  served so), parsed once for matching. ``""`` means "cannot source/sink"
  (CM:1 §2.2.3: the empty string, never ``*``).
* the connection table: ConnectionID → :class:`ConnectionInfo`, and for each
  row when an action last referred to it (monotonic ``now``, an argument).
* ``next_id``: the next ConnectionID; starts at 1 and only ever increases, so
  an ID is never reused while the device runs (0 is the implicit connection),
  not even after its row expired (R8).

Rules
-----
R1  GetProtocolInfo → (Source, Sink) as stored.
R2  GetCurrentConnectionIDs → the live IDs, ascending, comma-separated
    ("" when there are none). Without PrepareForConnection the implicit
    connection 0 is always there, so it is ``"0"`` (CM:1 §2.4.5).
R3  GetCurrentConnectionInfo(id) → the row for ``id`` (which counts as a
    reference, R8); an unknown ID → 706
    Invalid connection reference. Without PrepareForConnection only ID 0
    exists, with RcsID/AVTransportID -1 (nothing hosted here), ProtocolInfo
    "", PeerConnectionManager "", PeerConnectionID -1, Direction Input for a
    sink (renderer) and Output otherwise, Status OK (CM:1 §2.4.5).
R4  PrepareForConnection(RemoteProtocolInfo, PeerConnectionManager,
    PeerConnectionID, Direction), offered only when ``prepare_for_connection``:
      a. Direction outside Input|Output never gets here: the SCPD's
         allowedValueList answers 601 first (UDA 1.1 table 3-3: "not in the
         allowed value list"); called directly, 601 too;
      b. Input needs a Sink list and Output a Source list, else 702
         Incompatible directions;
      c. RemoteProtocolInfo must be a protocolInfo matching an entry of our
         Sink (Input) or Source (Output) list, else 701 Incompatible protocol
         info (CM:1 §2.4.2);
      d. a full table (``max_connections`` live) → 704 Local restrictions
         (CM:1 §2.4.2); IDs exhausted (2**31-1 issued) → 704 as well;
      e. otherwise a row is added with the next ID, AVTransportID/RcsID -1,
         Status OK, referenced now, and CurrentConnectionIDs changes.
R5  ConnectionComplete(id): removes the row; an unknown (or already
    completed) ID → 706. CurrentConnectionIDs changes.
R6  Disabled PrepareForConnection/ConnectionComplete → 401 Invalid Action
    (they are absent from the SCPD, so the device core answers 401 before
    reaching here; :meth:`handle_action` answers 401 too).
R7  Every change of an evented variable (SourceProtocolInfo, SinkProtocolInfo,
    CurrentConnectionIDs) queues a :class:`StateVariablesChanged`, drained
    with :meth:`events` in the order the changes happened.
R8  Idle lease (the standard asks the device to clean up connections whose
    peer is gone): a row that no action (PrepareForConnection,
    GetCurrentConnectionInfo, ConnectionComplete) nor :meth:`set_status`
    referred to for ``connection_idle_timeout`` seconds is dropped by
    :meth:`~ConnectionManager.expire_idle` (the adapter calls it on a timer);
    CurrentConnectionIDs changes once per sweep. A reference whose ``now``
    is unknown (None) counts from the next sweep, so a row never expires
    early. ``connection_idle_timeout = 0`` keeps rows until ConnectionComplete.
R9  Instances (a renderer): with a :class:`ConnectionBinder`, PrepareForConnection
    asks it for the AVTransport and RenderingControl instances of the new
    connection (their InstanceIDs become AVTransportID and RcsID; a binder
    that refuses answers its fault, e.g. 704, and no row or ID is used);
    ConnectionComplete and the idle sweep (R8) release them. Without one,
    both IDs are -1 (nothing is associated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol

from upnpcm.core.description import Action, Argument, ServiceDescription, StateVariable
from upnpcm.core.http import decimal
from upnpcm.core.protocol_info import ProtocolInfo, match, parse_list
from upnpcm.core.xml import escape_text
from upnpcm.errors import ProtocolInfoError, RemoteProtocolError, UPnPError

__all__ = [
    "CONNECTION_MANAGER_ID",
    "CONNECTION_MANAGER_TYPE",
    "ConnectionBinder",
    "ConnectionInfo",
    "ConnectionManager",
    "ConnectionManagerConfig",
    "ConnectionStatus",
    "Direction",
    "StateVariablesChanged",
    "connection_manager_scpd",
    "parse_connection_ids",
]

CONNECTION_MANAGER_TYPE: Final = "urn:schemas-upnp-org:service:ConnectionManager:1"
CONNECTION_MANAGER_ID: Final = "urn:upnp-org:serviceId:ConnectionManager"
#: Largest ConnectionID (A_ARG_TYPE_ConnectionID is an i4).
MAX_CONNECTION_ID: Final = 2**31 - 1
EVENTED_VARIABLES: Final = ("SourceProtocolInfo", "SinkProtocolInfo", "CurrentConnectionIDs")


class Direction(StrEnum):
    """A_ARG_TYPE_Direction: Output = this device sends; Input = it receives."""

    INPUT = "Input"
    OUTPUT = "Output"


_DIRECTIONS: Final[dict[str, Direction]] = {d.value: d for d in Direction}


class ConnectionStatus(StrEnum):
    """A_ARG_TYPE_ConnectionStatus."""

    OK = "OK"
    CONTENT_FORMAT_MISMATCH = "ContentFormatMismatch"
    INSUFFICIENT_BANDWIDTH = "InsufficientBandwidth"
    UNRELIABLE_CHANNEL = "UnreliableChannel"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    """One row of the connection table (GetCurrentConnectionInfo's out-arguments)."""

    connection_id: int
    rcs_id: int = -1
    av_transport_id: int = -1
    protocol_info: str = ""
    peer_connection_manager: str = ""
    peer_connection_id: int = -1
    direction: Direction = Direction.INPUT
    status: ConnectionStatus = ConnectionStatus.OK

    def as_arguments(self) -> dict[str, object]:
        """The out-arguments of GetCurrentConnectionInfo, by name."""
        return {
            "RcsID": self.rcs_id,
            "AVTransportID": self.av_transport_id,
            "ProtocolInfo": self.protocol_info,
            "PeerConnectionManager": self.peer_connection_manager,
            "PeerConnectionID": self.peer_connection_id,
            "Direction": str(self.direction),
            "Status": str(self.status),
        }


class ConnectionBinder(Protocol):
    """Creates and frees the service instances of a connection (rule R9)."""

    def bind(self, info: ConnectionInfo) -> tuple[int, int]:
        """(AVTransportID, RcsID) of the instances made for ``info`` (-1: none).

        Raises:
            UPnPError: the instances cannot be made (the action's fault).
        """
        ...

    def release(self, info: ConnectionInfo) -> None:
        """The connection ended: free what :meth:`bind` made for it."""
        ...


@dataclass(frozen=True, slots=True)
class StateVariablesChanged:
    """Evented state variables that changed, with their new wire values."""

    changes: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionManagerConfig:
    """How a ConnectionManager behaves.

    Args:
        source: SourceProtocolInfo wire text ("" = cannot source).
        sink: SinkProtocolInfo wire text ("" = cannot sink).
        prepare_for_connection: offer PrepareForConnection + ConnectionComplete.
        max_connections: live connections allowed at once (R4 d).
        idle_connection_ids: CurrentConnectionIDs without PrepareForConnection;
            ``"0"`` per the standard, ``""`` as Sonos reports it.
        connection_info_faults: answer GetCurrentConnectionInfo with a fault
            (402 for ID 0, 706 otherwise) as Sonos firmware is reported to do.
        connection_idle_timeout: seconds a connection may go unreferenced
            before it is dropped (R8); 0 = never.
    """

    source: str = ""
    sink: str = ""
    prepare_for_connection: bool = True
    max_connections: int = 16
    idle_connection_ids: str = "0"
    connection_info_faults: bool = False
    connection_idle_timeout: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if not self.connection_idle_timeout >= 0:  # also refuses NaN
            raise ValueError("connection_idle_timeout must be 0 (never) or more seconds")
        escape_text(self.source)  # raises if XML cannot carry the lists
        escape_text(self.sink)


def connection_manager_scpd(*, prepare_for_connection: bool = True) -> ServiceDescription:
    """The standard ConnectionManager:1 SCPD (CM:1 §2.2-2.4).

    Without ``prepare_for_connection`` the two optional actions are left out.
    """
    # Long on purpose: one declaration, read top to bottom like the SCPD's XML.

    def arg(name: str, direction: str, var: str) -> Argument:
        return Argument(
            name=name, direction="in" if direction == "in" else "out", related_state_variable=var
        )

    actions = [
        Action(
            name="GetProtocolInfo",
            arguments=(
                arg("Source", "out", "SourceProtocolInfo"),
                arg("Sink", "out", "SinkProtocolInfo"),
            ),
        ),
    ]
    if prepare_for_connection:
        actions.append(
            Action(
                name="PrepareForConnection",
                arguments=(
                    arg("RemoteProtocolInfo", "in", "A_ARG_TYPE_ProtocolInfo"),
                    arg("PeerConnectionManager", "in", "A_ARG_TYPE_ConnectionManager"),
                    arg("PeerConnectionID", "in", "A_ARG_TYPE_ConnectionID"),
                    arg("Direction", "in", "A_ARG_TYPE_Direction"),
                    arg("ConnectionID", "out", "A_ARG_TYPE_ConnectionID"),
                    arg("AVTransportID", "out", "A_ARG_TYPE_AVTransportID"),
                    arg("RcsID", "out", "A_ARG_TYPE_RcsID"),
                ),
            )
        )
        actions.append(
            Action(
                name="ConnectionComplete",
                arguments=(arg("ConnectionID", "in", "A_ARG_TYPE_ConnectionID"),),
            )
        )
    actions += [
        Action(
            name="GetCurrentConnectionIDs",
            arguments=(arg("ConnectionIDs", "out", "CurrentConnectionIDs"),),
        ),
        Action(
            name="GetCurrentConnectionInfo",
            arguments=(
                arg("ConnectionID", "in", "A_ARG_TYPE_ConnectionID"),
                arg("RcsID", "out", "A_ARG_TYPE_RcsID"),
                arg("AVTransportID", "out", "A_ARG_TYPE_AVTransportID"),
                arg("ProtocolInfo", "out", "A_ARG_TYPE_ProtocolInfo"),
                arg("PeerConnectionManager", "out", "A_ARG_TYPE_ConnectionManager"),
                arg("PeerConnectionID", "out", "A_ARG_TYPE_ConnectionID"),
                arg("Direction", "out", "A_ARG_TYPE_Direction"),
                arg("Status", "out", "A_ARG_TYPE_ConnectionStatus"),
            ),
        ),
    ]
    variables = (
        StateVariable(name="SourceProtocolInfo", data_type="string", send_events=True),
        StateVariable(name="SinkProtocolInfo", data_type="string", send_events=True),
        StateVariable(name="CurrentConnectionIDs", data_type="string", send_events=True),
        StateVariable(
            name="A_ARG_TYPE_ConnectionStatus",
            send_events=False,
            allowed_values=tuple(str(s) for s in ConnectionStatus),
        ),
        StateVariable(name="A_ARG_TYPE_ConnectionManager", send_events=False),
        StateVariable(
            name="A_ARG_TYPE_Direction",
            send_events=False,
            allowed_values=tuple(str(d) for d in Direction),
        ),
        StateVariable(name="A_ARG_TYPE_ProtocolInfo", send_events=False),
        StateVariable(name="A_ARG_TYPE_ConnectionID", data_type="i4", send_events=False),
        StateVariable(name="A_ARG_TYPE_AVTransportID", data_type="i4", send_events=False),
        StateVariable(name="A_ARG_TYPE_RcsID", data_type="i4", send_events=False),
    )
    return ServiceDescription(actions=tuple(actions), state_variables=variables)


@dataclass(slots=True)
class _Statistics:
    prepared: int = 0
    completed: int = 0
    expired: int = 0
    refused: dict[int, int] = field(default_factory=dict)


class ConnectionManager:
    """One ConnectionManager service instance (rules R1-R7 above).

    The Get actions are pure reads: a device core may answer them from a cache
    while :attr:`state_version` stays the same. GetCurrentConnectionInfo is
    left out of :attr:`cacheable_actions` while rows have an idle lease, since
    it renews the lease (R8).
    """

    def __init__(
        self,
        config: ConnectionManagerConfig | None = None,
        *,
        binder: ConnectionBinder | None = None,
    ) -> None:
        self._config = config or ConnectionManagerConfig()
        self._binder = binder
        #: Rows have an idle lease (R8); the config never changes.
        self._leased = (
            self._config.prepare_for_connection and self._config.connection_idle_timeout > 0
        )
        cacheable = {"GetProtocolInfo", "GetCurrentConnectionIDs", "GetCurrentConnectionInfo"}
        if self._leased:
            cacheable.discard("GetCurrentConnectionInfo")
        #: Actions whose answers depend only on their arguments and :attr:`state_version`.
        self.cacheable_actions: frozenset[str] = frozenset(cacheable)
        self._source = self._config.source
        self._sink = self._config.sink
        self._source_entries = parse_list(self._source).entries
        self._sink_entries = parse_list(self._sink).entries
        self._connections: dict[int, ConnectionInfo] = {}
        #: The live IDs' decimal text, ascending (CurrentConnectionIDs is joined from it).
        self._id_texts: dict[int, str] = {}
        #: ConnectionID → monotonic time of the last reference (None: stamp at the next sweep),
        #: kept in reference order, so while ``_ordered`` the first stamp is the oldest.
        self._last_seen: dict[int, float | None] = {}
        self._ordered = True  # every stamp known and written in non-decreasing order
        self._newest = float("-inf")
        self._next_id = 1
        self._events: list[StateVariablesChanged] = []
        self._match_cache: dict[tuple[Direction, str], tuple[bool, str]] = {}
        self._stats = _Statistics()
        self._ids_text = self._format_ids()
        #: Changes whenever anything a Get action reports changes.
        self.state_version = 0

    # ------------------------------------------------------------------ queries

    @property
    def config(self) -> ConnectionManagerConfig:
        """The configuration this instance was built with."""
        return self._config

    def protocol_info(self) -> tuple[str, str]:
        """R1: (Source, Sink) wire text."""
        return self._source, self._sink

    def current_connection_ids(self) -> str:
        """R2: the live ConnectionIDs as a comma-separated list."""
        return self._ids_text

    def connection_ids(self) -> tuple[int, ...]:
        """The live ConnectionIDs (0 alone when PrepareForConnection is off)."""
        if not self._config.prepare_for_connection:
            return (0,)
        return tuple(self._connections)

    def rows(self) -> tuple[ConnectionInfo, ...]:
        """The live connection rows, ascending; reading them renews no lease (unlike R3)."""
        if not self._config.prepare_for_connection:
            return (ConnectionInfo(connection_id=0, direction=self._implicit_direction()),)
        return tuple(self._connections[key] for key in sorted(self._connections))

    def connection_info(self, connection_id: int, *, now: float | None = None) -> ConnectionInfo:
        """R3: the row of ``connection_id``; renews its idle lease (R8).

        Args:
            connection_id: the ConnectionID asked about.
            now: monotonic seconds (None: counted from the next sweep).

        Raises:
            UPnPError: 706 for an unknown ID (402/706 with ``connection_info_faults``).
        """
        if self._config.connection_info_faults:
            raise UPnPError(402 if connection_id == 0 else 706)
        if not self._config.prepare_for_connection:
            if connection_id == 0:
                return ConnectionInfo(connection_id=0, direction=self._implicit_direction())
        else:
            info = self._connections.get(connection_id)
            if info is not None:
                self._touch(connection_id, now)
                return info
        raise UPnPError(706, f"no connection {connection_id}")

    def evented_state(self) -> dict[str, str]:
        """Every evented variable and its value (the GENA initial event), in SCPD order."""
        return {
            "SourceProtocolInfo": self._source,
            "SinkProtocolInfo": self._sink,
            "CurrentConnectionIDs": self._ids_text,
        }

    def statistics(self) -> dict[str, object]:
        """A snapshot: live connections, totals prepared/completed, refusals by code."""
        return {
            "live": len(self._connections),
            "max_connections": self._config.max_connections,
            "next_id": self._next_id,
            "prepared": self._stats.prepared,
            "completed": self._stats.completed,
            "expired": self._stats.expired,
            "refused": dict(self._stats.refused),
        }

    # ---------------------------------------------------------------- mutations

    def prepare_for_connection(
        self,
        remote_protocol_info: str,
        peer_connection_manager: str,
        peer_connection_id: int,
        direction: Direction | str,
        *,
        now: float | None = None,
    ) -> ConnectionInfo:
        """R4: set up a connection (its idle lease starts at ``now``, R8).

        Raises:
            UPnPError: 401 when disabled, 601 for a bad Direction, 702, 701, 704.
        """
        if not self._config.prepare_for_connection:
            raise self._refuse(401, "PrepareForConnection is not offered by this device")
        try:  # a dict, not Direction(): the enum call is slow
            wanted = _DIRECTIONS.get(direction)
        except TypeError:  # unhashable: no Direction either
            wanted = None
        if wanted is None:
            raise self._refuse(601, f"Direction must be Input or Output, not {direction!r}")
        entries = self._sink_entries if wanted is Direction.INPUT else self._source_entries
        if not entries:
            role = (
                "receive (no Sink list)" if wanted is Direction.INPUT else "send (no Source list)"
            )
            raise self._refuse(702, f"this ConnectionManager cannot {role}")
        remote = self._compatible(wanted, remote_protocol_info, entries)
        if len(self._connections) >= self._config.max_connections:
            raise self._refuse(704, f"connection limit of {self._config.max_connections} reached")
        if self._next_id > MAX_CONNECTION_ID:
            raise self._refuse(704, "ConnectionIDs exhausted")
        info = ConnectionInfo(
            connection_id=self._next_id,
            protocol_info=remote,
            peer_connection_manager=peer_connection_manager,
            peer_connection_id=peer_connection_id,
            direction=wanted,
        )
        if self._binder is not None:
            try:
                av_transport_id, rcs_id = self._binder.bind(info)
            except UPnPError as exc:
                raise self._refuse(exc.code, exc.description or exc.meaning or "") from None
            info = replace(info, av_transport_id=av_transport_id, rcs_id=rcs_id)
        self._next_id += 1
        connection_id = info.connection_id
        self._connections[connection_id] = info
        text = self._id_texts[connection_id] = str(connection_id)
        self._stamp(connection_id, now)
        self._stats.prepared += 1
        # The new ID is the largest live one: CurrentConnectionIDs gains it at its end.
        self._ids_changed(f"{self._ids_text},{text}" if self._ids_text else text)
        return info

    def _compatible(
        self, wanted: Direction, remote_protocol_info: str, entries: tuple[ProtocolInfo, ...]
    ) -> str:
        """R4 c: the normalised RemoteProtocolInfo, or 701. Verdicts are cached per list."""
        key = (wanted, remote_protocol_info)
        verdict = self._match_cache.get(key)
        if verdict is None:
            try:
                remote = ProtocolInfo.parse(remote_protocol_info)
            except ProtocolInfoError as exc:
                verdict = (False, f"RemoteProtocolInfo is not a protocolInfo: {exc}")
            else:
                if any(match(remote, ours).compatible for ours in entries):
                    verdict = (True, str(remote))
                else:
                    list_name = "Sink" if wanted is Direction.INPUT else "Source"
                    verdict = (False, f"{remote} matches no entry of our {list_name} list")
            if len(self._match_cache) >= 256:  # bounded: the strings are the client's
                self._match_cache.clear()
            self._match_cache[key] = verdict
        ok, text = verdict
        if not ok:
            raise self._refuse(701, text)
        return text

    def _refuse(self, code: int, description: str) -> UPnPError:
        """Count a refusal (statistics) and build its error."""
        self._stats.refused[code] = self._stats.refused.get(code, 0) + 1
        return UPnPError(code, description)

    def connection_complete(self, connection_id: int) -> None:
        """R5: tear a connection down.

        Raises:
            UPnPError: 401 when disabled; 706 for an unknown or completed ID.
        """
        if not self._config.prepare_for_connection:
            raise UPnPError(401, "ConnectionComplete is not offered by this device")
        info = self._connections.pop(connection_id, None)
        if info is None:
            raise self._refuse(706, f"no connection {connection_id}")
        if self._binder is not None:
            self._binder.release(info)
        del self._id_texts[connection_id]
        self._last_seen.pop(connection_id, None)
        if not self._last_seen:
            self._ordered, self._newest = True, float("-inf")
        self._stats.completed += 1
        self._ids_changed()

    def set_status(
        self, connection_id: int, status: ConnectionStatus, *, now: float | None = None
    ) -> None:
        """Record a connection's Status (e.g. a renderer's transport saw a format mismatch).

        Counts as a reference to the row (R8).

        Raises:
            UPnPError: 706 for an unknown ID.
        """
        info = self._connections.get(connection_id)
        if info is None:
            raise UPnPError(706, f"no connection {connection_id}")
        self._connections[connection_id] = replace(info, status=status)
        self._touch(connection_id, now)
        self.state_version += 1  # invalidates: cached GetCurrentConnectionInfo answers

    # -------------------------------------------------------------- idle lease

    def _touch(self, connection_id: int, now: float | None) -> None:
        if connection_id in self._last_seen:
            del self._last_seen[connection_id]
            self._stamp(connection_id, now)

    def _stamp(self, connection_id: int, now: float | None) -> None:
        # Appended, so the dict stays in reference order while the clock only moves on.
        self._last_seen[connection_id] = now
        if now is None or now < self._newest:
            self._ordered = False
        else:
            self._newest = now

    def expire_idle(self, now: float) -> list[int]:
        """R8: drop rows unreferenced for ``connection_idle_timeout`` seconds.

        Args:
            now: monotonic seconds.

        Returns:
            The ConnectionIDs dropped, ascending (their IDs are never issued again).
        """
        if not self._leased:
            return []
        timeout = self._config.connection_idle_timeout
        # A reference at an unknown time (None) counts from now.
        stamps = {cid: now if seen is None else seen for cid, seen in self._last_seen.items()}
        gone = sorted(cid for cid, seen in stamps.items() if seen + timeout <= now)
        for connection_id in gone:
            info = self._connections.pop(connection_id)
            del self._id_texts[connection_id]
            del stamps[connection_id]
            if self._binder is not None:
                self._binder.release(info)
        if not self._ordered:  # every stamp is known now: restore reference order
            stamps = dict(sorted(stamps.items(), key=lambda item: item[1]))
            self._ordered = True
            self._newest = max(stamps.values(), default=float("-inf"))
        self._last_seen = dict(stamps)
        if not gone:
            return []
        self._stats.expired += len(gone)
        self._ids_changed()
        return gone

    def next_expiry(self) -> float | None:
        """When :meth:`expire_idle` next has something to drop (monotonic), or None."""
        if not self._leased:
            return None
        if self._ordered:
            oldest = next(iter(self._last_seen.values()), None)
            return None if oldest is None else oldest + self._config.connection_idle_timeout
        stamps = [seen for seen in self._last_seen.values() if seen is not None]
        if not stamps:
            return None
        return min(stamps) + self._config.connection_idle_timeout

    def set_protocol_info(self, *, source: str | None = None, sink: str | None = None) -> None:
        """Replace the Source and/or Sink list (wire text); changed ones are evented (R7).

        Raises:
            LocalProtocolError: a list holds a character XML 1.0 cannot carry.
        """
        for text in (source, sink):
            if text is not None:
                escape_text(text)
        changes: dict[str, str] = {}
        if source is not None and source != self._source:
            self._source = source
            self._source_entries = parse_list(source).entries
            changes["SourceProtocolInfo"] = source
        if sink is not None and sink != self._sink:
            self._sink = sink
            self._sink_entries = parse_list(sink).entries
            changes["SinkProtocolInfo"] = sink
        if changes:
            self._match_cache.clear()  # invalidates: 701/accept verdicts against the old lists
            self.state_version += 1  # invalidates: cached GetProtocolInfo answers
            self._events.append(StateVariablesChanged(changes))

    def events(self) -> list[StateVariablesChanged]:
        """Drain the queued changes (R7), oldest first."""
        queued, self._events = self._events, []
        return queued

    # ----------------------------------------------------------------- dispatch

    def handle_action(
        self, action: str, arguments: Mapping[str, object], *, now: float | None = None
    ) -> dict[str, object]:
        """Run ``action`` with already type-checked ``arguments``; return its out-arguments.

        ``now`` (monotonic seconds) dates the references that renew idle leases (R8).

        Raises:
            UPnPError: 401 for an action this service does not offer, or the
                action's own error (701, 702, 704, 706, …).
        """
        if action == "GetProtocolInfo":
            return {"Source": self._source, "Sink": self._sink}
        if action == "GetCurrentConnectionIDs":
            return {"ConnectionIDs": self._ids_text}
        if action == "GetCurrentConnectionInfo":
            info = self.connection_info(_int_arg(arguments, "ConnectionID"), now=now)
            return info.as_arguments()
        if action == "PrepareForConnection" and self._config.prepare_for_connection:
            info = self.prepare_for_connection(
                str(arguments["RemoteProtocolInfo"]),
                str(arguments["PeerConnectionManager"]),
                _int_arg(arguments, "PeerConnectionID"),
                str(arguments["Direction"]),
                now=now,
            )
            return {
                "ConnectionID": info.connection_id,
                "AVTransportID": info.av_transport_id,
                "RcsID": info.rcs_id,
            }
        if action == "ConnectionComplete" and self._config.prepare_for_connection:
            self.connection_complete(_int_arg(arguments, "ConnectionID"))
            return {}
        raise UPnPError(401, f"no action {action} at this ConnectionManager")

    # ------------------------------------------------------------------ helpers

    def _implicit_direction(self) -> Direction:
        return (
            Direction.INPUT if self._sink_entries or not self._source_entries else Direction.OUTPUT
        )

    def _format_ids(self) -> str:
        if not self._config.prepare_for_connection:
            return self._config.idle_connection_ids
        # IDs only grow and dicts keep insertion order: the keys are already ascending.
        return ",".join(self._id_texts.values())

    def _ids_changed(self, text: str | None = None) -> None:
        """The live IDs changed: ``text`` is the new CurrentConnectionIDs (None: format it)."""
        self.state_version += 1  # invalidates: cached GetCurrentConnectionIDs/Info answers
        self._ids_text = ids = self._format_ids() if text is None else text
        self._events.append(StateVariablesChanged({"CurrentConnectionIDs": ids}))


def parse_connection_ids(text: str) -> tuple[int, ...]:
    """Read a CurrentConnectionIDs value (R2): comma-separated, distinct, non-negative i4 IDs.

    ``""`` is no connection. Spaces around an ID are tolerated.

    Raises:
        RemoteProtocolError: an empty or non-numeric item, an ID over 2**31-1, or a repeated ID.
    """
    if not text.strip():
        return ()
    ids: list[int] = []
    for item in text.split(","):
        value = decimal(item.strip())
        if value is None or value > MAX_CONNECTION_ID:
            raise RemoteProtocolError(f"{item.strip()!r} is not a ConnectionID")
        if value in ids:
            raise RemoteProtocolError(f"ConnectionID {value} is listed twice")
        ids.append(value)
    return tuple(ids)


def _int_arg(arguments: Mapping[str, object], name: str) -> int:
    value = arguments.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UPnPError(402, f"{name} must be an i4")
    return value
