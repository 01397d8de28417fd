"""The deploy service: its job executor plus the lifecycle (teardown, Docker reconciler,
retention), until SIGTERM. `python -m services.deploy.main`.

The Docker client is made on first use: with the engine down the service runs, every Docker job
fails with "Docker is not available: …", and the reconciler tries again on its next pass.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.containers.docker import DockerContainerRuntime
from libs.events import subjects
from libs.eventstore import JetStreamEventStore, Repository
from libs.jobs import Executor
from libs.jobs.serve import connect, run_service
from libs.settings import Settings
from services.deploy.adapters.kv_variables import KvVariables
from services.deploy.handlers import DeployDeps, job_handlers
from services.deploy.lifecycle import DeployLifecycle

log = logging.getLogger("slipway.deploy")


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def wire(
    nc: NATS, settings: Settings, runtime: DockerContainerRuntime
) -> tuple[Executor, DeployLifecycle]:
    """The executor and the lifecycle of one deploy process, not started."""
    js = nc.jetstream()
    kv = await js.key_value(subjects.KV_SECRETS)
    deps = DeployDeps(
        runtime=runtime,
        images=runtime,
        variables=KvVariables(kv, settings.secret_key),
        artifacts=NatsArtifactStore(js),
        repo=Repository(JetStreamEventStore(nc)),
        static_dir=settings.static_dir.absolute(),
        work_dir=settings.data_dir.absolute() / "tmp",
    )
    executor = Executor(nc, job_handlers(deps, settings), settings=settings)
    lifecycle = DeployLifecycle(nc, runtime, runtime, settings, static_dir=deps.static_dir)
    return executor, lifecycle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect(settings, "slipway-deploy")
    runtime = DockerContainerRuntime(reach_host=settings.host)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        stack.callback(runtime.close)
        settings.static_dir.mkdir(parents=True, exist_ok=True)
        executor, lifecycle = await wire(nc, settings, runtime)
        await executor.start()
        stack.push_async_callback(executor.stop)
        await lifecycle.start()
        stack.push_async_callback(lifecycle.stop)
        log.info("deploy service running")
        await stop.wait()
        log.info("deploy service stopping")


def main() -> None:
    run_service(run)


if __name__ == "__main__":
    main()
