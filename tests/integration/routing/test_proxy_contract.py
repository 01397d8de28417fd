"""The proxy contract (fake and real Caddy), then what Caddy serves at the edge."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.adapters.fake_proxy import FakeProxy
from services.routing.desired import (
    MAINTENANCE,
    DeploymentRoute,
    DesiredState,
    EnvironmentRoute,
    Target,
    desired_state,
)
from services.routing.proxy import ProxyError, ProxyUnavailable
from tests.integration.routing.routing_support import (
    BASE,
    CaddyProcess,
    ProxyBackend,
    Upstream,
    free_port,
)

DEP = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def _desired(*targets: Target, deployment: Target | None = None) -> DesiredState:
    envs = [
        EnvironmentRoute("shop", name, t, domain="shop.example" if name == "production" else None)
        for name, t in zip(("production", "staging"), targets, strict=False)
    ]
    deps = [DeploymentRoute(DEP, "shop", deployment)] if deployment else []
    return desired_state(envs, deps, BASE)


def _up(*addresses: str) -> Target:
    return Target("upstreams", upstreams=addresses)


async def test_applied_state_matches_and_is_the_current_config(proxy_backend: ProxyBackend) -> None:
    proxy = proxy_backend.proxy
    desired = _desired(_up("127.0.0.1:9001"), MAINTENANCE)
    assert not await proxy.matches(desired)
    await proxy.apply(desired)
    assert await proxy.matches(desired)
    current = await proxy.current()
    routes = current["apps"]["http"]["servers"]["slipway"]["routes"]
    assert [r["@id"] for r in routes] == [
        "env.shop.production",
        "env.shop.staging",
        "slipway.fallback",
    ]
    assert not await proxy.matches(_desired(_up("127.0.0.1:9002"), MAINTENANCE))


async def test_apply_retries_when_another_writer_changed_the_config(
    proxy_backend: ProxyBackend,
) -> None:
    desired = _desired(_up("127.0.0.1:9001"))
    await proxy_backend.proxy.apply(_desired(MAINTENANCE))
    proxy_backend.interfere_once()
    await proxy_backend.proxy.apply(desired)
    assert await proxy_backend.proxy.matches(desired)
    if proxy_backend.caddy is not None:
        assert proxy_backend.writes == 2  # the first write got 412, the second went through


async def test_unreachable_admin_api_is_proxy_unavailable() -> None:
    for proxy in (
        CaddyAdminProxy(f"127.0.0.1:{free_port()}", timeout_s=2),
        FakeProxy(),
    ):
        if isinstance(proxy, FakeProxy):
            proxy.available = False
        with pytest.raises(ProxyUnavailable, match="Caddy admin API unreachable at"):
            await proxy.apply(_desired(MAINTENANCE))
        with pytest.raises(ProxyUnavailable):
            await proxy.current()
        if isinstance(proxy, CaddyAdminProxy):
            await proxy.aclose()


# ---------------------------------------------------------------- real Caddy at the edge


def _edge(caddy: CaddyProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{caddy.edge_port}", timeout=10)


async def test_caddy_routes_each_host_to_its_target(
    caddy: CaddyProcess,
    caddy_proxy: CaddyAdminProxy,
    upstreams: tuple[Upstream, Upstream],
    tmp_path: Path,
) -> None:
    a, b = upstreams
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>static</h1>")
    (site / "app.js").write_text("console.log(1)")
    await caddy_proxy.apply(
        _desired(_up(a.address), Target("static", root=str(site)), deployment=_up(b.address))
    )
    async with _edge(caddy) as edge:
        for host in ("production.shop.localhost", "shop.localhost", "shop.example"):
            r = await edge.get("/", headers={"Host": f"{host}:{caddy.edge_port}"})
            assert (r.status_code, r.text) == (200, "A"), host
        r = await edge.get("/", headers={"Host": "staging.shop.localhost"})
        assert r.status_code == 200 and "<h1>static</h1>" in r.text
        r = await edge.get("/app.js", headers={"Host": "staging.shop.localhost"})
        assert r.text == "console.log(1)"
        r = await edge.get("/", headers={"Host": "d-0f1e2d3c.shop.localhost"})
        assert (r.status_code, r.text) == (200, "B")
        r = await edge.get("/", headers={"Host": "nothing.shop.localhost"})
        assert r.status_code == 404


async def test_caddy_maintenance_route_answers_503(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy
) -> None:
    await caddy_proxy.apply(_desired(MAINTENANCE))
    async with _edge(caddy) as edge:
        r = await edge.get("/any/path", headers={"Host": "shop.localhost"})
    assert r.status_code == 503
    assert "maintenance" in r.text
    assert r.headers["Retry-After"] == "60"


async def test_caddy_balances_round_robin_over_replicas(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    await caddy_proxy.apply(_desired(_up(a.address, b.address)))
    async with _edge(caddy) as edge:
        seen = [(await edge.get("/", headers={"Host": "shop.localhost"})).text for _ in range(6)]
    assert set(seen) == {"A", "B"}


async def test_caddy_refusing_a_config_is_a_proxy_error_and_keeps_the_old_one(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy
) -> None:
    good = _desired(MAINTENANCE)
    await caddy_proxy.apply(good)
    broken = CaddyAdminProxy(caddy.admin, "not a listen address")
    with pytest.raises(ProxyError, match="Caddy refused the config"):
        await broken.apply(good)
    await broken.aclose()
    assert await caddy_proxy.matches(good)


async def test_a_restarted_empty_caddy_no_longer_matches_until_applied_again(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy
) -> None:
    desired = _desired(MAINTENANCE)
    await caddy_proxy.apply(desired)
    caddy.stop()
    caddy.start()  # without --resume: only the initial admin config
    assert not await caddy_proxy.matches(desired)
    await caddy_proxy.apply(desired)
    assert await caddy_proxy.matches(desired)


async def test_a_caddy_restarted_with_resume_serves_the_last_config(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy
) -> None:
    desired = _desired(MAINTENANCE)
    await caddy_proxy.apply(desired)
    caddy.stop()
    caddy.start(resume=True)
    assert await caddy_proxy.matches(desired)
    async with _edge(caddy) as edge:
        assert (await edge.get("/", headers={"Host": "shop.localhost"})).status_code == 503


async def test_switching_upstreams_under_load_never_fails_a_request(
    caddy: CaddyProcess, caddy_proxy: CaddyAdminProxy, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    await caddy_proxy.apply(_desired(_up(a.address)))
    failures: list[str] = []
    bodies: list[str] = []
    retried: list[str] = []
    done = threading.Event()

    def get(client: httpx.Client) -> httpx.Response:
        try:
            return client.get("/", headers={"Host": "shop.localhost"})
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # A reload closes idle keep-alive connections; a request written into one at that
            # instant gets no response byte (EOF or RST). Browsers and curl resend a GET on a
            # reused connection in exactly this case (RFC 9112 §9.3.1); so does this client, once.
            retried.append(repr(exc))
            return client.get("/", headers={"Host": "shop.localhost"})

    loop = asyncio.get_running_loop()
    milestones: asyncio.Queue[int] = asyncio.Queue()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{caddy.edge_port}", timeout=10) as client:
            for n in range(200):
                if n and n % 30 == 0:
                    loop.call_soon_threadsafe(milestones.put_nowait, n)
                try:
                    r = get(client)
                    bodies.append(r.text)
                    if not 200 <= r.status_code < 300:
                        failures.append(f"{r.status_code} {r.text[:80]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
        done.set()

    worker = threading.Thread(target=load)
    worker.start()
    for n in range(5):
        await asyncio.wait_for(milestones.get(), 30)  # switch while requests are flowing
        await caddy_proxy.apply(_desired(_up((b if n % 2 == 0 else a).address)))
    await asyncio.to_thread(worker.join, 60)
    assert done.is_set()
    assert failures == []
    assert len(bodies) == 200 and set(bodies) == {"A", "B"}
    assert len(retried) <= 5  # at most one idle connection closed per switch
