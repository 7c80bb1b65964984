"""The NOTIFY listener's connection caps and the quiet EMFILE back-off (loopback only)."""

import asyncio
import logging
import time

from upnpcm.aio.events import EventListener
from upnpcm.aio.http_client import LeanHttpClient
from upnpcm.aio.http_server import HttpLimits, quiet_accept_errors


async def _hold(port: int, source: str, count: int):
    held = []
    for _ in range(count):
        held.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)))
    return held


async def test_listener_caps_connections_per_peer_and_in_total():
    # Issue-12 regression: 3,000 connection attempts used to hold 1,881 sockets.
    limits = HttpLimits(max_connections=12, max_connections_per_peer=5, max_body=1024)
    async with EventListener(LeanHttpClient(), bind_host="127.0.0.1", limits=limits) as listener:
        port = listener.port
        one = await _hold(port, "127.0.11.1", 8)
        others = [await _hold(port, f"127.0.11.{i}", 4) for i in (2, 3)]
        try:
            refused_one = [await asyncio.wait_for(r.read(), 2.0) for r, _ in one[5:]]
            assert all(a.startswith(b"HTTP/1.1 503") for a in refused_one)
            # 5 + 4 + 3 admitted = 12 (the global cap); the fourth of 127.0.11.3 is refused.
            last = await asyncio.wait_for(others[1][3][0].read(), 2.0)
            assert last.startswith(b"HTTP/1.1 503")
            assert len(listener._connections) == 12
            assert listener._gate.refused == 4
        finally:
            for reader_writer in [*one, *others[0], *others[1]]:
                reader_writer[1].close()
        deadline = time.monotonic() + 5
        while listener._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not listener._connections


def _accept_error_record() -> logging.LogRecord:
    try:
        raise OSError(24, "Too many open files")
    except OSError as exc:
        return logging.LogRecord(
            "asyncio",
            logging.ERROR,
            __file__,
            1,
            "socket.accept() out of system resource\nsocket: <socket>",
            (),
            (type(exc), exc, exc.__traceback__),
        )


def test_accept_errors_become_one_quiet_warning(caplog):
    quiet_accept_errors()
    quiet_accept_errors()  # installed once
    logger = logging.getLogger("asyncio")
    assert sum(1 for f in logger.filters if type(f).__name__ == "_AcceptErrorFilter") == 1
    (accept_filter,) = [f for f in logger.filters if type(f).__name__ == "_AcceptErrorFilter"]
    accept_filter._last = float("-inf")
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(500):
            logger.handle(_accept_error_record())
        logger.error("something else")
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert [r.levelname for r in records] == ["WARNING", "ERROR"]
    assert records[0].exc_info is None
    assert "file descriptors" in records[0].getMessage()
