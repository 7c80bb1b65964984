"""The blocking control point behind the asyncio one's interface, for tests that run on both.

Each method runs in a worker thread, so a test's own asyncio servers (FakeHttp, a
device) keep answering while the blocking control point waits on them. Services
it loads call back through it, so ``await service.call(...)`` works as with the
asyncio control point.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from upnpcm.blocking import ControlPoint as BlockingControlPoint
from upnpcm.core.control import RemoteDevice, RemoteService
from upnpcm.core.datatypes import UPnPValue


class ThreadedControlPoint:
    """:class:`upnpcm.blocking.ControlPoint`, awaited: each load and call in a thread."""

    def __init__(self, **settings: Any) -> None:
        self.inner = BlockingControlPoint(**settings)

    async def __aenter__(self) -> ThreadedControlPoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def load(self, location: str, **options: Any) -> RemoteDevice:
        device = await asyncio.to_thread(self.inner.load, location, **options)
        for remote in device.services:
            remote._cp = self
        return device

    async def call(
        self, remote: RemoteService, action_name: str, arguments: Mapping[str, object]
    ) -> dict[str, UPnPValue]:
        return await asyncio.to_thread(self.inner.call, remote, action_name, arguments)


@pytest.fixture(params=["asyncio", "blocking"])
def both_control_points(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the module's ``ControlPoint`` as it is, then the blocking one."""
    if request.param == "blocking":
        monkeypatch.setattr(request.module, "ControlPoint", ThreadedControlPoint)
    return str(request.param)
