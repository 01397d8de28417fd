"""Fixtures of the proxy contract (the fake and a real Caddy) and of the routing service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from libs.containers.docker import DockerContainerRuntime
from libs.eventstore import JetStreamEventStore, Repository
from libs.infra import EmbeddedCaddy, find_binary, free_port
from libs.settings import Settings
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.adapters.fake_proxy import FakeProxy
from services.routing.main import run
from tests.integration.routing.routing_support import CaddyProcess, ProxyBackend, Upstream
from tests.integration.routing.service_support import FAST_JOBS, World
from tests.support.names import unique
from tests.support.nats_conn import bootstrapped


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[CaddyProcess]:
    process = CaddyProcess(tmp_path)
    process.start()
    yield process
    process.stop()


def _proxy_for(caddy: CaddyProcess) -> CaddyAdminProxy:
    return CaddyAdminProxy(
        caddy.admin,
        f"127.0.0.1:{caddy.edge_port}",
        routes_dir=caddy.workdir / "routes",
        try_duration="5s",
    )


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


# ---------------------------------------------------------------- the routing service


@pytest.fixture
def routing_nats(own_nats_url: str) -> str:
    return own_nats_url


@pytest.fixture
async def rnc(routing_nats: str) -> AsyncIterator[NATS]:
    async with bootstrapped(routing_nats, FAST_JOBS["lease_ttl_s"]) as conn:
        yield conn


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EmbeddedCaddy]:
    """A Caddy of this test's own (the routing service owns its whole config)."""
    server = EmbeddedCaddy(
        tmp_path / "caddy", admin=f"127.0.0.1:{free_port()}", edge_listen=f":{free_port()}"
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def respond_image(make_scratch_image: Callable[[Path | str, str], str]) -> str:
    """FROM scratch + the static caddy binary: `caddy respond --listen :8000 <body>`."""
    return make_scratch_image(find_binary("caddy"), "slipway-test/caddy-respond:latest")


@pytest.fixture
async def world(
    rnc: NATS, routing_nats: str, edge: EmbeddedCaddy, respond_image: str, tmp_path: Path
) -> AsyncIterator[World]:
    assert edge.edge_port is not None
    settings = Settings(
        nats_url=routing_nats,
        caddy_admin=edge.admin,
        edge_port=edge.edge_port,
        base_domain="localhost",
        data_dir=tmp_path / "data",
        routes_dir=tmp_path / "routes",
        static_root=tmp_path / "static",
        **FAST_JOBS,  # type: ignore[arg-type]
    )
    runtime = DockerContainerRuntime()
    w = World(
        Repository(JetStreamEventStore(rnc)), settings, runtime, respond_image, unique("shop")
    )
    toy = w.toy_executor(rnc)
    await toy.start()
    try:
        yield w
    finally:
        await toy.stop()
        await w.remove_all()
        runtime.close()


@pytest.fixture
async def routing(world: World) -> AsyncIterator[None]:
    """The routing service in this process (its own NATS connection, executor, reconciler)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(world.settings, stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises why it could not start
    assert ready.is_set(), "routing did not start"
    yield
    stop.set()
    await asyncio.wait_for(task, 30)
