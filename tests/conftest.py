"""Shared fixtures: paths, a fake clock, loopback devices; the event loop (``--loop``)."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest

from tests.helpers.blocking import both_control_points
from upnpcm.aio.loops import LOOP_ENV, loop_factory, resolve_loop

FIXTURES = Path(__file__).parent / "fixtures"
#: A downstream project's tests: run by tests/test_downstream.py in a directory of their own.
collect_ignore = ["downstream"]
#: Tests marked ``usefixtures("both_control_points")`` run with the asyncio and the blocking one.
__all__ = ["both_control_points"]


def load_fixture(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[object]:
    """A standard-profile device on 127.0.0.1 with a free port."""
    from upnpcm.host import DeviceHost
    from upnpcm.settings import DeviceSettings

    host = DeviceHost(DeviceSettings(host=("127.0.0.1",), port=0, ssdp=False), state_dir=tmp_path)
    async with host:
        yield host


# ----------------------------------------------------------------- the event loop


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loop",
        choices=("uvloop", "asyncio"),
        default=None,
        help="the event loop of every async test and of every upnpcm process a test starts "
        f"(default: ${LOOP_ENV}, else uvloop where it is installed, as upnpcm itself chooses)",
    )


def pytest_configure(config: pytest.Config) -> None:
    name = resolve_loop(config.getoption("--loop"))
    config.stash[LOOP_NAME] = name
    # Processes a test starts (upnpcm serve, the CLI, the namespace's inner run) follow it.
    os.environ[LOOP_ENV] = name
    if name == "uvloop" and sys.version_info < (3, 14):
        # A test's own asyncio.run()/new_event_loop() too (the policy API goes in 3.16).
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {config.stash[LOOP_NAME]} (--loop)"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's loop for every async test and fixture: the one ``--loop`` chose."""
    name = config.stash[LOOP_NAME]
    return {name: loop_factory(name)}


LOOP_NAME = pytest.StashKey[str]()
