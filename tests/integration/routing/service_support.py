"""The routing service against real NATS, Caddy and Docker: a world of toy deploy/health handlers
(containers of a FROM-scratch `caddy respond` image), deployments requested and admitted by hand,
and requests through the edge with a Host header."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from libs.containers.docker import DockerContainerRuntime
from libs.containers.runtime import ContainerSpec
from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.hosts import deployment_host
from libs.events.outputs import (
    DeployImageOutput,
    DeployStaticOutput,
    HealthCheckOutput,
    ImageOutput,
)
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate, environment_id
from libs.events.values import (
    ConfigSnapshot,
    ContainerInfo,
    DeploymentType,
    JobSpec,
    JobType,
    Preset,
    Source,
    TriggerInfo,
)
from libs.eventstore import Repository
from libs.jobs import Executor, JobContext, JobSkip
from libs.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
APP_PORT = 8000
SLOW_MARK = "slow"  # a body containing it makes the toy DeployImageJob take SLOW_DEPLOY_S
SLOW_DEPLOY_S = 3.0
FAST_JOBS = {
    "ack_wait_s": 1.0,
    "in_progress_every_s": 0.3,
    "lease_ttl_s": 5.0,
    "lease_refresh_s": 1.0,
    "lost_holder_nak_delay_s": 0.3,
    "cancel_poll_s": 0.1,
    "job_slots": 8,
}
USER = "tok_tester"


def answers(body: str) -> Callable[[int, str], bool]:
    """For `World.served`: a 200 with exactly this body."""
    return lambda status, text: status == 200 and text == body


def settings_env(settings: Settings) -> dict[str, str]:
    """The routing settings as SLIPWAY_* variables, for a service in a subprocess."""
    out = {
        "SLIPWAY_NATS_URL": settings.nats_url or "",
        "SLIPWAY_CADDY_ADMIN": settings.caddy_admin,
        "SLIPWAY_EDGE_PORT": str(settings.edge_port),
        "SLIPWAY_BASE_DOMAIN": settings.base_domain,
        "SLIPWAY_DATA_DIR": str(settings.data_dir),
        "SLIPWAY_ROUTES_DIR": str(settings.route_files_dir),
        "SLIPWAY_STATIC_ROOT": str(settings.static_dir),
    }
    out.update({f"SLIPWAY_{k.upper()}": str(v) for k, v in FAST_JOBS.items()})
    return out


@dataclass
class World:
    repo: Repository
    settings: Settings
    runtime: DockerContainerRuntime
    image: str
    project: str
    label: str = field(default_factory=lambda: f"routing-test-{uuid.uuid4().hex[:8]}")
    started: list[str] = field(default_factory=list)  # container ids, removed at the end
    health_interval_s: float = 0.1  # the fast window of §7: a probe every 100 ms

    # ------------------------------------------------------------------ hosts and requests

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.settings.edge_port}"

    def env_host(self, env: str = "production") -> str:
        return f"{env}.{self.project}.{self.settings.base_domain}"

    def dep_host(self, dep_id: str) -> str:
        return deployment_host(dep_id, self.project, self.settings.base_domain)

    async def get(self, host: str, path: str = "/") -> tuple[int, str]:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"{self.edge}{path}", headers={"Host": host})
            return r.status_code, r.text

    async def served(
        self, host: str, want: Callable[[int, str], bool], timeout: float = 15.0
    ) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        last: tuple[int, str] = (0, "")
        while loop.time() < end:
            with contextlib.suppress(httpx.HTTPError):
                last = await self.get(host)
                if want(*last):
                    return last
            await asyncio.sleep(0.05)
        raise AssertionError(f"{host} never served what was wanted; last answer {last}")

    # ------------------------------------------------------------------ the log

    async def append(self, aggregate: Aggregate, agg_id: str, data: EventData) -> int:
        envelope = new_event(
            data,
            aggregate=aggregate,
            aggregate_id=agg_id,
            causation_id=uuid.uuid4().hex,
            actor=USER,
            correlation_id=getattr(data, "deployment_id", None) or agg_id,
        )
        # A user's command: decided on the latest state and tried again when the services
        # appended meanwhile (a job finishing just as the command comes), as the gateway does.
        _, stored = await self.repo.execute(aggregate, agg_id, lambda _state: [envelope])
        return stored[0].seq

    async def configure(self, env: str = "production", **fields: Any) -> str:
        env_id = environment_id(self.project, env)
        await self.append(
            Aggregate.ENVIRONMENT,
            env_id,
            ev.EnvironmentConfigured(project=self.project, environment=env, **fields),
        )
        return env_id

    async def request(
        self,
        body: str,
        *,
        env: str = "production",
        kind: DeploymentType = DeploymentType.IMAGE,
        source: Source | None = None,
        plan: tuple[JobSpec, ...] | None = None,
        config: ConfigSnapshot | None = None,
    ) -> str:
        """Requests a deployment whose app answers `body` (the toy reads it from the config;
        real executors get `config`)."""
        dep_id = str(uuid.uuid4())
        data = ev.DeploymentRequested(
            deployment_id=dep_id,
            project=self.project,
            environment=env,
            deployment_type=kind,
            source=source
            or (
                Source(bundle=f"bundles/{dep_id}")
                if kind is DeploymentType.STATIC_BUNDLE
                else Source(image_ref=self.image)
            ),
            plan=plan or plans.initial_plan(kind),
            config=config or ConfigSnapshot(command=body),
            trigger=TriggerInfo(kind="api", actor=USER),
        )
        await self.append(Aggregate.DEPLOYMENT, dep_id, data)
        return dep_id

    async def admit(self, dep_id: str, env: str = "production") -> int:
        """Admission as the admission manager would store it: environment, then deployment."""
        seq = await self.append(
            Aggregate.ENVIRONMENT,
            environment_id(self.project, env),
            ev.DeploymentAdmitted(deployment_id=dep_id),
        )
        await self.append(Aggregate.DEPLOYMENT, dep_id, ev.DeploymentAdmitted(deployment_id=dep_id))
        return seq

    async def deploy(self, body: str, **kwargs: Any) -> str:
        dep_id = await self.request(body, **kwargs)
        await self.admit(dep_id, kwargs.get("env", "production"))
        return dep_id

    async def rollback(self, target_id: str) -> str:
        target = await self.state(target_id)
        static = {JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE}
        preset = (
            Preset.STATIC if static & {j.type for j in target.jobs.values()} else Preset.CONTAINER
        )
        source = Source(
            image_ref=target.source.image_ref,
            image_id=self.image if preset is Preset.CONTAINER else None,
            static_object=None if preset is Preset.CONTAINER else f"bundles/{target_id}",
            rollback_of=target_id,
        )
        dep_id = await self.request(
            target.config.command or "",
            env=target.environment,
            kind=DeploymentType.ROLLBACK,
            source=source,
            plan=plans.initial_plan(DeploymentType.ROLLBACK, rollback_preset=preset),
        )
        await self.admit(dep_id, target.environment)
        return dep_id

    async def state(self, dep_id: str) -> DeploymentState:
        state: DeploymentState = (await self.repo.load(Aggregate.DEPLOYMENT, dep_id)).state
        return state

    async def environment(self, env: str = "production") -> EnvironmentState:
        loaded = await self.repo.load(Aggregate.ENVIRONMENT, environment_id(self.project, env))
        state: EnvironmentState = loaded.state
        return state

    async def wait(
        self, dep_id: str, pred: Callable[[DeploymentState], bool], timeout: float = 60.0
    ) -> DeploymentState:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            state = await self.state(dep_id)
            if pred(state):
                return state
            if loop.time() > end:
                jobs = [(j.id, j.status.value, j.attempt, j.error) for j in state.ordered_jobs]
                raise AssertionError(f"timed out: {state.status.value}, jobs {jobs}")
            await asyncio.sleep(0.1)

    async def teardown(self, dep_id: str, reason: str = "teardown") -> None:
        """What deploy does to old or paused containers: stop, remove, ContainersRemoved."""
        state = await self.state(dep_id)
        ids = tuple(c.id for c in state.containers)
        for cid in ids:
            await self.runtime.stop_and_remove(cid, 1.0)
        if ids:
            await self.append(
                Aggregate.DEPLOYMENT, dep_id, ev.ContainersRemoved(container_ids=ids, reason=reason)
            )

    async def remove_all(self) -> None:
        for found in await self.runtime.list({"slipway.test": self.label}):
            with contextlib.suppress(Exception):
                await self.runtime.stop_and_remove(found.info.id, 0)

    # ------------------------------------------------------------------ toy executors

    def toy_executor(self, nc: Any) -> Executor:
        handlers = {
            JobType.PULL_EXTERNAL_IMAGE: self._image,
            JobType.VERIFY_LOCAL_IMAGE: self._image,
            JobType.DEPLOY_IMAGE: self._deploy_image,
            JobType.DEPLOY_STATIC_BUNDLE: self._deploy_static,
            JobType.HEALTH_CHECK: self._health,
            JobType.TAKE_SCREENSHOT: _skip,
            JobType.SCAN_VULNERABILITIES: _skip,
            JobType.CONFIGURE_CRONS: _skip,
        }
        return Executor(nc, handlers, settings=self.settings, name="toy-deploy")

    async def _image(self, ctx: JobContext) -> ImageOutput:
        info = await self.runtime.image_info(self.image)
        return ImageOutput(image_id=info.id, size_bytes=info.size)

    async def _deploy_image(self, ctx: JobContext) -> DeployImageOutput:
        body = ctx.state.config.command or ""
        if SLOW_MARK in body:
            await asyncio.sleep(SLOW_DEPLOY_S)
        await ctx.fence()
        spec = ContainerSpec(
            name=f"rt-{ctx.deployment_id[:8]}-{ctx.job.id}-{ctx.attempt}-{self.label[-8:]}",
            image=self.image,
            port=APP_PORT,
            labels={**ctx.labels, "slipway.test": self.label},
            command=("respond", "--listen", f":{APP_PORT}", "--body", body),
        )
        info = await self.runtime.run(spec)
        self.started.append(info.id)
        started = ev.ContainersStarted(job_id=ctx.job.id, attempt=ctx.attempt, containers=(info,))
        envelope = new_event(
            started,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=ctx.deployment_id,
            causation_id=ctx.started_event_id or uuid.uuid4().hex,
            actor="toy-deploy",
            correlation_id=ctx.deployment_id,
            job_id=ctx.job.id,
            attempt=ctx.attempt,
        )

        def decide(_: DeploymentState) -> list[Envelope]:
            return [envelope]

        await self.repo.execute(Aggregate.DEPLOYMENT, ctx.deployment_id, decide)
        return DeployImageOutput(containers=(info,), port=APP_PORT)

    async def _deploy_static(self, ctx: JobContext) -> DeployStaticOutput:
        root = self.settings.static_dir.absolute() / ctx.deployment_id
        root.mkdir(parents=True, exist_ok=True)
        (root / "index.html").write_text(ctx.state.config.command or "")
        return DeployStaticOutput(static_root=str(root), files=1)

    async def _health(self, ctx: JobContext) -> HealthCheckOutput:
        containers: list[ContainerInfo] = list(ctx.state.containers)
        loop = asyncio.get_running_loop()
        start = loop.time()
        probes = 0
        async with httpx.AsyncClient(timeout=2) as client:
            for c in containers:
                while True:
                    probes += 1
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"http://{c.host}:{c.port}/")).status_code == 200:
                            break
                    if loop.time() - start > 30:
                        raise RuntimeError(f"{c.name} never answered")
                    await asyncio.sleep(self.health_interval_s)
        return HealthCheckOutput(probes=probes, time_to_healthy_s=loop.time() - start, status=200)


async def _skip(ctx: JobContext) -> None:
    raise JobSkip("not part of the routing tests")


# ---------------------------------------------------------------- load through the edge


@dataclass
class Load:
    """Sequential GETs until stopped; every non-2xx answer and every error is a failure."""

    port: int
    host: str
    keep_alive: bool
    ok: int = 0
    bodies: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            if conn is None or not self.keep_alive:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                headers = {"Host": self.host}
                if not self.keep_alive:
                    headers["Connection"] = "close"
                conn.request("GET", "/", headers=headers)
                response = conn.getresponse()
                body = response.read().decode()
                if 200 <= response.status < 300:
                    self.ok += 1
                    self.bodies.add(body)
                else:
                    self.failures.append(f"{response.status} {body[:60]}")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))  # no retry: a keep-alive reset counts too
                conn.close()
                conn = None
            if not self.keep_alive and conn is not None:
                conn.close()
        if conn is not None:
            conn.close()


# ---------------------------------------------------------------- a routing service process


class RoutingProcess:
    """`python -m services.routing.main` with the world's settings (stdout says when ready)."""

    def __init__(self, settings: Settings, log: Path, **extra_env: str) -> None:
        self.env = {**os.environ, **settings_env(settings), **extra_env, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> RoutingProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.routing.main"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=out,
        )
        out.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if b"routing ready" not in line:
            raise RuntimeError(f"routing did not start: {line!r}\n{self.log.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
