"""LastChange eventing of the AV services (AVT:1 §2.2.1 and §2.3.1, RCS:1 §2.2.1 and §2.3.1).

AVTransport and RenderingControl keep their state per *instance* (an
InstanceID) and do not event their variables one by one: every change goes
into the single evented variable ``LastChange``, whose value is an XML
document listing what changed, instance by instance. This module holds that
document's rules; a hosted service records values, the device core drives the
clock (``now`` is an argument) and GENA delivers the text.

Rules
-----
Q1  The value is ``<Event xmlns="<service namespace>">`` holding one
    ``<InstanceID val="N">`` per instance with changes, each holding one empty
    element per changed variable with its value in ``val`` (and, for the
    channel-qualified RenderingControl variables, ``channel``). Values are
    attribute text: a DIDL-Lite document in ``val`` is escaped once here and
    once more as the event's character data.
Q2  Changes are collected per (instance, variable, channel), the latest value
    winning, and published as one LastChange value at most once every
    ``min_interval`` seconds (0.2 s, the moderation AVT:1/RCS:1 set for
    LastChange): the first change after a quiet period goes out at once, the
    rest of a burst when its window ends (:meth:`LastChange.next_deadline`).
Q3  The initial event of a subscription carries the full state: every
    variable of every instance (:meth:`LastChange.full`).
Q4  A subscriber that has not yet been sent one LastChange value when the next
    is published gets both merged (per instance, variable and channel, later
    wins; :func:`merge_last_change`), never only the later one: it still
    learns of every variable that changed.
Q5  An instance removed (its connection completed) is dropped from the state
    and from what is pending; LastChange cannot say "gone", so nothing is sent
    for it.
Q6  A vendor's LastChange may name its instances otherwise (Sonos's Queue:
    ``<QueueID val>``) and qualify vendor variables with a prefix declared on
    ``<Event>`` (Sonos: ``r:``); parsing and merging keep both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from upnpcm.core.xml import check_chars, check_name, escape_attr, local_name, parse_xml
from upnpcm.errors import RemoteProtocolError

__all__ = [
    "AVT_NAMESPACE",
    "MODERATION",
    "RCS_NAMESPACE",
    "LastChange",
    "merge_last_change",
    "parse_last_change",
    "render_last_change",
]

AVT_NAMESPACE: Final = "urn:schemas-upnp-org:metadata-1-0/AVT/"
RCS_NAMESPACE: Final = "urn:schemas-upnp-org:metadata-1-0/RCS/"
#: Least seconds between two published LastChange values (Q2).
MODERATION: Final = 0.2
#: Largest LastChange text :func:`parse_last_change` reads.
MAX_LAST_CHANGE_BYTES: Final = 1024 * 1024

#: (variable, channel); channel "" for a variable without one.
Slot = tuple[str, str]
#: InstanceID -> slot -> wire value.
Changes = dict[int, dict[Slot, str]]


def render_last_change(
    namespace: str,
    changes: Mapping[int, Mapping[Slot, str]],
    *,
    instance_tag: str = "InstanceID",
    prefixes: Mapping[str, str] | None = None,
) -> str:
    """The ``<Event>`` document for ``changes``, instances ascending (Q1, Q6).

    ``prefixes`` (prefix -> namespace) are declared on ``<Event>``; a variable
    named ``prefix:Name`` is in that namespace.

    Raises:
        LocalProtocolError: a variable name that is not an XML name, or a value
            XML cannot carry.
    """
    declared = "".join(
        f' xmlns:{check_name(prefix)}="{escape_attr(uri)}"'
        for prefix, uri in (prefixes or {}).items()
    )
    parts = [f'<Event xmlns="{escape_attr(namespace)}"{declared}>']
    tag_name = check_name(instance_tag)
    for instance in sorted(changes):
        parts.append(f'<{tag_name} val="{instance}">')
        for (name, channel), value in changes[instance].items():
            tag = check_name(name)
            if channel:
                parts.append(
                    f'<{tag} channel="{escape_attr(channel)}" val="{escape_attr(value)}"/>'
                )
            else:
                parts.append(f'<{tag} val="{escape_attr(value)}"/>')
        parts.append(f"</{tag_name}>")
    parts.append("</Event>")
    return "".join(parts)


def parse_last_change(
    text: str,
    *,
    instance_tag: str = "InstanceID",
    prefixes: Mapping[str, str] | None = None,
) -> tuple[str, Changes]:
    """Read a LastChange value into (namespace, changes) (Q1, Q6).

    Lenient as a control point must be: elements without ``val`` are skipped,
    an ``InstanceID`` without a number counts as 0. A variable in a namespace
    of ``prefixes`` (prefix -> namespace) is named ``prefix:Name``; in any
    other namespace by its local name.

    Raises:
        RemoteProtocolError: unsafe or malformed XML, or not an ``<Event>``.
    """
    root = parse_xml(text.encode("utf-8"), max_bytes=MAX_LAST_CHANGE_BYTES)
    if local_name(root.tag) != "Event":
        raise RemoteProtocolError("LastChange is not an <Event> document")
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    by_uri = {uri: prefix for prefix, uri in (prefixes or {}).items()}
    changes: Changes = {}
    for instance_elem in root:
        if local_name(instance_elem.tag) != instance_tag:
            continue
        try:
            instance = int((instance_elem.get("val") or "0").strip())
        except ValueError:
            instance = 0
        slots = changes.setdefault(instance, {})
        for var in instance_elem:
            value = var.get("val")
            if value is not None:
                name = local_name(var.tag)
                if by_uri and var.tag.startswith("{"):
                    prefix = by_uri.get(var.tag[1:].partition("}")[0])
                    if prefix is not None:
                        name = f"{prefix}:{name}"
                slots[(name, var.get("channel") or "")] = value
    return namespace, changes


def merge_last_change(
    earlier: str,
    later: str,
    *,
    instance_tag: str = "InstanceID",
    prefixes: Mapping[str, str] | None = None,
) -> str:
    """One LastChange value saying what ``earlier`` and ``later`` say, later winning (Q4).

    A value that cannot be read (not ours) leaves ``later`` as it is.
    """
    try:
        namespace, merged = parse_last_change(earlier, instance_tag=instance_tag, prefixes=prefixes)
        _, newer = parse_last_change(later, instance_tag=instance_tag, prefixes=prefixes)
    except RemoteProtocolError:
        return later
    for instance, slots in newer.items():
        merged.setdefault(instance, {}).update(slots)
    return render_last_change(namespace, merged, instance_tag=instance_tag, prefixes=prefixes)


class LastChange:
    """The LastChange state of one service: current values, pending changes, moderation.

    Values are wire text (the service converts). Time is an argument: the
    caller asks :meth:`take` for the next value to publish with its ``now``
    and wakes up at :meth:`next_deadline` (Q2).
    """

    def __init__(
        self,
        namespace: str,
        *,
        min_interval: float = MODERATION,
        instance_tag: str = "InstanceID",
        prefixes: Mapping[str, str] | None = None,
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must not be negative")
        self.namespace = namespace
        self.instance_tag = check_name(instance_tag)
        self.prefixes = dict(prefixes or {})
        self.min_interval = min_interval
        self._state: Changes = {}
        self._pending: Changes = {}
        self._published_at: float | None = None
        #: Values published so far (for statistics and tests).
        self.published = 0

    def instances(self) -> list[int]:
        """The InstanceIDs with state, ascending."""
        return sorted(self._state)

    def add_instance(self, instance: int, values: Mapping[Slot, str] | None = None) -> None:
        """Start keeping ``instance`` (its ``values`` become pending changes).

        Raises:
            ValueError: the instance exists already.
        """
        if instance in self._state:
            raise ValueError(f"InstanceID {instance} exists already")
        self._state[instance] = {}
        for (name, channel), value in (values or {}).items():
            self.set(instance, name, value, channel=channel)

    def remove_instance(self, instance: int) -> None:
        """Forget ``instance`` and what is pending for it (Q5)."""
        self._state.pop(instance, None)
        self._pending.pop(instance, None)

    def get(self, instance: int, name: str, channel: str = "") -> str | None:
        """The current wire value of a variable of ``instance``, or None."""
        return self._state.get(instance, {}).get((name, channel))

    def set(
        self, instance: int, name: str, value: str, *, channel: str = "", force: bool = False
    ) -> bool:
        """Record a value; True if it changed, or ``force`` is set (then it is pending, Q2).

        Raises:
            KeyError: no such instance.
            LocalProtocolError: a name or value XML cannot carry.
        """
        slots = self._state[instance]
        slot = (name, channel)
        known = slots.get(slot)
        if known == value and not force:
            return False
        if known is None:
            check_name(name)  # a new name; a known one was checked when it came
        if not (value.isascii() and value.isprintable()):  # printable ASCII is always fine
            check_chars(
                value
            )  # XML must carry it (escaped when rendered): checked before it is kept
        slots[slot] = value
        pending = self._pending.get(instance)
        if pending is None:
            pending = self._pending[instance] = {}
        pending[slot] = value
        return True

    @property
    def has_pending(self) -> bool:
        """Whether changes wait to be published."""
        return bool(self._pending)

    def full(self) -> str:
        """Every variable of every instance, for an initial event (Q3)."""
        return self._render(self._state)

    def _render(self, changes: Changes) -> str:
        return render_last_change(
            self.namespace, changes, instance_tag=self.instance_tag, prefixes=self.prefixes
        )

    def merge(self, earlier: str, later: str) -> str:
        """Two published values of this LastChange as one (Q4, Q6)."""
        return merge_last_change(
            earlier, later, instance_tag=self.instance_tag, prefixes=self.prefixes
        )

    def take(self, now: float) -> str | None:
        """The value to publish now, or None (nothing pending, or inside the window, Q2)."""
        if not self._pending:
            return None
        if self._published_at is not None and now < self._published_at + self.min_interval:
            return None
        text = self._render(self._pending)
        self._pending = {}
        self._published_at = now
        self.published += 1
        return text

    def next_deadline(self) -> float | None:
        """When :meth:`take` will have a value to publish (monotonic), or None."""
        if not self._pending:
            return None
        if self._published_at is None:
            return float("-inf")  # due now
        return self._published_at + self.min_interval
