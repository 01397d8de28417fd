"""`FakeProxy`: an in-memory edge for unit tests, held to the `Proxy` contract."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from services.routing.desired import DesiredState, SiteRoute, caddy_config
from services.routing.proxy import ProxyConflict, ProxyUnavailable


class FakeProxy:
    def __init__(self, admin: str = "127.0.0.1:2019", edge_listen: str = ":8080") -> None:
        self.admin = admin
        self.edge_listen = edge_listen
        self.available = True
        self.desired: DesiredState | None = None
        self.applied = 0  # successful applies
        self._config: dict[str, Any] = {}
        self._version = itertools.count(1)
        self._etag = next(self._version)
        self._interfere = 0

    # ------------------------------------------------------------------ test controls

    def restart_empty(self) -> None:
        """A proxy restarted without its config (e.g. no --resume)."""
        self.desired = None
        self._config = {}
        self._etag = next(self._version)

    def interfere(self, times: int) -> None:
        """Another writer changes the config between our next `times` reads and writes."""
        self._interfere = times

    def route_for(self, host: str) -> SiteRoute | None:
        return self.desired.route_for(host) if self.desired else None

    # ------------------------------------------------------------------ the port

    def config_for(self, desired: DesiredState) -> dict[str, Any]:
        return caddy_config(desired, self.edge_listen, self.admin)

    def _check(self) -> None:
        if not self.available:
            raise ProxyUnavailable(f"Caddy admin API unreachable at {self.admin}: fake stopped")

    async def current(self) -> dict[str, Any]:
        self._check()
        return copy.deepcopy(self._config)

    async def matches(self, desired: DesiredState) -> bool:
        return await self.current() == self.config_for(desired)

    async def apply(self, desired: DesiredState) -> None:
        for _ in range(5):
            self._check()
            etag = self._etag
            if self._interfere:
                self._interfere -= 1
                self._etag = next(self._version)
            if etag != self._etag:
                continue  # 412: read again
            self._config = self.config_for(desired)
            self.desired = desired
            self._etag = next(self._version)
            self.applied += 1
            return
        raise ProxyConflict("Caddy config kept changing under us (5 attempts); try again")
