"""The upnpcm CLI: click's runner and real subprocesses, against a served device on loopback."""

import asyncio
import json
import re
import signal
import subprocess
import sys
import time

import pytest
from aiohttp import web
from click.testing import CliRunner

from tests.conftest import load_fixture
from tests.helpers.fake_http import FakeHttp
from tests.helpers.net import ipv6_loopback
from tests.helpers.processes import run_upnpcm as upnpcm
from tests.helpers.processes import start_serve, stop
from upnpcm.cli import cli
from upnpcm.cli.common import reply_location


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    proc, match = start_serve(
        "--host", "127.0.0.1", "--port", "0", "--no-ssdp", "--state-dir", str(state)
    )
    yield f"127.0.0.1:{match.group(1)}"
    stop(proc)


def run_process(*args, timeout=60):
    """``python -m upnpcm ARGS`` as a real process, stdout and stderr piped."""
    return subprocess.run(
        [sys.executable, "-m", "upnpcm", *args], capture_output=True, text=True, timeout=timeout
    )


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="upnpcm")
    return result.exit_code, result.stdout, result.stderr


def test_help_documents_exit_codes():
    code, out, _ = run("--help")
    assert code == 0
    assert "Exit codes: 0 ok; 1 UPnP error" in out
    for command in ("discover", "describe", "call", "eventlog", "serve"):
        assert f"\n  {command} " in out
    assert "\n  subscribe " not in out  # an alias of eventlog: not listed as a command


def test_every_command_module_is_registered():
    # A command (or alias) of a module in cli/ missing from _COMMANDS would silently not exist.
    import importlib
    import pkgutil

    import upnpcm.cli

    commands, aliases = {}, {}
    for info in pkgutil.iter_modules(upnpcm.cli.__path__, "upnpcm.cli."):
        if info.name == "upnpcm.cli.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, command in getattr(module, "COMMANDS", {}).items():
            commands[name] = info.name.rpartition(".")[2]
            assert cli.get_command(None, name) is command, name
        aliases.update(getattr(module, "ALIASES", {}))
    assert commands == upnpcm.cli._COMMANDS
    assert aliases == upnpcm.cli._ALIASES
    assert cli.list_commands(None) == list(upnpcm.cli._COMMANDS)  # --help lists them so


