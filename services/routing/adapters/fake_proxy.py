"""`FakeProxy`: an in-memory edge for unit tests, held to the `Proxy` contract."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

from services.routing.caddy_config import Layout, Rendered, render
from services.routing.desired import DesiredState, SiteRoute
from services.routing.proxy import ProxyConflict, ProxyUnavailable

FAKE_ROUTES_DIR = Path("/fake/routes")


class FakeProxy:
    def __init__(self, admin: str = "127.0.0.1:2019", edge_listen: str = ":8080") -> None:
        self.admin = admin
        self.edge_listen = edge_listen
        self.available = True
        self.desired: DesiredState | None = None
        self.applied = 0  # successful applies
        self.config_writes = 0  # whole-config writes (a real Caddy reloads on each)
        self.files: dict[str, str] = {}
        self._layout = Layout()
        self._config: dict[str, Any] = {}
        self._version = itertools.count(1)
        self._etag = next(self._version)
        self._interfere = 0

    # ------------------------------------------------------------------ test controls

    def restart_empty(self) -> None:
        """A proxy restarted without its config (e.g. no --resume); route files stay."""
        self.desired = None
        self._config = {}
        self._etag = next(self._version)

    def interfere(self, times: int) -> None:
        """Another writer changes the config between our next `times` reads and writes."""
        self._interfere = times

    def route_for(self, host: str) -> SiteRoute | None:
        return self.desired.route_for(host) if self.desired else None

    # ------------------------------------------------------------------ the port

    def _render(self, desired: DesiredState) -> Rendered:
        return render(
            desired,
            routes_dir=FAKE_ROUTES_DIR,
            edge_listen=self.edge_listen,
            admin=self.admin,
            layout=self._layout,
        )

    def config_for(self, desired: DesiredState) -> dict[str, Any]:
        return self._render(desired).config

    def _check(self) -> None:
        if not self.available:
            raise ProxyUnavailable(f"Caddy admin API unreachable at {self.admin}: fake stopped")

    async def current(self) -> dict[str, Any]:
        self._check()
        return copy.deepcopy(self._config)

    async def matches(self, desired: DesiredState) -> bool:
        rendered = self._render(desired)
        files_match = all(self.files.get(k) == v for k, v in rendered.files.items())
        return files_match and await self.current() == rendered.config

    async def apply(self, desired: DesiredState) -> None:
        rendered = self._render(desired)
        self.files.update(rendered.files)
        self._layout = rendered.layout
        for _ in range(5):
            self._check()
            etag = self._etag
            if self._interfere:
                self._interfere -= 1
                self._etag = next(self._version)
            if etag != self._etag:
                continue  # 412: read again
            if self._config != rendered.config:
                self._config = copy.deepcopy(rendered.config)
                self._etag = next(self._version)
                self.config_writes += 1
            self.desired = desired
            self.applied += 1
            return
        raise ProxyConflict("Caddy config kept changing under us (5 attempts); try again")
