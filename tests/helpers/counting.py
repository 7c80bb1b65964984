"""An HTTP client for the control point that records every request (tests and bench)."""

from __future__ import annotations

from collections.abc import Mapping

from upnpcm.aio.http_client import DEFAULT_MAX_BYTES, HttpReply, LeanHttpClient


class CountingHttpClient:
    """:class:`LeanHttpClient`, with ``requests``: every (method, URL) sent, in order."""

    def __init__(self) -> None:
        self.inner = LeanHttpClient()
        self.requests: list[tuple[str, str]] = []

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> HttpReply:
        self.requests.append((method, url))
        return await self.inner.request(
            method, url, headers=headers, body=body, timeout=timeout, max_bytes=max_bytes
        )

    async def close(self) -> None:
        await self.inner.close()
