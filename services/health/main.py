"""The health service: HealthCheckJob executor until SIGTERM. `python -m services.health.main`.

With the Docker Engine down the service runs and each health check fails with "Docker is not
available: …" (crash detection needs the engine).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

import httpx

from libs.containers.docker import DockerContainerRuntime
from libs.jobs import Executor
from libs.jobs.serve import connect, run_service
from libs.settings import Settings
from services.health.handlers import job_handlers

log = logging.getLogger("slipway.health")


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    nc = await connect(settings, "slipway-health")
    runtime = DockerContainerRuntime(reach_host=settings.host)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        stack.callback(runtime.close)
        # Probes go to loopback or a private network: never through an HTTP proxy of the host.
        client = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
        executor = Executor(nc, job_handlers(runtime, client, settings), settings=settings)
        await executor.start()
        stack.push_async_callback(executor.stop)
        log.info("health service running")
        await stop.wait()
        log.info("health service stopping")


def main() -> None:
    run_service(run)


if __name__ == "__main__":
    main()
