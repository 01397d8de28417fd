"""Toy executors for the jobs post-deploy does not own (download, deploy, health, route,
complete), real enough for the post-deploy jobs: containers run in Docker, static files are
written to the static root, routes are claimed with TrafficSwitched and applied to a real Caddy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS

from libs.containers.docker import DockerContainerRuntime
from libs.containers.runtime import ContainerSpec
from libs.events import catalog as ev
from libs.events.config import parse_slipway_toml
from libs.events.envelope import new_event
from libs.events.hosts import deployment_host, environment_hosts
from libs.events.outputs import (
    DeployImageOutput,
    DeployStaticOutput,
    DownloadRepoOutput,
    ImageOutput,
    MarkCompleteOutput,
    RouteTrafficOutput,
)
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import KV_SECRETS, Aggregate, environment_id, secret_key
from libs.events.values import ConfigSnapshot, DeploymentType, JobSpec, JobType, Source, TriggerInfo
from libs.eventstore import Repository
from libs.jobs import Executor, JobContext, JobError
from libs.jobs.context import Handler
from libs.settings import Settings
from services.postdeploy.main import serve
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.desired import (
    DeploymentRoute,
    deployment_route,
    desired_state,
    environment_route,
)
from tests.factories import uid

APP_PORT = 8000
TEST_LABEL = "slipway.pdtest"

# A stdlib app that records every request; GET /_calls returns them. A wrong bearer gets a 401.
APP = r"""
import http.server, json, os, threading
calls, lock = [], threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def handle_any(self):
        if self.path == "/_calls":
            with lock:
                body, status = json.dumps(calls).encode(), 200
        else:
            auth = self.headers.get("Authorization")
            ok = auth == "Bearer " + os.environ.get("CRON_SECRET", "")
            with lock:
                calls.append({"method": self.command, "path": self.path, "auth": auth,
                              "slot": self.headers.get("X-Slipway-Cron-Slot")})
            body, status = (b"ok", 200) if ok else (b"bad secret", 401)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""


def container_plan(optional: tuple[JobType, ...]) -> tuple[JobSpec, ...]:
    """DownloadRepoJob then the container tail, with only the optional jobs a test wants."""
    req = [JobType.DOWNLOAD_REPO, JobType.DEPLOY_IMAGE, JobType.HEALTH_CHECK,
           JobType.ROUTE_TRAFFIC, JobType.MARK_DEPLOYMENT_COMPLETE]  # fmt: skip
    return _chain(req, optional)


def static_plan(optional: tuple[JobType, ...]) -> tuple[JobSpec, ...]:
    req = [JobType.DOWNLOAD_REPO, JobType.DEPLOY_STATIC, JobType.ROUTE_TRAFFIC,
           JobType.MARK_DEPLOYMENT_COMPLETE]  # fmt: skip
    return _chain(req, optional)


def image_plan(optional: tuple[JobType, ...]) -> tuple[JobSpec, ...]:
    req = [JobType.VERIFY_LOCAL_IMAGE, JobType.HEALTH_CHECK, JobType.ROUTE_TRAFFIC,
           JobType.MARK_DEPLOYMENT_COMPLETE]  # fmt: skip
    return _chain(req, optional)


def _chain(required: list[JobType], optional: tuple[JobType, ...]) -> tuple[JobSpec, ...]:
    from libs.events.plans import chain

    return chain(required, optional)


