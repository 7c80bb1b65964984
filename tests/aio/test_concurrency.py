"""Racing PrepareForConnection / ConnectionComplete over real HTTP."""

import asyncio

import aiohttp

from upnpcm.aio.http_server import HttpLimits
from upnpcm.core.soap import build_action_request, parse_action_response, parse_fault
from upnpcm.host import DeviceHost
from upnpcm.settings import DeviceSettings

CM = "urn:schemas-upnp-org:service:ConnectionManager:1"


async def soap(session, url, action, args):
    headers, body = build_action_request(CM, action, args)
    async with session.post(url, data=body, headers=headers) as response:
        data = await response.read()
    if response.status == 200:
        return dict(parse_action_response(data, action))
    return parse_fault(data).code


async def test_200_parallel_prepares_never_exceed_limit_or_reuse_ids(tmp_path):
    settings = DeviceSettings(host=("127.0.0.1",), port=0, max_connections=50)
    # 200 client connections at once: above the default HTTP cap of 64, so raise it here.
    limits = HttpLimits(max_connections=256, max_connections_per_peer=256)
    async with DeviceHost(settings, state_dir=tmp_path, http_limits=limits) as dev:
        url = dev.server.url("127.0.0.1", "/MediaRenderer/ConnectionManager/Control")
        args = [
            ("RemoteProtocolInfo", "http-get:*:audio/mpeg:*"),
            ("PeerConnectionManager", ""),
            ("PeerConnectionID", "-1"),
            ("Direction", "Input"),
        ]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            results = await asyncio.gather(
                *(soap(session, url, "PrepareForConnection", args) for _ in range(200))
            )
            ids = [int(r["ConnectionID"]) for r in results if isinstance(r, dict)]
            refused = [r for r in results if not isinstance(r, dict)]
            assert len(ids) == 50
            assert len(set(ids)) == 50
            assert refused == [704] * 150
            current = await soap(session, url, "GetCurrentConnectionIDs", [])
            assert sorted(int(x) for x in current["ConnectionIDs"].split(",")) == sorted(ids)
            # Ten parallel Completes of one ID: exactly one succeeds.
            target = ids[0]
            done = await asyncio.gather(
                *(
                    soap(session, url, "ConnectionComplete", [("ConnectionID", str(target))])
                    for _ in range(10)
                )
            )
            assert sorted(done, key=str) == sorted([{}] + [706] * 9, key=str)
            # Info racing Complete: only 200 or 706.
            racing = await asyncio.gather(
                *(
                    soap(session, url, "GetCurrentConnectionInfo", [("ConnectionID", str(i))])
                    for i in ids[1:20]
                ),
                *(
                    soap(session, url, "ConnectionComplete", [("ConnectionID", str(i))])
                    for i in ids[1:20]
                ),
            )
            assert all(r == 706 or isinstance(r, dict) for r in racing)
            final = await soap(session, url, "GetCurrentConnectionIDs", [])
            assert sorted(int(x) for x in final["ConnectionIDs"].split(",")) == sorted(ids[20:])
            more = await asyncio.gather(
                *(soap(session, url, "PrepareForConnection", args) for _ in range(30))
            )
            new_ids = [int(r["ConnectionID"]) for r in more if isinstance(r, dict)]
            assert len(new_ids) == 20
            assert min(new_ids) > max(ids)  # never reused
