"""Shared fixtures: paths, a fake clock, loopback devices."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: A downstream project's tests: run by tests/test_downstream.py in a directory of their own.
collect_ignore = ["downstream"]


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
