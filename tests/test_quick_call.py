"""``upnpcm call`` in its plain form runs without click and asyncio, and says what click says.

Every case runs twice as a process: the quick way (the default) and through
click and asyncio (``UPNPCM_QUICK=0``); exit code, stdout and stderr must be
the same, byte for byte.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import warnings

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_fixture
from tests.helpers.fake_http import FakeHttp
from tests.helpers.processes import run_upnpcm
from upnpcm.cli.quick import PlainCall, plain_call
from upnpcm.core.soap import build_fault


async def both_ways(*args: str) -> tuple[int | None, str, str]:
    """Run ``upnpcm ARGS`` quickly and through click; assert they agree; the outcome."""
    quick, clicked = await asyncio.gather(
        run_upnpcm(*args), run_upnpcm(*args, env={"UPNPCM_QUICK": "0"})
    )
    assert quick == clicked, (args, quick, clicked)
    return quick


def free_port() -> int:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return int(spare.getsockname()[1])


async def test_answers_faults_and_refusals_are_the_same_both_ways(device) -> None:
    url = device.description_url("127.0.0.1")
    hostport = url.removeprefix("http://").split("/")[0]
    outcomes = []
    for fmt in ("--json", "--text"):
        outcomes += [
            await both_ways("call", url, "MR/CM", "GetProtocolInfo", fmt),
            await both_ways(
                fmt,
                "call",
                f"{hostport}/xml/device_description.xml",
                "MR/CM",
                "GetCurrentConnectionIDs",
            ),
            await both_ways(
                "call", url, "MR/CM", "GetCurrentConnectionInfo", "ConnectionID=7", fmt
            ),
            await both_ways(
                "call", url, "MR/CM", "GetCurrentConnectionInfo", "ConnectionID=x", fmt
            ),
            await both_ways("call", url, "MR/CM", "Nothing", fmt),
            await both_ways("call", url, "CM", "GetProtocolInfo", fmt),
            await both_ways("call", url, "MR/CM", "GetProtocolInfo", "Extra=1", fmt),
            await both_ways("call", url.replace(".xml", ".xm"), "MR/CM", "GetProtocolInfo", fmt),
            await both_ways("call", f"127.0.0.1:{free_port()}", "CM", "GetProtocolInfo", fmt),
        ]
    codes = [code for code, _, _ in outcomes[:9]]
    assert codes == [0, 0, 1, 2, 2, 2, 2, 3, 3]
    assert '"Sink": "http-get:' in outcomes[0][1]
    assert "UPnP error 706" in outcomes[2][2]  # what the device answered, as it said it
    assert outcomes[9][1].startswith("Source: \nSink: http-get:")  # --text: lines, not JSON


async def test_what_click_reads_differently_is_left_to_click(device) -> None:
    url = device.description_url("127.0.0.1")
    code, _, err = await both_ways("call", url, "MR/CM", "GetCurrentConnectionInfo", "ConnectionID")
    assert code == 2 and "Name=Value" in err
    code, _, err = await both_ways("call", url, "MR/CM", "Nothing", "A=1", "A=2")
    assert code == 2 and "given twice" in err


async def test_faults_without_text_http_errors_and_slow_answers_read_the_same() -> None:
    async def fault(request: web.Request) -> web.Response:
        return web.Response(status=500, body=build_fault(402, None), content_type="text/xml")

    async def plain_500(request: web.Request) -> web.Response:
        return web.Response(status=503, text="503 busy\r\n\x1b[31mred\x1b[0m")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2.3)  # past the 2 s after which a note says what is awaited
        return web.Response(body=load_fixture("sonos", "ConnectionManager1.xml"))

    routes = {
        "/xml/device_description.xml": load_fixture("sonos", "device_description.xml"),
        "/xml/ConnectionManager1.xml": slow,
        "/MediaRenderer/ConnectionManager/Control": fault,
        "/MediaServer/ConnectionManager/Control": plain_500,
    }
    async with FakeHttp(routes) as fake:
        url = fake.url("/xml/device_description.xml")
        no_text = await both_ways(
            "call", url, "MR/CM", "GetCurrentConnectionInfo", "ConnectionID=0"
        )
        busy = await both_ways("call", url, "MS/CM", "GetProtocolInfo", "--text")
    assert no_text[0] == 1 and '"code": 402' in no_text[1]
    assert "still waiting for GET" in no_text[2]
    assert busy[0] == 3 and "503" in busy[2] and "\x1b" not in busy[2]


def test_only_the_plain_form_is_read() -> None:
    plan = plain_call(["--text", "call", "192.0.2.7", "AVT", "Play", "InstanceID=0", "Speed=1"])
    assert plan == PlainCall(
        "http://192.0.2.7:1400/xml/device_description.xml",
        "AVT",
        "Play",
        {"InstanceID": "0", "Speed": "1"},
        "text",
    )
    assert plain_call(["--text", "call", "http://h/d.xml", "CM", "X", "--text"]).format == "text"
    for other in (
        ["describe", "192.0.2.7", "CM", "X"],
        ["call", "192.0.2.7", "CM"],  # too few: click says what is missing
        ["call", "uuid:abc", "CM", "X"],  # found by SSDP first
        ["-D", "call", "192.0.2.7", "CM", "X"],
        ["call", "192.0.2.7", "CM", "X", "--timeout", "3"],
        ["call", "192.0.2.7", "CM", "X", "-h"],
        ["call", "192.0.2.7", "CM", "X", "Volume"],  # not NAME=VALUE
        ["call", "192.0.2.7", "CM", "X", "=1"],
        ["call", "192.0.2.7", "CM", "X", "A=1", "A=2"],
        ["--json", "call", "192.0.2.7", "CM", "X", "--text"],  # both: click's order decides
    ):
        assert plain_call(other) is None, other


def test_the_switch_sends_everything_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPNPCM_QUICK", "0")
    assert plain_call(["call", "192.0.2.7", "CM", "X"]) is None


def test_the_quick_way_imports_neither_click_nor_asyncio() -> None:
    port = free_port()  # nothing listens: the call fails, as quickly and as lightly
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "upnpcm",
            "call",
            f"127.0.0.1:{port}",
            "CM",
            "X",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert out.returncode == 3 and "Connection refused" in out.stderr
    assert {"upnpcm.blocking", "upnpcm.cli.quick"} <= imported
    assert not {"click", "asyncio", "aiohttp"} & imported


TARGETS = st.sampled_from(
    ["192.0.2.7", "192.0.2.7:1400", "[2001:db8::7]:1400", "2001:db8::7", "h/d.xml", "uuid:x"]
)
NAMES = st.sampled_from(["MR/CM", "CM", "GetProtocolInfo", "A=1", "x"])
PAIRS = st.builds(
    "{}={}".format, st.sampled_from(["", "A", "ConnectionID"]), st.sampled_from(["", "0", "x=y"])
)
FLAGS = st.sampled_from(["--json", "--text", "--json", "--text", "-D", "--timeout", "3", "Volume"])


@st.composite
def call_lines(draw: st.DrawFn) -> list[str]:
    """A ``call`` command line, with options and stray words anywhere."""
    words = ["call", draw(TARGETS), draw(NAMES), draw(NAMES), *draw(st.lists(PAIRS, max_size=3))]
    for flag in draw(st.lists(FLAGS, max_size=3)):
        words.insert(draw(st.integers(0, len(words))), flag)
    return words


def read_by_click(argv: list[str]) -> PlainCall:
    """What click makes of ``argv`` as a ``call``, in PlainCall's terms."""
    from upnpcm.cli import cli
    from upnpcm.cli.common import Settings, parse_assignments
    from upnpcm.cli.plain import url_of

    group = cli.make_context("upnpcm", list(argv))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 9 folds these into args
        name, *rest = [*group.protected_args, *group.args]
    command = cli.get_command(group, name)
    assert command is not None and command.name == "call"
    call = command.make_context(name, rest, parent=group)
    params = call.params
    with call:
        arguments = parse_assignments(params["arguments"])
    url = url_of(params["target"])
    assert url is not None
    chosen = call.ensure_object(Settings).format  # --json/--text, wherever they were written
    return PlainCall(url, params["service"], params["action"], arguments, chosen)


@settings(max_examples=300, deadline=None)
@given(call_lines())
def test_what_the_quick_way_reads_click_reads_the_same(argv: list[str]) -> None:
    plan = plain_call(argv)
    if plan is not None:  # else click has it all: nothing to compare
        assert read_by_click(argv) == plan