@dataclass
class World:
    nc: NATS
    repo: Repository
    settings: Settings
    proxy: CaddyAdminProxy | None = None
    runtime: DockerContainerRuntime | None = None
    app_image: str | None = None
    project: str = field(default_factory=lambda: uid("p"))
    tomls: dict[str, str] = field(default_factory=dict)
    static_files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # deployment -> image id to verify
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    routes: dict[str, DeploymentRoute] = field(default_factory=dict)

    # ------------------------------------------------------------------ set-up

    async def put_cron_secret(self, environment: str) -> str:
        kv = await self.nc.jetstream().key_value(KV_SECRETS)
        value = "cron-" + uuid.uuid4().hex
        assert self.settings.secret_key
        token = Fernet(self.settings.secret_key).encrypt(value.encode())
        await kv.put(secret_key(self.project, environment, "CRON_SECRET"), token)
        return value

    async def deploy(
        self,
        plan: tuple[JobSpec, ...],
        *,
        environment: str = "prod",
        kind: DeploymentType = DeploymentType.GIT,
        toml: str | None = None,
        static: dict[str, bytes] | None = None,
        image: str | None = None,
        commit: str | None = None,
    ) -> str:
        """Requests and admits a deployment (on both aggregates, as admission does)."""
        dep = uid("d")
        if toml is not None:
            self.tomls[dep] = toml
        if static is not None:
            self.static_files[dep] = static
        if image is not None:
            self.images[dep] = image
        env_id = environment_id(self.project, environment)
        env = await self.repo.load(Aggregate.ENVIRONMENT, env_id)
        events: list[ev.EnvironmentConfigured | ev.DeploymentAdmitted] = []
        if not env.exists:
            events.append(ev.EnvironmentConfigured(project=self.project, environment=environment))
        events.append(ev.DeploymentAdmitted(deployment_id=dep, commit_sha=commit))
        await self.repo.append(env, [_env(env_id, e, dep) for e in events])
        loaded = await self.repo.load(Aggregate.DEPLOYMENT, dep)
        requested = ev.DeploymentRequested(
            deployment_id=dep,
            project=self.project,
            environment=environment,
            deployment_type=kind,
            source=Source(repo_url="https://example.test/app.git", commit_sha=commit or uid("c")),
            plan=plan,
            config=ConfigSnapshot(),
            trigger=TriggerInfo(kind="api"),
        )
        await self.repo.append(
            loaded,
            [
                _dep(dep, requested, "req"),
                _dep(dep, ev.DeploymentAdmitted(deployment_id=dep), "adm"),
            ],
        )
        return dep

    async def stop(self, dep: str) -> None:
        loaded = await self.repo.load(Aggregate.DEPLOYMENT, dep)
        await self.repo.append(
            loaded, [_dep(dep, ev.DeploymentStopped(reason="user", by="t"), "stop")]
        )

    async def state(self, dep: str) -> DeploymentState:
        state: DeploymentState = (await self.repo.load(Aggregate.DEPLOYMENT, dep)).state
        return state

    async def wait(self, dep: str, pred: Any, timeout: float = 60.0) -> DeploymentState:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            state = await self.state(dep)
            if pred(state):
                return state
            if loop.time() > end:
                jobs = [
                    (j.id, j.status.value, j.error or j.skip_reason) for j in state.ordered_jobs
                ]
                raise AssertionError(f"timed out; {state.status.value}, jobs {jobs}")
            await asyncio.sleep(0.1)

    # ------------------------------------------------------------------ the toy jobs

    def executor(self) -> Executor:
        handlers: dict[JobType, Handler] = {
            JobType.DOWNLOAD_REPO: self.download,
            JobType.VERIFY_LOCAL_IMAGE: self.verify,
            JobType.DEPLOY_IMAGE: self.deploy_image,
            JobType.DEPLOY_STATIC: self.deploy_static,
            JobType.HEALTH_CHECK: self.healthy,
            JobType.ROUTE_TRAFFIC: self.route,
            JobType.MARK_DEPLOYMENT_COMPLETE: self.complete,
        }
        return Executor(self.nc, handlers, settings=self.settings, name=f"toys-{self.run_id}")

    async def download(self, ctx: JobContext) -> DownloadRepoOutput:
        toml = self.tomls.get(ctx.deployment_id)
        return DownloadRepoOutput(
            commit_sha=ctx.state.source.commit_sha or "0" * 40,
            source_object=f"sources/{ctx.deployment_id}.tar.gz",
            slipway_toml=parse_slipway_toml(toml) if toml is not None else None,
        )

    async def verify(self, ctx: JobContext) -> ImageOutput:
        return ImageOutput(image_id=self.images[ctx.deployment_id])

    async def deploy_image(self, ctx: JobContext) -> DeployImageOutput:
        assert self.runtime is not None and self.app_image is not None
        secret = await self.cron_secret(ctx.state.project, ctx.state.environment)
        spec = ContainerSpec(
            name=f"slipway-pdtest-{ctx.deployment_id}-{ctx.attempt}",
            image=self.app_image,
            port=APP_PORT,
            env={"PORT": str(APP_PORT), "CRON_SECRET": secret},
            labels={**ctx.labels, TEST_LABEL: self.run_id},
            command=("python3", "-c", APP),
        )
        info = await self.runtime.run(spec)
        await self._append(
            ctx, ev.ContainersStarted(job_id=ctx.job.id, attempt=ctx.attempt, containers=(info,))
        )
        return DeployImageOutput(containers=(info,), port=APP_PORT)

    async def cron_secret(self, project: str, environment: str) -> str:
        kv = await self.nc.jetstream().key_value(KV_SECRETS)
        entry = await kv.get(secret_key(project, environment, "CRON_SECRET"))
        assert entry.value and self.settings.secret_key
        return Fernet(self.settings.secret_key).decrypt(entry.value).decode()

    async def deploy_static(self, ctx: JobContext) -> DeployStaticOutput:
        root = self.settings.static_dir / ctx.deployment_id
        files = self.static_files.get(ctx.deployment_id, {})
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return DeployStaticOutput(static_root=str(root), files=len(files))

    async def healthy(self, ctx: JobContext) -> dict[str, Any]:
        out = ctx.state.output_of(JobType.DEPLOY_IMAGE)
        if out is not None:
            (c,) = DeployImageOutput.model_validate(out).containers
            await _wait_http(f"http://{c.host}:{c.port}/_calls")
        return {"probes": 1, "time_to_healthy_s": 0.0, "status": 200}

    async def route(self, ctx: JobContext) -> RouteTrafficOutput:
        state = ctx.state
        env_id = environment_id(state.project, state.environment)
        upstreams = tuple(f"{c.host}:{c.port}" for c in state.containers)
        static = state.output_of(JobType.DEPLOY_STATIC)
        static_root = DeployStaticOutput.model_validate(static).static_root if static else None
        env = await self.repo.load(Aggregate.ENVIRONMENT, env_id)
        admission = env.state.admission_of(ctx.deployment_id)
        switched = ev.TrafficSwitched(
            mode="deployment",
            deployment_id=ctx.deployment_id,
            upstreams=upstreams,
            static_root=static_root,
            admission_seq=admission.number if admission else None,
            job_id=ctx.job.id,
        )
        appended = await self.repo.append(env, [_env(env_id, switched, ctx.deployment_id)])
        route = deployment_route(state)
        if route is not None:
            self.routes[ctx.deployment_id] = route
        if self.proxy is not None:
            env_state: EnvironmentState = env.state
            env_route = environment_route(env_state)
            desired = desired_state(
                [env_route] if env_route else [], self.routes.values(), self.settings.base_domain
            )
            await self.proxy.apply(desired)
        return RouteTrafficOutput(
            host=environment_hosts(state.project, state.environment, self.settings.base_domain)[0],
            deployment_host=deployment_host(
                ctx.deployment_id, state.project, self.settings.base_domain
            ),
            upstreams=upstreams,
            static_root=static_root,
            traffic_seq=appended[0].seq if appended else 0,
        )

    async def complete(self, ctx: JobContext) -> MarkCompleteOutput:
        state = ctx.state
        return MarkCompleteOutput(
            url=f"http://{environment_hosts(state.project, state.environment, 'localhost')[0]}"
        )

    async def _append(self, ctx: JobContext, data: ev.ContainersStarted) -> None:
        loaded = await self.repo.load(Aggregate.DEPLOYMENT, ctx.deployment_id)
        env = new_event(
            data,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=ctx.deployment_id,
            causation_id=f"{ctx.job.id}-{ctx.attempt}",
            actor="toys",
            correlation_id=ctx.deployment_id,
            job_id=ctx.job.id,
            attempt=ctx.attempt,
        )
        await self.repo.append(loaded, [env])

    # ------------------------------------------------------------------ running it

    @contextlib.asynccontextmanager
    async def running(self, *, postdeploy: bool = True) -> AsyncIterator[World]:
        """The toy executor, and the real postdeploy service in this process."""
        toys = self.executor()
        await toys.start()
        stop = asyncio.Event()
        service = (
            asyncio.create_task(serve(self.settings, stop, name=f"pd-{self.run_id}"))
            if postdeploy
            else None
        )
        try:
            yield self
        finally:
            stop.set()
            if service is not None:
                await service
            await toys.stop()
            if self.runtime is not None:
                for c in await self.runtime.list({TEST_LABEL: self.run_id}):
                    await self.runtime.stop_and_remove(c.info.id, 0)

    async def app_calls(self, dep: str) -> list[dict[str, Any]]:
        out = (await self.state(dep)).output_of(JobType.DEPLOY_IMAGE)
        assert out is not None
        (c,) = DeployImageOutput.model_validate(out).containers
        async with httpx.AsyncClient() as client:
            calls: list[dict[str, Any]] = (
                await client.get(f"http://{c.host}:{c.port}/_calls")
            ).json()
        return calls


def _dep(dep: str, data: Any, cause: str) -> Any:
    return new_event(data, aggregate=Aggregate.DEPLOYMENT, aggregate_id=dep, causation_id=cause,
                     actor="test", correlation_id=dep)  # fmt: skip


def _env(env_id: str, data: Any, dep: str) -> Any:
    return new_event(data, aggregate=Aggregate.ENVIRONMENT, aggregate_id=env_id,
                     causation_id=f"{dep}-{type(data).__name__}", actor="test",
                     correlation_id=dep)  # fmt: skip


async def _wait_http(url: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url, timeout=1.0)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if loop.time() > end:
                raise JobError(f"{url} did not answer within {timeout}s")
            await asyncio.sleep(0.1)


async def env_log(nc: NATS, env_id: str) -> list[dict[str, Any]]:
    """Every line of an environment's log so far."""
    from services.projector.env_log_source import JetStreamEnvLogSource

    out = []
    async for msg in JetStreamEnvLogSource(nc).history(env_id):
        out += [json.loads(line) for line in msg.lines()]
    return out
