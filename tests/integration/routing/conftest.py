"""Fixtures of the proxy contract: the fake and a real Caddy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.adapters.fake_proxy import FakeProxy
from tests.integration.routing.routing_support import CaddyProcess, ProxyBackend, Upstream


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[CaddyProcess]:
    process = CaddyProcess(tmp_path)
    process.start()
    yield process
    process.stop()


def _proxy_for(caddy: CaddyProcess) -> CaddyAdminProxy:
    return CaddyAdminProxy(caddy.admin, f"127.0.0.1:{caddy.edge_port}", try_duration="5s")


@pytest.fixture
async def caddy_proxy(caddy: CaddyProcess) -> AsyncIterator[CaddyAdminProxy]:
    proxy = _proxy_for(caddy)
    yield proxy
    await proxy.aclose()


@pytest.fixture(params=["fake", "caddy"])
async def proxy_backend(request: pytest.FixtureRequest) -> AsyncIterator[ProxyBackend]:
    if request.param == "fake":
        yield ProxyBackend("fake", FakeProxy())
        return
    caddy: CaddyProcess = request.getfixturevalue("caddy")
    proxy = _proxy_for(caddy)
    yield ProxyBackend("caddy", proxy, caddy)
    await proxy.aclose()


@pytest.fixture
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    a, b = Upstream("A"), Upstream("B")
    yield a, b
    a.close()
    b.close()