def test_a_command_imports_only_its_own_module():
    """`upnpcm call` through click starts without the checker, the player or the server."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from upnpcm.cli import cli\n"
        "cli.get_command(None, 'call')\n"
        "print(sorted(m for m in sys.modules if m.startswith('upnpcm.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['upnpcm.cli.common', 'upnpcm.cli.devices', 'upnpcm.cli.plain']"


def test_call_prints_json_out_arguments(served):
    code, out, _ = run("call", served, "MR/CM", "GetProtocolInfo")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"Source", "Sink"}
    assert "http-get:*:audio/flac:*" in data["Sink"]


@pytest.mark.parametrize(
    "target_form",
    ["{t}", "http://{t}/xml/device_description.xml", "{t}/xml/device_description.xml"],
)
def test_target_forms(served, target_form):
    code, out, _ = run("call", target_form.format(t=served), "MS/CM", "GetCurrentConnectionIDs")
    assert (code, json.loads(out)) == (0, {"ConnectionIDs": ""})


def test_text_output(served):
    code, out, _ = run("--text", "call", served, "MediaServer/ConnectionManager", "GetProtocolInfo")
    assert code == 0
    assert out.startswith("Source: http-get:")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["GetCurrentConnectionInfo", "ConnectionID=9"], 1, "UPnP error 706"),
        (["GetCurrentConnectionInfo", "ConnectionID=x"], 2, "not a valid i4"),
        (["GetCurrentConnectionInfo"], 2, "missing argument ConnectionID"),
        (["Nope"], 2, "has no action 'Nope'"),
        (["GetCurrentConnectionInfo", "ConnectionID"], 2, "Name=Value"),
    ],
)
def test_errors_and_exit_codes(served, args, code, message):
    got, _, err = run("call", served, "MR/CM", *args)
    assert got == code
    assert message in err


def test_unknown_service_and_unreachable_device(served):
    code, _, err = run("call", served, "AVTransport", "Play")
    assert code == 2 and "no service 'AVTransport'" in err
    code, _, err = run("call", "127.0.0.1:9", "ConnectionManager", "GetProtocolInfo")
    assert code == 3 and "cannot connect" in err


def test_prepare_and_complete_round_trip(served):
    code, out, _ = run(
        "call",
        served,
        "MediaRenderer/ConnectionManager",
        "PrepareForConnection",
        "RemoteProtocolInfo=http-get:*:audio/mpeg:*",
        "PeerConnectionManager=",
        "PeerConnectionID=-1",
        "Direction=Input",
    )
    assert code == 0
    connection = json.loads(out)["ConnectionID"]
    assert (
        run(
            "call",
            served,
            "MediaRenderer/ConnectionManager",
            "ConnectionComplete",
            f"ConnectionID={connection}",
        )[0]
        == 0
    )


def test_describe_with_scpd(served):
    code, out, _ = run("describe", served, "-S")
    assert code == 0
    data = json.loads(out)
    renderer = data["device"]["devices"][0]
    assert renderer["deviceType"] == "urn:schemas-upnp-org:device:MediaRenderer:1"
    scpd = renderer["services"][0]["scpd"]
    assert "PrepareForConnection" in {a["name"] for a in scpd["actions"]}
    code, out, _ = run("describe", served)
    assert "scpd" not in json.dumps(json.loads(out))


def test_debug_levels_on_stderr(served):
    _, _, one = run("-D", "call", served, "MR/CM", "GetCurrentConnectionIDs")
    assert re.search(r"POST http://\S+/MediaRenderer/ConnectionManager/Control -> 200", one)
    assert "result" not in one
    _, _, two = run("-DD", "call", served, "MR/CM", "GetCurrentConnectionIDs")
    assert (
        "result MediaRenderer/ConnectionManager GetCurrentConnectionIDs {'ConnectionIDs': ''}"
        in two
    )
    assert "<s:Envelope" not in two
    _, _, three = run("-DDD", "call", served, "MR/CM", "GetCurrentConnectionIDs")
    assert "<s:Envelope" in three and "<u:GetCurrentConnectionIDsResponse" in three


def test_subscribe_streams_ndjson_and_unsubscribes(served):
    code, out, _ = run(
        "subscribe",
        served,
        "MediaRenderer/ConnectionManager",
        "--duration",
        "1.5",
        "--bind",
        "127.0.0.1",
    )
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "subscribed"
    event = next(r for r in records if r["type"] == "event")
    assert event["seq"] == 0 and set(event["variables"]) == {
        "SourceProtocolInfo",
        "SinkProtocolInfo",
        "CurrentConnectionIDs",
    }
    assert kinds[-1] == "unsubscribed"
    assert event["service"] == "MediaRenderer/ConnectionManager"


def test_real_subprocess_call_and_eventlog(served):
    result = run_process("call", served, "MR/CM", "GetCurrentConnectionIDs")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"ConnectionIDs": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "upnpcm", "eventlog", served, "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert json.loads(first)["type"] == "subscribed"
        assert json.loads(second)["type"] in ("event", "subscribed")
        proc.send_signal(2)  # SIGINT: unsubscribe and leave
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert '"unsubscribed"' in out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_protocolinfo_parse_and_match():
    code, out, _ = run(
        "protocolinfo", "parse", "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3;DLNA.ORG_OP=01,broken,"
    )
    data = json.loads(out)
    assert code == 0
    assert data["entries"][0]["dlna"]["profile"] == "MP3"
    assert data["entries"][0]["dlna"]["byteSeek"] is True
    assert data["invalid"] == [
        {"index": 1, "text": "broken", "reason": "protocolInfo 'broken' has 1 field(s), needs 4"}
    ]
    code, out, _ = run(
        "protocolinfo",
        "match",
        "http-get:*:audio/mp3:*,http-get:*:video/mp4:*",
        "http-get:*:audio/mpeg:*",
    )
    assert code == 0
    assert json.loads(out)["pairs"] == [
        {"source": "http-get:*:audio/mp3:*", "sink": "http-get:*:audio/mpeg:*", "score": 55}
    ]
    code, out, _ = run(
        "protocolinfo",
        "match",
        "rtsp-rtp-udp:*:audio/L16;rate=48000:*",
        "http-get:*:audio/L16;rate=44100:*",
    )
    assert code == 1
    assert json.loads(out)["reasons"][0]["reasons"] == [
        "protocol: rtsp-rtp-udp ≠ http-get",
        "parameters: rate=48000 ≠ rate=44100",
    ]
    code, _, err = run("protocolinfo", "match", "bad", "http-get:*:a/b:*")
    assert code == 2 and "needs 4" in err


def test_negotiate_and_disconnect_on_one_device(served):
    code, out, _ = run("negotiate", served, served, "--mime", "audio/mpeg")
    assert code == 0
    data = json.loads(out)
    assert data["protocolInfo"].startswith("http-get:*:audio/mpeg:DLNA.ORG_PN=MP3")
    server_id, renderer_id = data["server"]["connectionId"], data["renderer"]["connectionId"]
    assert data["server"]["service"] == "MediaServer/ConnectionManager"
    assert data["renderer"]["service"] == "MediaRenderer/ConnectionManager"
    code, out, _ = run("call", served, "MS/CM", "GetCurrentConnectionIDs")
    assert str(server_id) in json.loads(out)["ConnectionIDs"].split(",")
    code, out, _ = run(
        "disconnect",
        served,
        served,
        "--server-connection",
        str(server_id),
        "--renderer-connection",
        str(renderer_id),
    )
    assert code == 0
    assert json.loads(out) == {
        "renderer": {
            "service": "MediaRenderer/ConnectionManager",
            "connectionId": renderer_id,
            "completed": True,
        },
        "server": {
            "service": "MediaServer/ConnectionManager",
            "connectionId": server_id,
            "completed": True,
        },
    }
    code, out, _ = run(
        "disconnect",
        served,
        served,
        "--server-connection",
        str(server_id),
        "--renderer-connection",
        "0",
    )
    assert code == 1
    assert json.loads(out)["server"]["error"]["code"] == 706
    code, out, err = run("negotiate", served, served, "--mime", "video/mp4")
    assert code == 1
    assert json.loads(out)["code"] == 701 and "no entry" in err


UDN = "uuid:11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(
    ("reply_udn", "location", "source", "chosen"),
    [
        (UDN, "http://127.0.0.1:1400/d.xml", "127.0.0.1", "http://127.0.0.1:1400/d.xml"),
        (UDN, "http://127.0.0.9:18950/private/admin", "127.0.0.1", None),  # SSRF: not fetched
        (UDN, "http://router.local/d.xml", "127.0.0.1", None),
        (UDN, None, "127.0.0.1", None),
        ("uuid:other", "http://127.0.0.1:1400/d.xml", "127.0.0.1", None),
    ],
)
def test_uuid_target_uses_only_a_location_on_the_replying_host(reply_udn, location, source, chosen):
    assert reply_location(UDN, reply_udn, location, source) == chosen


def one_cm_description(scpd_url):
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        "<deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType>"
        "<friendlyName>fake</friendlyName><UDN>uuid:fake-1</UDN><serviceList><service>"
        "<serviceType>urn:schemas-upnp-org:service:ConnectionManager:1</serviceType>"
        "<serviceId>urn:upnp-org:serviceId:ConnectionManager</serviceId>"
        f"<SCPDURL>{scpd_url}</SCPDURL><controlURL>/ctl</controlURL>"
        "<eventSubURL>/evt</eventSubURL></service></serviceList></device></root>"
    ).encode()


@pytest.mark.parametrize("code", ["\u00b2", "70\u00b2"])
async def test_a_fault_with_a_non_ascii_digit_code_is_exit_3(code):
    fault = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        "<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
        '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
        f"<errorCode>{code}</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
    ).encode()

    async def control(request):
        return web.Response(status=500, body=fault, content_type="text/xml")

    routes = {
        "/d.xml": one_cm_description("/scpd.xml"),
        "/scpd.xml": load_fixture("sonos", "ConnectionManager1.xml"),
        "/ctl": control,
    }
    async with FakeHttp(routes) as fake:
        got, _, err = await upnpcm("call", fake.url("/d.xml"), "CM", "GetProtocolInfo")
    assert got == 3, err
    assert "without a UPnP fault (UPnPError with a bad errorCode" in err
    assert "Traceback" not in err


async def test_calling_an_action_whose_scpd_failed_is_exit_3_with_the_reason():
    async with FakeHttp({"/d.xml": one_cm_description("/scpd.xml")}) as fake:  # SCPD: 404
        got, _, err = await upnpcm("call", fake.url("/d.xml"), "CM", "GetProtocolInfo")
    assert got == 3, err
    assert "could not be loaded" in err and "HTTP 404" in err
    assert "has no action" not in err


async def test_an_unusable_scpd_url_does_not_stop_describe():
    async with FakeHttp({"/d.xml": one_cm_description("http://[::1/x.xml")}) as fake:
        got, out, err = await upnpcm("describe", "-S", fake.url("/d.xml"))
    assert got == 0, err
    (service,) = json.loads(out)["device"]["services"]
    assert "not a usable URL" in service["scpdError"]


def test_usage_error_messages_are_printed_as_written():
    code, _, err = run("describe", "https://127.0.0.1:9/x.xml")  # refused before any connection
    assert code == 2
    assert err.strip() == "upnpcm: only http:// URLs are supported, not 'https://127.0.0.1:9/x.xml'"


def test_eventlog_leaves_quietly_when_its_reader_goes_away(served):
    """``upnpcm eventlog … | head -n 1``: unsubscribe, exit 141, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "upnpcm", "-D", "eventlog", served, "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(proc.stdout.readline())["type"] == "subscribed"
        proc.stdout.close()  # what head does after its first line
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 141, err
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err
        assert len(re.findall(r"UNSUBSCRIBE \S+ -> 200", err)) == 2  # both services let go
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_watch_ssdp_with_an_unknown_interface_is_a_usage_error(served):
    result = run_process(
        "--interface", "nosuchif", "eventlog", served, "--bind", "127.0.0.1", "--watch-ssdp"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "upnpcm: --watch-ssdp: no such interface or address: nosuchif"
    # refused before subscribing to anything: the only output is the error object
    assert json.loads(result.stdout) == {
        "error": "--watch-ssdp: no such interface or address: nosuchif",
        "exitCode": 2,
    }


async def test_a_second_sigint_during_shutdown_ends_eventlog_at_once():
    unsubscribes = []

    async def events(request):
        if request.method == "UNSUBSCRIBE":
            unsubscribes.append(request.headers.get("SID"))
            await asyncio.sleep(30)  # a device that never answers: shutdown hangs
        return web.Response(headers={"SID": "uuid:s1", "TIMEOUT": "Second-1800"})

    routes = {
        "/d.xml": one_cm_description("/scpd.xml"),
        "/scpd.xml": load_fixture("sonos", "ConnectionManager1.xml"),
        "/evt": events,
    }
    async with FakeHttp(routes) as fake:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "upnpcm",
            "eventlog",
            fake.url("/d.xml"),
            "--bind",
            "127.0.0.1",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            first = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert json.loads(first)["type"] == "subscribed"
            proc.send_signal(signal.SIGINT)
            for _ in range(50):  # bounded: until the UNSUBSCRIBE is hanging
                if unsubscribes:
                    break
                await asyncio.sleep(0.1)
            assert unsubscribes == ["uuid:s1"]
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 5)
            assert time.monotonic() - started < 3
            assert proc.returncode == -signal.SIGINT
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_subscribe_to_an_ipv6_device_with_the_default_bind(tmp_path):
    proc, match = start_serve(
        "--host", "::1", "--port", "0", "--no-ssdp", "--state-dir", str(tmp_path)
    )
    try:
        code, out, err = run("subscribe", f"[::1]:{match.group(1)}", "MR/CM", "--duration", "1.5")
    finally:
        stop(proc)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert any(r["type"] == "event" and r["seq"] == 0 for r in records)


