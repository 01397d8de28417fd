"""In-process run side for integration tests: the deploy and health executors, the deploy
lifecycle and toy routing handlers, on a NATS server of the test's own and the real Docker Engine.

The job consumers have fixed durable names, so every test gets its own nats-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import nats
import pytest
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.artifacts import NatsArtifactStore
from libs.containers.docker import DockerContainerRuntime
from libs.events import catalog as ev
from libs.events import subjects
from libs.events.envelope import Envelope, new_event
from libs.events.hosts import deployment_host, environment_hosts
from libs.events.outputs import (
    DeployImageOutput,
    DeployStaticOutput,
    MarkCompleteOutput,
    RouteTrafficOutput,
)
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate, environment_id
from libs.events.values import (
    ConfigSnapshot,
    DeploymentType,
    JobSpec,
    JobType,
    Source,
    TriggerInfo,
)
from libs.eventstore import BootstrapOptions, JetStreamEventStore, Repository, bootstrap
from libs.jobs import Executor, JobContext, JobTypeSpec
from libs.settings import Settings
from services.deploy.adapters.kv_variables import KvVariables
from services.deploy.handlers import DeployDeps
from services.deploy.handlers import job_handlers as deploy_handlers
from services.deploy.lifecycle import DeployLifecycle
from services.health.handlers import job_handlers as health_handlers
from tests.factories import uid

SHORT = {
    "ack_wait_s": 2.0,
    "in_progress_every_s": 0.5,
    "lease_ttl_s": 5.0,
    "lease_refresh_s": 1.0,
    "lost_holder_nak_delay_s": 0.3,
    "cancel_poll_s": 0.25,
    "job_slots": 4,
    "health_fast_interval_s": 0.1,
    "health_fast_window_s": 2.0,
    "health_slow_interval_s": 0.5,
    "health_request_timeout_s": 2.0,
    "health_confirm_delay_s": 0.1,
    "health_5xx_limit_s": 2.0,
    "health_total_limit_s": 30.0,
    "drain_s": 0.5,
    "stop_grace_s": 1.0,
    "reconcile_interval_s": 0.5,
}

APP_PORT = 8000
APP_SOURCE = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("CRASH"):
    if os.path.exists("/tmp/crashed"):  # restarted by the restart policy: stay quiet
        time.sleep(120)
    open("/tmp/crashed", "w").close()
    for n in range(120):
        print(f"boot step {n}", flush=True)
    # stdout, like the boot lines: Docker stamps each stream as it copies it, so a stderr line
    # may be ordered before stdout lines printed earlier.
    print("fatal: cannot reach the database", flush=True)
    sys.exit(3)
STATUS = int(os.environ.get("HEALTH_STATUS", "200"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/env":
            status, body = 200, json.dumps(dict(os.environ)).encode()
        else:
            status, body = STATUS, b"hello from the test app"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)


port = int(os.environ.get("PORT", "8000"))
print(f"listening on {port}", flush=True)
ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), port), Handler).serve_forever()
"""


def build_image(client: docker.DockerClient, files: dict[str, bytes], tag: str) -> str:
    """`docker build` of an in-memory context; returns the image id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return str(image.id)


def app_image(client: docker.DockerClient, python_base: str) -> str:
    """A stdlib HTTP app on the Debian python image: /env shows its environment; HEALTH_STATUS
    sets the status of every other path; CRASH=1 prints 120 lines and exits 3 (then, restarted,
    stays silent, so its last 100 lines are the first run's)."""
    dockerfile = (
        f"FROM {python_base}\nCOPY app.py /app.py\nEXPOSE {APP_PORT}\n"
        'CMD ["python3", "-u", "/app.py"]\n'
    )
    digest = hashlib.sha256((dockerfile + APP_SOURCE).encode()).hexdigest()[:12]
    tag = f"slipway-test/deploy-app:{digest}"
    build_image(client, {"Dockerfile": dockerfile.encode(), "app.py": APP_SOURCE.encode()}, tag)
    return tag


def remove_containers(client: docker.DockerClient, label: str) -> None:
    for c in client.containers.list(all=True, filters={"label": label}, sparse=True):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)


