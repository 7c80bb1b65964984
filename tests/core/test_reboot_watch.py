"""The C5 decision: when SSDP news restarts a watched device's subscriptions."""

from __future__ import annotations

from upnpcm.core.subscription import RebootWatch

UDN = "uuid:RINCON_000E58C0FFEE01400"


def watching() -> RebootWatch:
    watch = RebootWatch()
    watch.watch(UDN)
    return watch


def test_first_boot_id_is_learnt_not_a_restart() -> None:
    watch = watching()
    assert watch.observe(UDN, "alive", 7) is None
    assert watch.observe(UDN, "response", 7) is None


def test_a_changed_boot_id_restarts_once() -> None:
    watch = watching()
    watch.observe(UDN, "alive", 7)
    assert watch.observe(UDN, "update", 8) == "BOOTID.UPNP.ORG changed 7 -> 8"
    assert watch.observe(UDN, "alive", 8) is None


def test_alive_after_byebye_restarts_once() -> None:
    watch = watching()
    watch.observe(UDN, "alive", None)
    assert watch.observe(UDN, "byebye", None) is None
    assert watch.observe(UDN, "alive", None) == (
        "the device announced itself again after ssdp:byebye"
    )
    assert watch.observe(UDN, "alive", None) is None


def test_back_after_byebye_with_a_new_boot_id_restarts_once() -> None:
    watch = watching()
    watch.observe(UDN, "alive", 1)
    watch.observe(UDN, "byebye", 1)
    assert watch.observe(UDN, "alive", 2) is not None
    assert watch.observe(UDN, "alive", 2) is None


def test_unwatched_devices_are_ignored_and_kept_nowhere() -> None:
    watch = RebootWatch()
    for n in range(1000):
        assert watch.observe(f"uuid:other-{n}", "byebye", n) is None
        assert watch.observe(f"uuid:other-{n}", "alive", n + 1) is None
    assert not watch._boot_ids
    assert not watch._gone


def test_unwatch_forgets_what_was_seen() -> None:
    watch = watching()
    watch.observe(UDN, "alive", 1)
    watch.observe(UDN, "byebye", 1)
    watch.unwatch(UDN)
    watch.watch(UDN)
    assert watch.observe(UDN, "alive", 2) is None