def test_an_ambiguous_service_is_a_usage_error_naming_the_candidates(served):
    code, out, err = run("--text", "call", served, "ConnectionManager", "GetCurrentConnectionIDs")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "upnpcm: service 'ConnectionManager' is ambiguous; name one of: "
        "MR/CM (MediaRenderer/ConnectionManager), MS/CM (MediaServer/ConnectionManager)"
    )


# ------------------------------------------------- output a person can act on (issue: newcomer)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--text", "call", "{t}", "MR/CM", "GetCurrentConnectionIDs"], True),
        (["call", "{t}", "MR/CM", "GetCurrentConnectionIDs", "--text"], True),
        (["call", "--text", "{t}", "MR/CM", "GetCurrentConnectionIDs"], True),
        (["--text", "call", "{t}", "MR/CM", "GetCurrentConnectionIDs", "--json"], False),
        (["--json", "call", "{t}", "MR/CM", "GetCurrentConnectionIDs", "--text"], True),
    ],
)
def test_json_and_text_anywhere_the_last_one_wins(served, args, text):
    code, out, _ = run(*(a.format(t=served) for a in args))
    assert code == 0
    assert out == ("ConnectionIDs: \n" if text else '{"ConnectionIDs": ""}\n')


def test_debug_after_the_command_name(served):
    _, _, err = run("call", served, "MR/CM", "GetCurrentConnectionIDs", "-DDD")
    assert "<s:Envelope" in err and "SOAPACTION: " in err  # raw head and body


