"""`CaddyAdminProxy`: the `Proxy` port on Caddy's admin API (httpx, async).

A whole-config change goes to `POST /config/` with the `Etag` just read as `If-Match` (Caddy's
`/load` ignores `If-Match`); a 412 means someone changed it meanwhile, so read and try again.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.routing.desired import DesiredState, caddy_config
from services.routing.proxy import ProxyConflict, ProxyError, ProxyUnavailable

# The server closed the connection before any response byte.
_NO_RESPONSE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class CaddyAdminProxy:
    def __init__(
        self,
        admin: str = "127.0.0.1:2019",
        edge_listen: str = ":8080",
        *,
        timeout_s: float = 10.0,
        attempts: int = 5,
        try_duration: str = "5s",
        try_interval: str = "100ms",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.admin = admin
        self.edge_listen = edge_listen
        self._attempts = attempts
        self._lb = {"try_duration": try_duration, "try_interval": try_interval}
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._base = f"http://{admin}"

    def config_for(self, desired: DesiredState) -> dict[str, Any]:
        return caddy_config(desired, self.edge_listen, self.admin, **self._lb)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self._base}{path}"
        for retry in (True, False):
            try:
                return await self._client.request(method, url, **kwargs)
            except _NO_RESPONSE:
                # Caddy replaces its admin server on a config change and closes idle keep-alive
                # connections; a GET is safe to resend. A write's outcome is unknown: the caller
                # re-reads and decides.
                if method != "GET" or not retry:
                    raise
            except httpx.TransportError as exc:
                raise ProxyUnavailable(
                    f"Caddy admin API unreachable at {self.admin}: {exc or type(exc).__name__}"
                ) from None
        raise AssertionError("unreachable")

    async def _read(self) -> tuple[dict[str, Any], str | None]:
        try:
            response = await self._request("GET", "/config/")
        except _NO_RESPONSE as exc:
            raise ProxyUnavailable(
                f"Caddy admin API at {self.admin} closed the connection: {exc}"
            ) from None
        if response.status_code != 200:
            raise ProxyError(f"Caddy GET /config/ answered {response.status_code}: {response.text}")
        body = response.json()
        return (body if isinstance(body, dict) else {}), response.headers.get("Etag")

    async def current(self) -> dict[str, Any]:
        return (await self._read())[0]

    async def matches(self, desired: DesiredState) -> bool:
        return await self.current() == self.config_for(desired)

    async def apply(self, desired: DesiredState) -> None:
        config = self.config_for(desired)
        for _ in range(self._attempts):
            current, etag = await self._read()
            if current == config:
                return  # already served (or our last write landed but its answer was lost)
            headers = {"If-Match": etag} if etag else {}
            # Closing after the write keeps no connection into an admin server being replaced.
            headers["Connection"] = "close"
            try:
                response = await self._request("POST", "/config/", json=config, headers=headers)
            except _NO_RESPONSE:
                continue
            if response.status_code == 200:
                return
            if response.status_code != 412:
                raise ProxyError(_caddy_error(response))
        raise ProxyConflict(
            f"Caddy config kept changing under us ({self._attempts} attempts); try again"
        )


def _caddy_error(response: httpx.Response) -> str:
    try:
        detail = response.json().get("error", response.text)
    except ValueError:
        detail = response.text
    return f"Caddy refused the config ({response.status_code}): {detail}"
