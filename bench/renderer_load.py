"""Renderer SOAP load: our MediaRenderer against async_upnp_client's server hosting the same actions.

Starts `upnpcm serve --profile renderer` and tests/peers/auc_renderer.py on
127.0.0.1 (separate processes, HTTP only) and loads each with wrk (Debian),
same Lua scripts, same settings: GetTransportInfo(InstanceID 0), and
SetVolume(InstanceID 0, Master, a volume that changes with every request, so
every body differs and every call changes state and LastChange), at
concurrency 1 and 50. Devices on CPU 0, wrk (-t1) on CPU 1 where taskset
and two CPUs exist. Every run is bounded by wrk's -d. Prints a Markdown table.

    python bench/renderer_load.py [--seconds 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soap_load import ENVELOPE, LOAD_CONFIG, free_port, load, report, start_auc, start_upnpcm

AVT = "urn:schemas-upnp-org:service:AVTransport:1"
RCS = "urn:schemas-upnp-org:service:RenderingControl:1"
TRANSPORT_INFO_LUA = textwrap.dedent(
    f"""
    wrk.method = "POST"
    wrk.headers["Content-Type"] = 'text/xml; charset="utf-8"'
    wrk.headers["SOAPACTION"] = '"{AVT}#GetTransportInfo"'
    wrk.body = '{ENVELOPE.format(f'<u:GetTransportInfo xmlns:u="{AVT}"><InstanceID>0</InstanceID></u:GetTransportInfo>')}'
    """
)
SET_VOLUME_BODY = ENVELOPE.format(
    f'<u:SetVolume xmlns:u="{RCS}"><InstanceID>0</InstanceID><Channel>Master</Channel>'
    "<DesiredVolume>%d</DesiredVolume></u:SetVolume>"
)
SET_VOLUME_LUA = textwrap.dedent(
    f"""
    local n = 0
    local body = '{SET_VOLUME_BODY}'
    local headers = {{["Content-Type"] = 'text/xml; charset="utf-8"',
                      ["SOAPACTION"] = '"{RCS}#SetVolume"'}}
    request = function()
      n = (n + 1) % 101
      return wrk.format("POST", nil, headers, string.format(body, n))
    end
    """
)
PEER = "async_upnp_client 0.49.0"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        info_lua, volume_lua = work / "info.lua", work / "volume.lua"
        info_lua.write_text(TRANSPORT_INFO_LUA, encoding="utf-8")
        volume_lua.write_text(SET_VOLUME_LUA, encoding="utf-8")
        ours_port, theirs_port = free_port(), free_port()
        ours = start_upnpcm(ours_port, work, config=LOAD_CONFIG, args=("--profile", "renderer"))
        theirs = start_auc(theirs_port, "tests.peers.auc_renderer")
        ours_base, theirs_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{theirs_port}"
        try:
            rows = load(
                {
                    "GetTransportInfo": (
                        info_lua,
                        {
                            "upnpcm": (ours, ours_base + "/AVTransport/Control"),
                            PEER: (theirs, theirs_base + "/upnp/control/AVTransport1"),
                        },
                    ),
                    "SetVolume": (
                        volume_lua,
                        {
                            "upnpcm": (ours, ours_base + "/RenderingControl/Control"),
                            PEER: (theirs, theirs_base + "/upnp/control/RenderingControl1"),
                        },
                    ),
                },
                seconds=args.seconds,
                warmup=args.warmup,
            )
        finally:
            for proc in (ours, theirs):
                proc.terminate()
                proc.wait(timeout=10)
    report(rows, seconds=args.seconds, warmup=args.warmup, ours="upnpcm", peer=PEER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