def every_command(group=cli, path=()):
    import click

    for name in group.list_commands(None):
        command = group.get_command(None, name)
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_accepts_the_global_options():
    for path, _ in every_command():
        code, out, _ = run(*path, "--help")
        assert code == 0, path
        for option in ("--json", "--text", "-D"):
            assert f"  {option} " in out, (path, option)


def test_readable_text_forms(served):
    code, out, _ = run("describe", served, "-S", "--text")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"http://{served}/xml/device_description.xml (UDA 1.1)"
    assert any(line.endswith("ConnectionManager:1  select with: MR/CM") for line in lines)
    assert any(line.endswith("ConnectionManager:1  select with: MS/CM") for line in lines)
    assert any("GetProtocolInfo() → Source, Sink" in line for line in lines)
    assert not any(line.lstrip().startswith(("{", '"')) for line in lines)  # not JSON

    code, out, _ = run("protocolinfo", "parse", "--text", "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3,x")
    assert code == 0
    assert out.splitlines() == [
        "http-get:*:audio/mpeg:DLNA.ORG_PN=MP3",
        "  protocol http-get, network *, format audio/mpeg, DLNA profile MP3",
        "invalid entry 1 'x': protocolInfo 'x' has 1 field(s), needs 4",
    ]
    code, out, _ = run(
        "protocolinfo", "match", "--text", "http-get:*:audio/mp3:*", "http-get:*:*:*"
    )
    assert (code, out.splitlines()[1]) == (0, "   30  http-get:*:audio/mp3:* → http-get:*:*:*")

    code, out, _ = run("negotiate", served, served, "--mime", "audio/flac", "--text")
    assert code == 0
    server, renderer = out.splitlines()[2:4]
    assert server.startswith("server   MediaServer/ConnectionManager  ConnectionID ")
    assert renderer.startswith("renderer MediaRenderer/ConnectionManager  ConnectionID ")
    ids = [line.split("ConnectionID ")[1].split()[0] for line in (server, renderer)]
    code, out, _ = run(
        "disconnect",
        served,
        served,
        "--server-connection",
        ids[0],
        "--renderer-connection",
        ids[1],
        "--text",
    )
    assert code == 0
    assert out.splitlines() == [
        f"renderer MediaRenderer/ConnectionManager  ConnectionID {ids[1]}: completed",
        f"server   MediaServer/ConnectionManager  ConnectionID {ids[0]}: completed",
    ]


