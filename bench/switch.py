"""Switch benchmark: prints one JSON object.

(a) image deploy of a prebuilt image: admission -> first 2xx of the new container through Caddy,
    against a plain `docker run` polled every 100 ms until 2xx;
(b) rollback: appending the rollback deployment -> the old content served through Caddy (an image
    rollback starts a container again; a static rollback only re-routes), with the toy handlers
    and again through the real deploy and health services;
(c) non-2xx answers and connection errors during 20 switches under continuous load, for a client
    opening a connection per request and one keeping a single keep-alive connection.

Real NATS (embedded), Caddy (embedded) and Docker; the routing service runs in-process. The
deploy and health jobs are the toy handlers of the routing tests (tests/integration/routing/
service_support.py): they really start a container with the Docker SDK and probe it every 100 ms.
Run: `uv run python bench/switch.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import nats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.containers.docker import DockerContainerRuntime  # noqa: E402
from libs.containers.runtime import ContainerSpec  # noqa: E402
from libs.events.states import DeploymentState, DeploymentStatus  # noqa: E402
from libs.eventstore import (  # noqa: E402
    BootstrapOptions,
    JetStreamEventStore,
    Repository,
    bootstrap,
)
from libs.infra import EmbeddedCaddy, EmbeddedNats, find_binary, free_port  # noqa: E402
from libs.settings import Settings  # noqa: E402
from services.routing.main import run as run_routing  # noqa: E402
from tests.integration.routing.service_support import (  # noqa: E402
    APP_PORT,
    FAST_JOBS,
    Load,
    World,
)
from tests.support.images import scratch_image  # noqa: E402

IMAGE = "slipway-test/caddy-respond:latest"


def completed(state: DeploymentState) -> bool:
    return state.status is DeploymentStatus.COMPLETED


async def first_2xx(url: str, host: str | None, body: str | None, every_s: float) -> float:
    """Polls until a 2xx (with `body`, when given); returns the monotonic time it came."""
    headers = {"Host": host} if host else {}
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(url, headers=headers)
                if 200 <= r.status_code < 300 and (body is None or r.text == body):
                    return time.monotonic()
            await asyncio.sleep(every_s)


async def raw_docker_run(runtime: DockerContainerRuntime, n: int) -> float:
    t0 = time.monotonic()
    info = await runtime.run(
        ContainerSpec(
            name=f"bench-raw-{n}-{int(t0 * 1000)}",
            image=IMAGE,
            port=APP_PORT,
            labels={"slipway.bench": "switch"},
            command=("respond", "--listen", f":{APP_PORT}", "--body", f"raw {n}"),
        )
    )
    t1 = await first_2xx(f"http://{info.host}:{info.port}/", None, None, 0.1)
    await runtime.stop_and_remove(info.id, 0)
    return t1 - t0


async def through_slipway(world: World, body: str, start: Any) -> tuple[str, float]:
    """`start()` appends a deployment; the time until Caddy serves `body` at the environment."""
    edge = f"http://127.0.0.1:{world.settings.edge_port}/"
    waiter = asyncio.create_task(first_2xx(edge, world.env_host(), body, 0.01))
    t0 = time.monotonic()
    dep_id = await start()
    t1 = await waiter
    await world.wait(dep_id, completed)
    return dep_id, t1 - t0


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
    }


async def bench(runs: int, switches: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        work = Path(tmp)
        scratch_image(find_binary("caddy"), IMAGE)
        async with (
            EmbeddedNats(work / "nats") as server,
            EmbeddedCaddy(
                work / "caddy", admin=f"127.0.0.1:{free_port()}", edge_listen=f":{free_port()}"
            ) as caddy,
        ):
            nc = await nats.connect(server.url)
            await bootstrap(nc, BootstrapOptions(lease_ttl_s=FAST_JOBS["lease_ttl_s"]))
            assert caddy.edge_port is not None
            settings = Settings(
                nats_url=server.url,
                caddy_admin=caddy.admin,
                edge_port=caddy.edge_port,
                base_domain="localhost",
                data_dir=work / "data",
                static_root=work / "static",
                **FAST_JOBS,  # type: ignore[arg-type]
            )
            runtime = DockerContainerRuntime()
            world = World(Repository(JetStreamEventStore(nc)), settings, runtime, IMAGE, "bench")
            toy = world.toy_executor(nc)
            await toy.start()
            stop, ready = asyncio.Event(), asyncio.Event()
            routing = asyncio.create_task(run_routing(settings, stop, ready))
            await asyncio.wait_for(ready.wait(), 30)
            try:
                result = await _measure(world, runtime, runs, switches)
                await toy.stop()  # the real deploy and health services take their job types
                result["image_deploy_real_services"] = await _real_image_deploys(
                    world, settings, runtime, runs
                )
                return result
            finally:
                stop.set()
                await asyncio.wait_for(routing, 30)
                await toy.stop()
                await world.remove_all()
                for found in await runtime.list({"slipway.bench": "switch"}):
                    await runtime.stop_and_remove(found.info.id, 0)
                runtime.close()
                await nc.close()


async def _jobs_of(world: World) -> list[tuple[str, str, str | None]]:
    env = await world.environment()
    dep = env.admitted[-1].deployment_id if env.admitted else None
    if dep is None:
        return []
    state = await world.state(dep)
    return [(j.id, j.status.value, j.error) for j in state.ordered_jobs]


async def _real_image_deploys(
    world: World, settings: Settings, runtime: DockerContainerRuntime, runs: int
) -> dict[str, Any]:
    """(a) again, through Slipway's own deploy and health services (pull policy `missing`, the
    image is prebuilt): PullExternalImageJob -> DeployImageJob -> HealthCheckJob (100 ms probes)
    -> RouteTrafficJob, against `docker run` of the same image polled every 100 ms."""
    import docker
    from cryptography.fernet import Fernet

    from libs.events.values import ConfigSnapshot, DeploymentType, Source
    from services.deploy.main import run as run_deploy
    from services.gateway.deployments import rollback_deployment
    from services.health.main import run as run_health

    client = docker.from_env()
    tags = []
    for n in range(runs + 1):
        tag = f"slipway-bench/respond:r{n}"
        dockerfile = (
            f'FROM {IMAGE}\nCMD ["respond", "--listen", ":{APP_PORT}", "--body", "real{n}"]\n'
        )
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        tags.append(tag)
    real = settings.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    # What the gateway does when it configures an environment: a CRON_SECRET for its apps.
    import nats

    from libs.events.subjects import KV_SECRETS
    from libs.secrets import CRON_SECRET, SecretStore

    assert settings.nats_url is not None
    nc = await nats.connect(settings.nats_url)
    secrets = SecretStore(await nc.jetstream().key_value(KV_SECRETS), real.secret_key)
    await secrets.put(world.project, "production", CRON_SECRET, "bench-cron-secret")
    await nc.close()
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_deploy(real, stop)),
        asyncio.create_task(run_health(real, stop)),
    ]
    slip: list[float] = []
    raw: list[float] = []
    rolled: list[float] = []
    bodies: dict[str, str] = {}
    try:
        await asyncio.sleep(1.0)  # consumers bound
        for n, tag in enumerate(tags):

            async def start(tag: str = tag, n: int = n) -> str:
                return await world.deploy(
                    f"real{n}",
                    kind=DeploymentType.IMAGE,
                    source=Source(image_ref=tag, pull="missing"),
                    config=ConfigSnapshot(port=APP_PORT),
                )

            try:
                async with asyncio.timeout(120):
                    dep_id, took = await through_slipway(world, f"real{n}", start)
                bodies[dep_id] = f"real{n}"
            except TimeoutError:
                raise RuntimeError(f"real{n} was never served: {await _jobs_of(world)}") from None
            started = time.monotonic()
            container = client.containers.run(
                tag, detach=True, ports={f"{APP_PORT}/tcp": ("127.0.0.1", None)}
            )
            try:
                container.reload()
                port = int(container.ports[f"{APP_PORT}/tcp"][0]["HostPort"])
                await first_2xx(f"http://127.0.0.1:{port}/", None, f"real{n}", 0.1)
                raw_took = time.monotonic() - started
            finally:
                container.remove(force=True)
            if n:  # the first of each warms up
                slip.append(took)
                raw.append(raw_took)
        # (b) through the same services: a rollback built as the gateway builds it (the target's
        # recorded image; its containers were torn down when the next deployment took the route).
        deps = list(bodies)
        for _ in range(runs):
            target = await world.state(deps[-2])
            body = bodies[target.id]
            new = rollback_deployment(target.id, target)

            async def roll(new: Any = new, body: str = body) -> str:
                dep = await world.request(
                    body,
                    env=new.environment,
                    kind=new.kind,
                    source=new.source,
                    plan=new.plan,
                    config=new.config,
                )
                await world.admit(dep, new.environment)
                return dep

            try:
                async with asyncio.timeout(120):
                    dep_id, took = await through_slipway(world, body, roll)
            except TimeoutError:
                raise RuntimeError(f"rollback never served: {await _jobs_of(world)}") from None
            bodies[dep_id] = body
            deps.append(dep_id)
            rolled.append(took)
    finally:
        stop.set()
        await asyncio.wait(services, timeout=30)
        for tag in tags:
            with contextlib.suppress(Exception):
                client.images.remove(tag, force=True)
        client.close()
    s_med, r_med = statistics.median(slip), statistics.median(raw)
    return {
        "slipway": summary(slip),
        "raw_docker_run": summary(raw),
        "overhead_s": round(s_med - r_med, 3),
        "target_met": s_med <= r_med + 0.3,
        "rollback_to_old_content": summary(rolled),
        "rollback_target_met": statistics.median(rolled) <= 1.5,
    }


async def _measure(
    world: World, runtime: DockerContainerRuntime, runs: int, switches: int
) -> dict[str, Any]:
    await world.configure()
    await world.configure("static")
    deps: list[str] = []
    deploy_times: list[float] = []
    raw_times: list[float] = []
    for n in range(runs + 1):  # the first deploy warms up (image cache, first route)
        raw = await raw_docker_run(runtime, n)

        async def start(n: int = n) -> str:
            return await world.deploy(f"v{n}")

        dep_id, took = await through_slipway(world, f"v{n}", start)
        if deps:
            await world.teardown(deps[-1])
        deps.append(dep_id)
        if n:
            raw_times.append(raw)
            deploy_times.append(took)

    rollback_times: list[float] = []
    for _ in range(runs):
        target = deps[-2]
        body = (await world.state(target)).config.command or ""

        async def roll(target: str = target) -> str:
            return await world.rollback(target)

        dep_id, took = await through_slipway(world, body, roll)
        await world.teardown(deps[-1])
        deps.append(dep_id)
        rollback_times.append(took)

    static_rollbacks = await _static_rollbacks(world, runs)

    host = world.env_host()
    admin = f"http://{world.settings.caddy_admin}/config/"
    async with httpx.AsyncClient() as client:
        config_before = (await client.get(admin)).json()
    loads = [Load(world.settings.edge_port, host, keep_alive=k) for k in (False, True)]
    threads = [threading.Thread(target=load.run, daemon=True) for load in loads]
    for t in threads:
        t.start()
    try:
        for n in range(switches):
            deps.append(await world.deploy(f"s{n}"))
            await world.wait(deps[-1], completed)
            await asyncio.sleep(0.3)  # drain before the old replica goes
            await world.teardown(deps[-2])
        await asyncio.sleep(0.5)
    finally:
        for load in loads:
            load.stop.set()
        for t in threads:
            await asyncio.to_thread(t.join, 30)
    async with httpx.AsyncClient() as client:
        config_after = (await client.get(admin)).json()

    deploy_median = statistics.median(deploy_times)
    raw_median = statistics.median(raw_times)
    return {
        "bench": "switch",
        "runs": runs,
        "deploy_handlers": "toy (tests/integration/routing/service_support.py): docker SDK run, "
        "health probe every 100 ms",
        "a_image_deploy": {
            "slipway_admission_to_first_2xx": summary(deploy_times),
            "raw_docker_run_to_first_2xx_polling_100ms": summary(raw_times),
            "overhead_median_s": round(deploy_median - raw_median, 3),
            "target": "<= raw + 0.3 s median",
            "met": deploy_median <= raw_median + 0.3,
        },
        "b_rollback": {
            "image_rollback_to_old_content": summary(rollback_times),
            "static_rollback_to_old_content": summary(static_rollbacks),
            "target": "<= 1.5 s median",
            "met": statistics.median(rollback_times) <= 1.5,
        },
        "c_switches_under_load": {
            "switches": switches,
            "new_connection_per_request": {
                "requests": loads[0].ok + len(loads[0].failures),
                "failures": len(loads[0].failures),
                "examples": loads[0].failures[:3],
            },
            "keep_alive": {
                "requests": loads[1].ok + len(loads[1].failures),
                "failures": len(loads[1].failures),
                "examples": loads[1].failures[:3],
            },
            "caddy_config_changed": config_after != config_before,
            "target": "zero",
            "met": not loads[0].failures and not loads[1].failures,
        },
    }


async def _static_rollbacks(world: World, runs: int) -> list[float]:
    from libs.events.values import DeploymentType

    first = await world.deploy("static a", env="static", kind=DeploymentType.STATIC_BUNDLE)
    await world.wait(first, completed)
    second = await world.deploy("static b", env="static", kind=DeploymentType.STATIC_BUNDLE)
    await world.wait(second, completed)
    edge = f"http://127.0.0.1:{world.settings.edge_port}/"
    times = []
    targets = [first, second]
    for n in range(runs):
        target = targets[n % 2]
        body = "static a" if target == first else "static b"
        waiter = asyncio.create_task(first_2xx(edge, world.env_host("static"), body, 0.01))
        t0 = time.monotonic()
        dep_id = await world.rollback(target)
        times.append(await waiter - t0)
        await world.wait(dep_id, completed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--switches", type=int, default=20)
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the one JSON object only
        result = asyncio.run(bench(args.runs, args.switches))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