@dataclass
class RunSide:
    nc: NATS
    settings: Settings
    runtime: DockerContainerRuntime
    repo: Repository
    store: JetStreamEventStore
    variables: KvVariables
    fernet: Fernet
    artifacts: NatsArtifactStore
    project: str
    environment: str = "prod"
    executors: list[Executor] = field(default_factory=list)
    lifecycle: DeployLifecycle | None = None

    @property
    def env_id(self) -> str:
        return environment_id(self.project, self.environment)

    async def put_variable(self, name: str, value: str) -> int:
        kv = await self.nc.jetstream().key_value(subjects.KV_SECRETS)
        key = subjects.secret_key(self.project, self.environment, name)
        return await kv.put(key, self.fernet.encrypt(value.encode()))

    async def start_deploy(self) -> None:
        deps = DeployDeps(
            runtime=self.runtime,
            images=self.runtime,
            variables=self.variables,
            artifacts=self.artifacts,
            repo=self.repo,
            static_dir=self.settings.static_dir,
            work_dir=self.settings.data_dir / "tmp",
        )
        await self._start(deploy_handlers(deps, self.settings))

    async def start_health(self, client: httpx.AsyncClient) -> None:
        await self._start(health_handlers(self.runtime, client, self.settings))

    async def start_router(self) -> None:
        await self._start(toy_routing(self.repo, self.settings))

    async def start_lifecycle(self) -> DeployLifecycle:
        self.lifecycle = DeployLifecycle(
            self.nc, self.runtime, self.runtime, self.settings, static_dir=self.settings.static_dir
        )
        await self.lifecycle.start()
        return self.lifecycle

    async def _start(self, handlers: dict[JobType, JobTypeSpec]) -> None:
        executor = Executor(self.nc, handlers, settings=self.settings)
        await executor.start()
        self.executors.append(executor)

    async def stop(self) -> None:
        if self.lifecycle is not None:
            await self.lifecycle.stop()
            self.lifecycle = None
        while self.executors:
            await self.executors.pop().stop()

    async def request(
        self,
        kind: DeploymentType,
        source: Source,
        *,
        plan: tuple[JobSpec, ...],
        config: ConfigSnapshot | None = None,
        dep: str | None = None,
        prelude: Sequence[ev.EventData] = (),
    ) -> str:
        """DeploymentRequested (+ `prelude`, e.g. jobs already done) + DeploymentAdmitted, on the
        deployment and the environment."""
        dep = dep or uid("d")
        requested = ev.DeploymentRequested(
            deployment_id=dep,
            project=self.project,
            environment=self.environment,
            deployment_type=kind,
            source=source,
            plan=plan,
            config=config or ConfigSnapshot(),
            trigger=TriggerInfo(kind="api"),
        )
        admitted = ev.DeploymentAdmitted(deployment_id=dep, commit_sha=source.commit_sha)
        loaded = await self.repo.load(Aggregate.DEPLOYMENT, dep)
        await self.repo.append(
            loaded,
            [
                _dep_event(dep, requested, "req"),
                *(_dep_event(dep, e, f"pre{n}") for n, e in enumerate(prelude)),
                _dep_event(dep, admitted, "adm"),
            ],
        )
        env_event = new_event(
            admitted,
            aggregate=Aggregate.ENVIRONMENT,
            aggregate_id=self.env_id,
            causation_id=f"adm-{dep}",
            actor="test",
            correlation_id=dep,
        )
        await self.repo.execute(Aggregate.ENVIRONMENT, self.env_id, lambda _: [env_event])
        return dep

    async def state(self, dep: str) -> DeploymentState:
        return (await self.repo.load(Aggregate.DEPLOYMENT, dep)).state  # type: ignore[no-any-return]

    async def wait_for(
        self, dep: str, pred: Callable[[DeploymentState], bool], timeout: float = 60.0
    ) -> DeploymentState:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            state = await self.state(dep)
            if pred(state):
                return state
            if loop.time() > end:
                jobs = [(j.id, j.status.value, j.error) for j in state.ordered_jobs]
                raise AssertionError(f"timed out: {state.status.value} {state.end_reason} {jobs}")
            await asyncio.sleep(0.1)

    async def events(self, dep: str) -> list[Envelope]:
        return [r.envelope for r in await self.store.load(Aggregate.DEPLOYMENT, dep)]

    async def log_lines(self, subject: str, *, settle_s: float = 0.5) -> list[dict[str, Any]]:
        """Every JSON line stored in SLIPWAY_LOGS on `subject` so far."""
        js = self.nc.jetstream()
        sub = await js.subscribe(
            subject,
            ordered_consumer=True,
            stream=subjects.LOGS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        lines: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=settle_s)
                except nats.errors.TimeoutError:
                    return lines
                lines += [json.loads(x) for x in msg.data.decode().splitlines() if x.strip()]
        finally:
            await sub.unsubscribe()