def test_an_http_error_shows_the_status_line_the_device_reason_and_a_hint(served):
    port = served.rsplit(":", 1)[1]
    code, out, err = run("--text", "describe", f"localhost:{port}")
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        f"upnpcm: GET http://localhost:{port}/xml/device_description.xml: HTTP 400 Bad Request: "
        "Host header is not an IP literal",
        "upnpcm: hint: the device takes only an IP address as host (a defence against DNS "
        "rebinding): give its IP address instead of localhost (an upnpcm device also admits "
        "the names listed in [network].allowed_hosts)",
    ]
    code, out, _ = run("--json", "describe", f"localhost:{port}")
    error = json.loads(out)
    assert (error["httpStatus"], error["reason"], error["detail"]) == (
        400,
        "Bad Request",
        "Host header is not an IP literal",
    )
    assert error["exitCode"] == 3 and "instead of localhost" in error["hints"][0]


def test_a_fault_on_a_pipe_is_a_json_error_object_on_stdout(served):
    result = run_process("call", served, "MR/CM", "GetCurrentConnectionInfo", "ConnectionID=77")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": "UPnP error 706: no connection 77",
        "exitCode": 1,
        "code": 706,
        "description": "no connection 77",
    }
    assert result.stderr == "upnpcm: UPnP error 706: no connection 77\n"


async def test_timeout_bounds_each_wait_and_a_long_wait_is_noted():
    async def slow(request):
        await asyncio.sleep(6)
        return web.Response(body=b"late")

    async with FakeHttp({"/d.xml": slow}) as fake:
        started = time.monotonic()
        code, out, err = await upnpcm("describe", fake.url("/d.xml"), "--timeout", "2.5", "--text")
        elapsed = time.monotonic() - started
    assert code == 3
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"upnpcm: still waiting for GET {fake.url('/d.xml')} (2 s so far; giving up after 2.5 s)…"
    )
    assert lines[1] == f"upnpcm: GET {fake.url('/d.xml')}: no complete reply within 2.5 s"
    assert lines[2] == "upnpcm: hint: a slow device or network: --timeout SECONDS waits longer"
    assert elapsed < 5.5  # 2.5 s, not the default 10 s, plus the start of a Python process


