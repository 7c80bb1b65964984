"""LastChange documents, moderation and merging (core/lastchange.py, rules Q1-Q5)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upnpcm.core.gena import GenaPolicy, SubscriberTable
from upnpcm.core.http import Headers
from upnpcm.core.lastchange import (
    AVT_NAMESPACE,
    RCS_NAMESPACE,
    LastChange,
    merge_last_change,
    parse_last_change,
    render_last_change,
)
from upnpcm.errors import LocalProtocolError, RemoteProtocolError


def test_the_event_document_has_instances_values_and_channels():
    text = render_last_change(
        RCS_NAMESPACE,
        {
            3: {("Volume", "Master"): "20"},
            0: {("Mute", "Master"): "1", ("PresetNameList", ""): "A"},
        },
    )
    assert text == (
        '<Event xmlns="urn:schemas-upnp-org:metadata-1-0/RCS/">'
        '<InstanceID val="0"><Mute channel="Master" val="1"/><PresetNameList val="A"/></InstanceID>'
        '<InstanceID val="3"><Volume channel="Master" val="20"/></InstanceID></Event>'
    )


def test_didl_metadata_is_escaped_into_val_and_read_back():
    didl = '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/"><item id="1">&amp;"</item></DIDL-Lite>'
    text = render_last_change(AVT_NAMESPACE, {0: {("CurrentTrackMetaData", ""): didl}})
    assert "<DIDL" not in text and "&lt;DIDL-Lite" in text
    namespace, changes = parse_last_change(text)
    assert namespace == AVT_NAMESPACE
    assert changes == {0: {("CurrentTrackMetaData", ""): didl}}


@given(
    st.dictionaries(
        st.integers(0, 2**31 - 1),
        st.dictionaries(
            st.tuples(
                st.sampled_from(["Volume", "Mute", "TransportState"]),
                st.sampled_from(["", "Master", "LF"]),
            ),
            st.text(
                st.characters(
                    codec="utf-8",
                    exclude_categories=("Cs", "Cc"),
                    exclude_characters="\ufffe\uffff",
                ),
                max_size=20,
            ),
            max_size=4,
        ),
        max_size=3,
    )
)
def test_render_and_parse_are_inverse(changes):
    assert parse_last_change(render_last_change(AVT_NAMESPACE, changes)) == (
        AVT_NAMESPACE,
        {k: v for k, v in changes.items()},
    )


def test_a_bad_name_or_value_is_refused_before_anything_is_kept():
    lc = LastChange(AVT_NAMESPACE)
    lc.add_instance(0)
    with pytest.raises(LocalProtocolError):
        lc.set(0, "Not a name", "x")
    with pytest.raises(LocalProtocolError):
        lc.set(0, "TransportState", "\x00")
    assert not lc.has_pending and lc.full() == (
        '<Event xmlns="urn:schemas-upnp-org:metadata-1-0/AVT/"><InstanceID val="0"></InstanceID></Event>'
    )


def test_not_an_event_document_is_a_remote_error():
    with pytest.raises(RemoteProtocolError):
        parse_last_change("<propertyset/>")
    with pytest.raises(RemoteProtocolError):
        parse_last_change('<!DOCTYPE x [<!ENTITY a "b">]><Event/>')


def test_moderation_first_change_at_once_then_one_value_per_window():
    lc = LastChange(RCS_NAMESPACE)  # Q2: 0.2 s
    lc.add_instance(0)
    assert lc.take(99.0) is None  # an instance without values is no change
    lc.set(0, "Volume", "0", channel="Master")
    assert lc.take(100.0) is not None  # the first change goes out at once
    lc.set(0, "Volume", "1", channel="Master")
    assert lc.next_deadline() == pytest.approx(100.2)
    assert lc.take(100.1) is None  # inside the window
    for volume in range(2, 50):
        lc.set(0, "Volume", str(volume), channel="Master")
    lc.set(0, "Mute", "1", channel="Master")
    assert lc.take(100.19) is None
    text = lc.take(100.2)
    assert parse_last_change(text or "")[1] == {
        0: {("Volume", "Master"): "49", ("Mute", "Master"): "1"}
    }
    assert lc.take(100.5) is None and lc.next_deadline() is None  # nothing pending
    lc.set(0, "Volume", "50", channel="Master")  # quiet for 0.3 s: out at once
    assert lc.take(100.5) is not None


def test_first_value_is_due_at_once_and_unchanged_values_are_no_change():
    lc = LastChange(AVT_NAMESPACE)
    lc.add_instance(0, {("TransportState", ""): "STOPPED"})
    assert lc.has_pending and lc.next_deadline() == float("-inf")
    assert lc.take(5.0) is not None
    assert lc.set(0, "TransportState", "STOPPED") is False
    assert not lc.has_pending


def test_initial_event_holds_every_instance_and_variable():
    lc = LastChange(AVT_NAMESPACE)
    lc.add_instance(0, {("TransportState", ""): "STOPPED", ("AVTransportURI", ""): ""})
    lc.add_instance(7, {("TransportState", ""): "PLAYING"})
    lc.take(1.0)
    lc.set(7, "TransportState", "PAUSED_PLAYBACK")
    assert parse_last_change(lc.full())[1] == {
        0: {("TransportState", ""): "STOPPED", ("AVTransportURI", ""): ""},
        7: {("TransportState", ""): "PAUSED_PLAYBACK"},
    }


def test_a_removed_instance_leaves_state_and_pending():
    lc = LastChange(AVT_NAMESPACE)
    lc.add_instance(0)
    lc.add_instance(4, {("TransportState", ""): "STOPPED"})
    lc.remove_instance(4)
    assert lc.instances() == [0]
    assert lc.take(0.0) is None  # only instance 4 had something pending
    with pytest.raises(ValueError, match="exists"):
        lc.add_instance(0)
    with pytest.raises(KeyError):
        lc.set(4, "TransportState", "PLAYING")


def test_merge_keeps_every_variable_later_wins():
    a = render_last_change(
        RCS_NAMESPACE, {0: {("Volume", "Master"): "10", ("Mute", "Master"): "0"}}
    )
    b = render_last_change(
        RCS_NAMESPACE, {0: {("Volume", "Master"): "11"}, 2: {("Mute", "Master"): "1"}}
    )
    merged = merge_last_change(a, b)
    assert parse_last_change(merged) == (
        RCS_NAMESPACE,
        {0: {("Volume", "Master"): "11", ("Mute", "Master"): "0"}, 2: {("Mute", "Master"): "1"}},
    )
    assert merge_last_change("not xml", b) == b


def _subscribe(table: SubscriberTable, state: dict[str, str]) -> str:
    headers = Headers([("CALLBACK", "<http://127.0.0.9:5/cb>"), ("NT", "upnp:event")])
    grant = table.subscribe(
        headers, peer="127.0.0.9", own=("127.0.0.1", 80), now=0.0, entropy=1, evented_state=state
    )
    return grant.sid


def test_a_subscriber_behind_hears_every_variable_that_changed():
    # Q4 with the GENA table: two LastChange values wait for one subscriber.
    table = SubscriberTable(GenaPolicy(), merges={"LastChange": merge_last_change})
    plain = SubscriberTable(GenaPolicy())
    first = render_last_change(RCS_NAMESPACE, {0: {("Volume", "Master"): "5"}})
    second = render_last_change(RCS_NAMESPACE, {0: {("Mute", "Master"): "1"}})
    for tab in (table, plain):
        sid = _subscribe(tab, {})
        tab.queue_changes({"LastChange": first, "Other": "a"})
        tab.queue_changes({"LastChange": second, "Other": "b"})
        message = tab.take_message(sid)
        assert message is not None
        if tab is table:
            assert parse_last_change(message.changes["LastChange"])[1] == {
                0: {("Volume", "Master"): "5", ("Mute", "Master"): "1"}
            }
        else:  # without the rule the later value replaces the earlier (E2)
            assert message.changes["LastChange"] == second
        assert message.changes["Other"] == "b"  # other variables: later wins, as always
