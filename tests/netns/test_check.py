"""`upnpcm check` with its discovery suite, inside the isolated namespace.

Our device (both profiles) passes every check, alive/byebye/BOOTID included
(it restarts while the checker listens); each SSDP switch of the scripted
device fails its check and no other discovery check; real peers
(gmediarender, rygel) show their violations, each with its reason.
"""

import asyncio

import pytest

from tests.check.conftest import shown, violations
from tests.check.misbehaving import DEFECTS, ScriptedDevice
from tests.check.test_our_device import SONOS_WARNINGS
from upnpcm.check import CheckOptions, Result, Status, run_checks
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

LISTEN = 2.5


async def check(url: str, *, restart=None, **options: object) -> list[Result]:
    """Every row of a run; ``restart`` (a coroutine function) runs once the checker listens."""
    rows: list[Result] = []
    started: list[asyncio.Task[None]] = []

    def progress(suite: str, check_id: str, text: str) -> None:
        if restart is not None and not started and text.startswith("listening"):
            started.append(asyncio.get_running_loop().create_task(restart()))

    opts = {"timeout": 8.0, **options}
    await run_checks(url, CheckOptions(**opts), on_result=rows.append, on_progress=progress)  # type: ignore[arg-type]
    for task in started:
        await task
    return rows


@pytest.mark.parametrize("profile", ["standard", "sonos"])
async def test_our_device_passes_every_check_with_discovery(profile, tmp_path):
    def host(port: int) -> DeviceHost:
        settings = DeviceSettings(
            host=("127.0.0.1",), port=port, interfaces=("lo",), profile=profile
        )
        return DeviceHost(settings, state_dir=tmp_path)

    device = host(0)
    await device.start()
    port = device.port

    async def restart() -> None:
        nonlocal device
        await asyncio.sleep(0.3)
        await device.stop()
        device = host(port)
        await device.start()

    try:
        rows = await check(
            device.description_url("127.0.0.1"), restart=restart, interfaces=("lo",), listen=LISTEN
        )
    finally:
        await device.stop()
    assert not [r for r in rows if r.status is Status.FAIL], shown(rows)
    assert set(violations(rows)) == (set(SONOS_WARNINGS) if profile == "sonos" else set()), shown(
        rows
    )
    passed = {r.check for r in rows if r.status is Status.PASS}
    assert {c for c in DEFECTS if c.startswith("ssdp.")} <= passed  # alive, byebye, BOOTID heard


async def _discovery(defect: str | None, tmp_path, *, restart: bool) -> list[Result]:
    device = ScriptedDevice(defect, tmp_path / (defect or "good"), ssdp_interface="lo")
    await asyncio.to_thread(device.start)

    async def again() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(device.restart)

    try:
        return await check(
            device.url,
            restart=again if restart else None,
            interfaces=("lo",),
            listen=LISTEN if restart else 0.0,
            only=("discovery",),
        )
    finally:
        await asyncio.to_thread(device.stop)


async def test_the_scripted_device_passes_discovery_when_it_behaves(tmp_path):
    rows = await _discovery(None, tmp_path, restart=True)
    assert violations(rows) == {}, shown(rows)
    assert all(r.status is Status.PASS for r in rows), shown(rows)


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d.startswith("ssdp.")])
async def test_each_ssdp_defect_fails_its_check_and_no_other(defect, tmp_path):
    announced = defect in ("ssdp.alive", "ssdp.byebye")
    rows = await _discovery(defect, tmp_path, restart=announced)
    found = violations(rows)
    assert set(found) == {defect}, shown(rows)
    want = Status.WARN if defect == "ssdp.max-age" else Status.FAIL
    assert want in {r.status for r in found[defect]}, shown(found[defect])


# --------------------------------------------------------------------------- real peers


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    from tests.netns.peers import start_peers, stop_peers

    started = start_peers(tmp_path_factory.mktemp("check-peers"))
    yield started
    stop_peers(started)


#: check ID -> why the peer violates it (gmediarender 0.1 on libupnp 1.8.4, Debian).
GMEDIARENDER = {
    # The two defects the issue names:
    "cm.unknown-id": "GetCurrentConnectionInfo of any ID answers 200 with ProtocolInfo ':::' instead of 706",
    "ssdp.location": "its announcements leave from another address (10.99.0.2) than LOCATION's "
    "host: libupnp multicasts without binding the interface's address (a WARN)",
    # Found by the checker, each verified by hand against the captures in tests/fixtures/gmediarender:
    "desc.cm-scpd": "PrepareForConnection is listed but ConnectionComplete is not (commented out upstream)",
    "ctl.read-actions": "GetDeviceCapabilities, GetTransportSettings and GetVolumeDB answer other out-arguments than their SCPD lists",
    "ctl.unknown-action": "an unknown action is answered 501, not 401",
    "ctl.missing-argument": "a missing argument is answered 501, not 402",
    "ctl.wrong-type": "arguments are not type-checked: 'upnpcm-not-a-ui4' is read as 0",
    "ctl.out-of-range": "allowedValueLists are not enforced: Channel=upnpcm-not-allowed is answered 200",
    "gena.initial-event-complete": "the ConnectionManager's initial event holds only LastChange",
    "gena.nt": "libupnp answers a SUBSCRIBE without NT 400, not 412",
    "gena.callstranger": "libupnp accepts any callback on the same subnet (a WARN: it claims UDA 1.0)",
    "ssdp.reply-delay": "every reply leaves at once, not spread over MX (a WARN)",
    "ssdp.max-age": "max-age=100, below 1800 (a WARN)",
}
#: rygel 0.42 (GUPnP 1.6), MediaServer and MediaRenderer.
RYGEL_SERVER = {
    "gena.callstranger": "GUPnP accepts any callback it can reach (a WARN: it claims UDA 1.0)",
    "gena.notify-unanswered": "while a NOTIFY to us is unanswered, the next one to us waits (a WARN)",
}
RYGEL_RENDERER = {
    **RYGEL_SERVER,
    "ctl.missing-argument": "GetMute without Channel is answered 703 Invalid Channel, not 402",
    "ctl.out-of-range": "a Channel outside the list gets RenderingControl's own 703, not 601 (a WARN)",
}
WARN_ONLY = {
    "ssdp.location",
    "gena.callstranger",
    "ssdp.reply-delay",
    "ssdp.max-age",
    "gena.notify-unanswered",
}


@pytest.mark.peer
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmediarender", GMEDIARENDER),
        ("rygel_server", RYGEL_SERVER),
        ("rygel_renderer", RYGEL_RENDERER),
    ],
)
async def test_real_peers(peers, name, expected):
    from tests.netns.peers import restart_gmediarender

    async def restart() -> (
        None
    ):  # gmediarender says byebye and alive again (rygel only every 15 min)
        await asyncio.to_thread(restart_gmediarender, peers)

    if name == "gmediarender":
        rows = await check(peers.need(name), interfaces=("d0",), restart=restart, listen=6.0)
    else:
        rows = await check(peers.need(name), interfaces=("d0",))
    found = violations(rows)
    assert set(found) == set(expected), shown(rows)
    for check_id, results in found.items():
        statuses = {r.status for r in results}
        if check_id in WARN_ONLY or (check_id == "ctl.out-of-range" and name == "rygel_renderer"):
            assert statuses == {Status.WARN}, shown(results)
        else:
            assert Status.FAIL in statuses, shown(results)