async def test_a_quick_answer_has_no_note():
    async with FakeHttp({"/d.xml": b"not a description"}) as fake:
        code, _, err = await upnpcm("describe", fake.url("/d.xml"), "--timeout", "2.5")
    assert code == 3
    assert "still waiting" not in err


def test_eventlog_bound_to_one_address_advertises_it_and_events_arrive(served):
    code, out, err = run(
        "-DDD",
        "eventlog",
        served,
        "MR/CM",
        "--bind",
        "127.0.0.2",
        "--duration",
        "1.5",
        "--json",
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in records][:2] == ["subscribed", "event"]
    assert re.search(r"CALLBACK: <http://127\.0\.0\.2:\d+/notify>", err)  # -DDD: SUBSCRIBE head
    assert re.search(r"<<< NOTIFY /notify from 127\.0\.0\.1\nHOST: 127\.0\.0\.2:\d+", err)
    assert "<<< 200 OK" in err and "\nSID: uuid:" in err  # the SUBSCRIBE answer's head


def test_eventlog_callback_host_overrides_the_bound_address(served):
    code, _, err = run(
        "-DDD",
        "eventlog",
        served,
        "MR/CM",
        "--bind",
        "127.0.0.1",
        "--callback-host",
        "127.0.0.1",
        "--callback-port",
        "9",
        "--duration",
        "0.5",
    )
    assert code == 0
    assert "CALLBACK: <http://127.0.0.1:9/notify>" in err


def test_subscribe_is_an_alias_of_eventlog():
    code, out, _ = run("subscribe", "--help")
    assert code == 0
    assert out.startswith("Usage: upnpcm eventlog ")
    assert 'Also available as "upnpcm subscribe"' in " ".join(out.split())


def rule_ids():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| ([A-Z]+\d+) \|", text, re.MULTILINE))


def help_of(*path):
    code, out, _ = run(*path, "--help")
    assert code == 0, path
    return out


def test_help_has_no_markup_rule_ids_or_click_escapes():
    ids = rule_ids()
    assert len(ids) > 20
    helps = {(): help_of()} | {path: help_of(*path) for path, _ in every_command()}
    helps[("protocolinfo",)] = help_of("protocolinfo")
    for path, text in helps.items():
        assert not re.search(r"``|:(mod|class|func|meth|attr|data|exc):`|\x08", text), path
        words = set(re.findall(r"\b[A-Z]+\d+\b", text))
        assert not words & ids, (path, words & ids)


def test_target_and_exit_code_epilog_only_where_there_is_a_target():
    for path, command in every_command():
        text = help_of(*path)
        names = ("target", "targets", "server", "renderer")
        targets = {p.name for p in command.params if p.name in names}
        assert ("Exit codes:" in text) == bool(targets), path
        assert (" TARGET " in text.replace("\n", " ") or "are each" in text) == bool(targets), path


def test_command_summaries_are_whole_sentences():
    for path in [(), ("protocolinfo",)]:
        text = CliRunner().invoke(cli, [*path, "--help"], terminal_width=80).stdout
        commands = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert commands
        for line in commands:
            summary = line.split(None, 1)[1]
            assert summary.endswith(".") and not summary.endswith("..."), line


def test_the_group_help_names_the_alias():
    assert "Other names: subscribe (= eventlog)." in help_of()


def test_public_control_point_docstrings_cite_no_internal_rule_ids():
    """What a library user reads with help(): rule IDs stay in comments for the developers."""
    import inspect

    import upnpcm.aio.control_point as control_point
    import upnpcm.aio.discovery as discovery
    import upnpcm.aio.events as events

    ids = rule_ids()
    for module in (control_point, events, discovery):
        found = [module]
        for name in module.__all__:
            obj = getattr(module, name)
            found.append(obj)
            if inspect.isclass(obj):
                found += [v for k, v in vars(obj).items() if not k.startswith("_")]
        for obj in found:
            doc = inspect.getdoc(obj) or ""
            assert not set(re.findall(r"\b[A-Z]+\d+\b", doc)) & ids, obj
