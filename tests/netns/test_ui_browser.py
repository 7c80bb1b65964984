"""``upnpcm ui`` in a real browser (Debian's chromium, headless, Playwright), inside the namespace.

On the network: our standard device and our renderer (``upnpcm serve``,
SSDP on d0), gmediarender and rygel (Debian), and for the load test a
process that announces 200 devices at once and a Ticker device that events
100 times a second (``ui_load.py``, SSDP on lo). The UI runs as ``upnpcm ui
--interface d0 --interface lo --port 0``, as a person would start it.

A person's path through the page: the devices appear; a tree opens; an
action called from its form shows its answer, the exact request and
response; a bad argument is refused before anything is sent; a subscription
shows its initial event, then a change another control point makes; the
matrix shows our server and our renderer compatible, with the matcher's
explanation, and negotiates; a check runs; a byebye removes a device. Each
state is saved as a screenshot (in a temporary directory, or in
``$UPNPCM_UI_SCREENSHOTS`` when set; never in the repository).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.browser import chromium
from tests.helpers.processes import start_serve, stop

UPNPCM = [sys.executable, "-m", "upnpcm"]
HERE = Path(__file__).resolve().parent


class World:
    """What the module starts: the devices, the UI, the browser page."""

    ui_url = ""
    ui_proc: subprocess.Popen[str]
    attic_port = 0
    kitchen: subprocess.Popen[str]
    page: object = None
    shots: Path = Path()

    def shot(self, name: str, focus=None) -> Path:
        """The page as it is now; ``focus`` (a locator) scrolled to the top of the view first."""
        if focus is not None:
            focus.evaluate("e => e.scrollIntoView({block: 'start'})")
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path

    def shot_of(self, page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    def stats(self) -> dict:
        with urllib.request.urlopen(self.ui_url + "api/stats", timeout=5) as reply:
            return json.loads(reply.read())


def _start_ui(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*UPNPCM, "ui", *args], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        match = re.search(r"UI at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    stop(proc)
    pytest.fail(f"upnpcm ui did not start: {''.join(seen)}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from tests.netns.peers import start_peers, stop_peers

    work = tmp_path_factory.mktemp("ui")
    peers = start_peers(work / "peers")
    w = World()
    shots = os.environ.get("UPNPCM_UI_SCREENSHOTS")
    w.shots = Path(shots) if shots else work / "screenshots"
    w.shots.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        for name, profile, state in (("Attic", "standard", "a"), ("Kitchen", "renderer", "k")):
            config = work / f"{state}.toml"
            config.write_text(f'[device]\nfriendly_name = "{name}"\n', encoding="utf-8")
            proc, match = start_serve(
                *("--profile", profile, "--host", "10.99.0.1", "--port", "0"),
                *("--interface", "d0", "--config", str(config)),
                *("--state-dir", str(work / state)),
            )
            procs.append(proc)
            if name == "Attic":
                w.attic_port = int(match.group(1))
            else:
                w.kitchen = proc
        w.ui_proc, w.ui_url = _start_ui("--interface", "d0", "--interface", "lo", "--port", "0")
        procs.append(w.ui_proc)
        with chromium(work / "profile") as browser:
            w.browser = browser
            w.page = browser.new_page()
            errors: list[str] = []
            w.page.on("pageerror", lambda exc: errors.append(str(exc)))
            w.peers = peers
            w.errors = errors
            yield w
            assert errors == [], errors  # no script error on the page, ever
    finally:
        for proc in procs:
            stop(proc)
        stop_peers(peers)


def device_row(page, name: str):
    return page.locator(
        ".device", has=page.locator(".name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def open_service(page, device: str, selector: str) -> None:
    device_row(page, device).click()
    page.locator(f'#tree .svc[data-selector="{selector}"]').click()
    page.wait_for_selector("#service")


def call(page, action: str, values: dict[str, str] | None = None):
    box = page.locator(f'details.action[data-action="{action}"]')
    if box.get_attribute("open") is None:
        box.locator("summary").click()
    for name, value in (values or {}).items():
        box.locator(f'[name="{name}"]').fill(value)
    box.locator("button[type=submit]").click()
    box.locator(".call-result .outcome").wait_for()
    return box


def another_client_prepares(world) -> int:
    """`upnpcm call` (another control point) prepares a connection on Attic's server: its ID."""
    other = subprocess.run(
        [*UPNPCM, "call", f"10.99.0.1:{world.attic_port}", "MS/CM", "PrepareForConnection",
         "RemoteProtocolInfo=http-get:*:audio/mpeg:*", "PeerConnectionManager=",
         "PeerConnectionID=-1", "Direction=Output"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    return int(json.loads(other.stdout)["ConnectionID"])


def test_the_devices_appear(world):
    page = world.page
    page.goto(world.ui_url)
    for name in ("Attic", "Kitchen", "upnpcm-gmr"):
        device_row(page, name).wait_for(timeout=30_000)
    attic = device_row(page, "Attic")
    text = attic.inner_text()
    assert "10.99.0.1" in text and "BOOTID" in text and "seen" in text
    assert "Basic" in text and "upnpcm ConnectionManager" in text
    assert page.locator("#live").inner_text() == "live"
    world.shot("devices")


def test_a_device_tree_opens(world):
    page = world.page
    device_row(page, "Attic").click()
    tree = page.locator("#tree")
    tree.wait_for()
    assert (
        "Attic - MediaRenderer" in tree.inner_text() and "Attic - MediaServer" in tree.inner_text()
    )
    assert page.locator("#tree .svc").all_inner_texts() == [
        "ConnectionManager:1 (MR/CM)",
        "ConnectionManager:1 (MS/CM)",
    ]
    page.locator('#tree .svc[data-selector="MR/CM"]').click()
    variables = page.locator("#variables tbody tr")
    assert "A_ARG_TYPE_Direction" in page.locator("#variables").inner_text()
    direction = page.locator("#variables tr", has_text="A_ARG_TYPE_Direction").inner_text()
    assert "Input, Output" in direction
    assert variables.count() >= 10
    world.shot("tree")


def test_get_protocol_info_from_the_form_shows_the_sink_list(world):
    page = world.page
    for device, selector in (("Attic", "MR/CM"), ("upnpcm-gmr", "CM")):
        open_service(page, device, selector)
        box = call(page, "GetProtocolInfo")
        assert box.locator(".outcome").inner_text() == "OK"
        sink = box.locator('.values tr[data-name="Sink"] td').inner_text()
        assert "http-get:*:audio/mpeg" in sink
        request = box.locator("pre.request").inner_text()
        assert request.startswith("POST ") and "GetProtocolInfo" in request
        assert box.locator("pre.response").inner_text().startswith("HTTP/1.1 200")
        if device == "Attic":
            world.shot("call", focus=box)  # the answer, the exact request and response


def test_a_bad_argument_is_refused_before_sending(world):
    page = world.page
    open_service(page, "Attic", "MR/CM")
    box = call(page, "GetCurrentConnectionInfo", {"ConnectionID": "not-a-number"})
    assert "refused before sending" in box.locator(".outcome").inner_text()
    assert "is not a valid i4" in box.locator(".call-result").inner_text()
    assert box.locator("pre.request").inner_text() == "(nothing was sent)"
    box = call(page, "PrepareForConnection", {"PeerConnectionID": "1", "RemoteProtocolInfo": "x"})
    assert box.locator("select[name=Direction]").evaluate(
        "e => [...e.options].map(o => o.value)"
    ) == [
        "Input",
        "Output",
    ]


def test_subscribing_shows_the_initial_event_then_another_clients_change(world):
    page = world.page
    open_service(page, "Attic", "MS/CM")
    page.locator("#subscribe").click()
    card = page.locator(".sub", has_text="Attic · MediaServer/ConnectionManager")
    first = card.locator("tr.ev[data-kind=event]").last
    first.wait_for()
    assert first.locator("td").nth(2).inner_text() == "0"  # SEQ 0: the initial event
    assert "SourceProtocolInfo" in first.inner_text()
    connection = another_client_prepares(world)
    change = card.locator("tr.ev[data-kind=event]", has_text="CurrentConnectionIDs").first
    change.locator(".var", has_text=f"CurrentConnectionIDs = {connection}").wait_for()
    assert change.locator("td").nth(2).inner_text() == "1"
    assert card.locator(
        'table.current tr[data-name="CurrentConnectionIDs"] td'
    ).inner_text() == str(connection)
    assert "renewals" in card.inner_text() and "SID uuid:…" in card.inner_text()
    # gmediarender's AVTransport: its LastChange is shown decoded
    open_service(page, "upnpcm-gmr", "AVT")
    page.locator("#subscribe").click()
    gmr = page.locator(".sub", has_text="upnpcm-gmr · MediaRenderer/AVTransport")
    gmr.locator("table.lastchange td", has_text="TransportState").first.wait_for()
    world.shot("subscriptions")


def test_the_matrix_shows_our_server_and_renderer_compatible(world):
    page = world.page
    page.locator('.tab[data-view="matrix"]').click()
    page.locator("#matrix").wait_for()
    row = page.locator("#matrix tbody tr", has_text="Attic - MediaServer (MS/CM)")
    headers = page.locator("#matrix thead th").all_inner_texts()
    column = headers.index("Kitchen (CM)")
    cell = row.locator("td").nth(column - 1)
    assert "yes" in (cell.get_attribute("class") or "")
    assert cell.inner_text().startswith("✓ audio/mpeg")
    cell.click()
    explanation = page.locator("#cell .explain")
    explanation.wait_for()
    lines = explanation.locator("li").all_inner_texts()
    assert lines[0].startswith("best: http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    assert "protocol: http-get = http-get" in lines and "mime: audio/mpeg = audio/mpeg" in lines
    assert "dlna_profile: MP3 = MP3" in lines
    assert "compatible" in page.locator("#cell h3").inner_text()
    page.locator("#negotiate").click()
    page.locator("#negotiation .outcome.ok").wait_for()
    assert "renderer ConnectionID" in page.locator("#negotiation").inner_text()
    page.locator("#negotiated").wait_for()
    world.shot("matrix")
    page.locator("#negotiated button").click()  # ConnectionComplete on both
    page.locator("#negotiated").wait_for(state="detached")


def test_check_runs_on_a_device(world):
    page = world.page
    device_row(page, "Kitchen").click()
    page.locator("#check-no-changes").check()
    page.locator("#run-check").click()
    page.locator("#check-rows tbody tr").first.wait_for()
    page.locator("#check-state", has_text=re.compile("^done$")).wait_for(timeout=90_000)
    rows = page.locator("#check-rows tbody tr")
    assert rows.count() > 20
    failed = page.locator("#check-rows tr", has=page.locator("td.st-FAIL")).all_inner_texts()
    assert failed == []  # our renderer passes
    assert re.search(
        r"\d+ passed, \d+ warnings?, 0 failed", page.locator("#check-summary").inner_text()
    )
    world.shot("check")


def test_the_devices_status_page_is_live(world):
    """Our device's /status in the browser: the UI's subscription listed, and it updates itself."""
    page = world.browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(f"http://10.99.0.1:{world.attic_port}/status")
        subscriptions = page.locator("#subscriptions")
        assert "MediaServer/ConnectionManager" in subscriptions.inner_text()
        assert "10.99.0.1:" in subscriptions.inner_text() and "uuid:…" in subscriptions.inner_text()
        before = page.locator("#events tr").count()
        connection = another_client_prepares(world)
        changed = re.compile(rf"CurrentConnectionIDs=[0-9,]*\b{connection}\b")
        page.locator("#events tr", has_text=changed).first.wait_for()  # without a reload
        page.locator("#connections tr", has_text="Output").first.wait_for()
        page.wait_for_timeout(2500)  # one more refresh: the tail grew without a reload
        assert page.locator("#events tr").count() > before
        assert str(connection) in page.locator("#connections").inner_text()
        world.shot_of(page, "status")
        assert errors == []  # the inline script ran: its hash is in the CSP
    finally:
        page.close()


def test_a_byebye_removes_the_device(world):
    page = world.page
    device_row(page, "Kitchen").wait_for()
    assert stop(world.kitchen) == 0  # SIGTERM: it says byebye first
    device_row(page, "Kitchen").wait_for(state="detached", timeout=10_000)
    device_row(page, "Attic").wait_for()


def test_200_devices_at_once_and_100_events_a_second_keep_the_page_responsive(world, tmp_path):
    page = world.page
    load = subprocess.Popen(
        [sys.executable, str(HERE / "ui_load.py"), str(tmp_path / "ticker")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    try:
        assert load.stdout is not None and load.stdin is not None
        assert world.ui_proc.poll() is None, world.ui_proc.stderr.read()
        ready = load.stdout.readline()
        assert ready.startswith("READY "), ready + (load.stderr.read() if load.stderr else "")
        rss_before = world.stats()["rss"]
        device_row(page, "Ticker").wait_for(timeout=30_000)
        open_service(page, "Ticker", "T")
        page.locator("#subscribe").click()
        card = page.locator(".sub", has_text="Ticker · Ticker/Ticker")
        card.locator("tr.ev[data-kind=event]").first.wait_for()
        load.stdin.write("GO\n")  # 200 devices announce themselves at once…
        load.stdin.flush()
        assert load.stdout.readline().strip() == "SENT 400"
        # …while the Ticker events 100 times a second for 6 s (called from its form)
        open_service(page, "Ticker", "T")
        call(page, "Burst", {"Rate": "100", "Seconds": "6"})
        page.locator('.tab[data-view="subscriptions"]').click()
        card.locator("tr.ev").first.wait_for()
        page.evaluate(
            """() => {
              window.__latency = [];
              const view = document.getElementById('view');
              let seen = Math.max(0, ...[...view.querySelectorAll('tr.ev')].map((r) => Number(r.dataset.n)));
              new MutationObserver((records) => {
                const now = Date.now();
                for (const r of records) for (const node of r.addedNodes) {
                  if (!node.dataset || !node.dataset.n || Number(node.dataset.n) <= seen) continue;
                  seen = Number(node.dataset.n);
                  const tick = node.querySelector('.var[data-name="Tick"]');
                  if (tick) window.__latency.push(now - Number(tick.textContent.split('= ')[1]));
                }
              }).observe(view, {childList: true, subtree: true});
            }"""
        )
        page.locator("#devices .device >> nth=200").wait_for(timeout=30_000)
        time.sleep(6.5)
        latency = page.evaluate("window.__latency")
        world.shot("load")
        stats = world.stats()
        rss_after = stats["rss"]
        latency.sort()
        p95 = latency[int(len(latency) * 0.95)]
        print(
            f"\nUI under load: {len(latency)} events shown, latency median {latency[len(latency) // 2]} ms, "
            f"p95 {p95} ms, max {latency[-1]} ms; devices {stats['devices']}; "
            f"RSS {rss_before >> 20} → {rss_after >> 20} MiB"
        )
        assert len(latency) >= 250  # most of the 500 events were shown one by one
        assert p95 < 500, latency[-20:]
        assert stats["devices"] >= 203 and stats["perPeer"] <= stats["limits"]["maxDevicesPerPeer"]
        assert stats["maxTail"] <= stats["limits"]["eventTail"]
        assert card.locator("tbody.events > tr").count() == 200  # the page keeps a bounded tail
        assert stats["cutOffs"] == 0 and stats["queued"] < 100
        assert rss_after - rss_before < 150 * 1024 * 1024
        load.stdin.write("BYE\n")
        load.stdin.flush()
        assert load.stdout.readline().strip() == "SENT 400"
        device_row(page, "Load device 199").wait_for(state="detached", timeout=10_000)
        assert world.stats()["devices"] < 10
    finally:
        if load.poll() is None and load.stdin is not None:
            load.stdin.write("QUIT\n")
            load.stdin.close()
        try:
            load.wait(timeout=15)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
        for pipe in (load.stdin, load.stdout, load.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