def _dep_event(dep: str, data: ev.EventData, cause: str) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=dep,
        causation_id=f"{cause}-{dep}",
        actor="test",
        correlation_id=dep,
    )


def toy_routing(repo: Repository, settings: Settings) -> dict[JobType, JobTypeSpec]:
    """RouteTrafficJob: claims the route by appending TrafficSwitched (no fence, no proxy);
    MarkDeploymentCompleteJob: answers the URL."""

    async def route(ctx: JobContext) -> RouteTrafficOutput:
        state = ctx.state
        upstreams: tuple[str, ...] = ()
        static_root = None
        for job in state.ordered_jobs:
            if job.type is JobType.DEPLOY_IMAGE and job.output:
                out = DeployImageOutput.model_validate(job.output)
                upstreams = tuple(f"{c.host}:{c.port}" for c in out.containers)
            if job.type in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE) and job.output:
                static_root = DeployStaticOutput.model_validate(job.output).static_root
        env_id = environment_id(state.project, state.environment)
        switched = new_event(
            ev.TrafficSwitched(
                mode="deployment",
                deployment_id=state.id,
                upstreams=upstreams,
                static_root=static_root,
                job_id=ctx.job.id,
            ),
            aggregate=Aggregate.ENVIRONMENT,
            aggregate_id=env_id,
            causation_id=f"route-{state.id}-{ctx.attempt}",
            actor="toy-router",
            correlation_id=state.id,
        )

        def decide(_: EnvironmentState) -> list[Envelope]:
            return [switched]

        loaded, appended = await repo.execute(Aggregate.ENVIRONMENT, env_id, decide)
        return RouteTrafficOutput(
            host=environment_hosts(state.project, state.environment, settings.base_domain)[0],
            deployment_host=deployment_host(state.id, state.project, settings.base_domain),
            upstreams=upstreams,
            static_root=static_root,
            traffic_seq=appended[0].seq if appended else loaded.last_seq,
        )

    async def complete(ctx: JobContext) -> MarkCompleteOutput:
        return MarkCompleteOutput(url=f"http://{ctx.state.environment}.{ctx.state.project}")

    return {
        JobType.ROUTE_TRAFFIC: JobTypeSpec(route, 4),
        JobType.MARK_DEPLOYMENT_COMPLETE: JobTypeSpec(complete, 4),
    }


@contextlib.asynccontextmanager
async def run_side(nats_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[RunSide]:
    key = Fernet.generate_key()
    settings = Settings(
        **{**SHORT, **overrides},  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        static_root=tmp_path / "static",
        secret_key=key.decode(),
    )
    settings.static_dir.mkdir(parents=True, exist_ok=True)
    nc = await nats.connect(nats_url)
    await bootstrap(nc, BootstrapOptions(lease_ttl_s=settings.lease_ttl_s))
    js = nc.jetstream()
    store = JetStreamEventStore(nc)
    runtime = DockerContainerRuntime()
    side = RunSide(
        nc=nc,
        settings=settings,
        runtime=runtime,
        repo=Repository(store),
        store=store,
        variables=KvVariables(await js.key_value(subjects.KV_SECRETS), key),
        fernet=Fernet(key),
        artifacts=NatsArtifactStore(js),
        project=uid("p"),
    )
    try:
        yield side
    finally:
        await side.stop()
        await nc.close()
        runtime.close()


# ---------------------------------------------------------------- fixtures (imported by conftests)


@pytest.fixture(scope="session")
def deploy_app_image(docker_client: docker.DockerClient, python_base_image: str) -> Iterator[str]:
    tag = app_image(docker_client, python_base_image)
    yield tag
    with contextlib.suppress(docker.errors.APIError):
        docker_client.images.remove(tag)


@pytest.fixture
async def side(
    own_nats_url: str, tmp_path: Path, docker_client: docker.DockerClient
) -> AsyncIterator[RunSide]:
    async with run_side(own_nats_url, tmp_path) as s:
        try:
            yield s
        finally:
            await s.stop()
            remove_containers(docker_client, f"slipway.project={s.project}")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client
