"""The upnpcm CLI: click's runner and real subprocesses, against a served device on loopback."""

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.helpers.processes import start_serve, stop
from upnpcm.cli import cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    proc, match = start_serve(
        "--host", "127.0.0.1", "--port", "0", "--no-ssdp", "--state-dir", str(state)
    )
    yield f"127.0.0.1:{match.group(1)}"
    stop(proc)


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_help_documents_exit_codes():
    code, out, _ = run("--help")
    assert code == 0
    assert "Exit codes: 0 ok; 1 UPnP error" in out
    for command in ("discover", "describe", "call", "subscribe", "eventlog", "serve"):
        assert command in out


def test_call_prints_json_out_arguments(served):
    code, out, _ = run("call", served, "ConnectionManager", "GetProtocolInfo")
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
    got, _, err = run("call", served, "ConnectionManager", *args)
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
    _, _, one = run("-D", "call", served, "CM", "GetCurrentConnectionIDs")
    assert re.search(r"POST http://\S+/MediaRenderer/ConnectionManager/Control -> 200", one)
    assert "result" not in one
    _, _, two = run("-DD", "call", served, "CM", "GetCurrentConnectionIDs")
    assert (
        "result MediaRenderer/ConnectionManager GetCurrentConnectionIDs {'ConnectionIDs': ''}"
        in two
    )
    assert "<s:Envelope" not in two
    _, _, three = run("-DDD", "call", served, "CM", "GetCurrentConnectionIDs")
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
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "upnpcm",
            "call",
            served,
            "ConnectionManager",
            "GetCurrentConnectionIDs",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
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
