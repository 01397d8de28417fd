"""`HttpxEdgeCaller`: calls an app through the edge proxy (Caddy) by its host name."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from services.postdeploy.ports import EdgeResult


class HttpxEdgeCaller:
    def __init__(self, edge_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.edge_url = edge_url.rstrip("/")
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._owns_client = client is None

    async def call(
        self, method: str, host: str, path: str, headers: Mapping[str, str], timeout_s: float
    ) -> EdgeResult:
        started = time.monotonic()
        try:
            response = await self._client.request(
                method,
                f"{self.edge_url}{path}",
                headers={**headers, "Host": host},
                timeout=timeout_s,
            )
            # The body is read (and dropped) so the duration covers the whole answer.
            await response.aread()
        except httpx.TimeoutException:
            return EdgeResult(None, time.monotonic() - started, f"timed out after {timeout_s}s")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return EdgeResult(None, time.monotonic() - started, reason)
        return EdgeResult(response.status_code, time.monotonic() - started)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
