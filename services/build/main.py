"""The build service: runs BuildImageJob. `python -m services.build.main`."""

from __future__ import annotations

import asyncio
import logging

from libs.artifacts import NatsArtifactStore
from libs.jobs import Executor
from libs.jobs.serve import connect, serve
from libs.settings import Settings
from services.build.adapters.docker_builder import DockerImageBuilder
from services.build.handlers import build_jobs


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    nc = await connect(settings, "slipway-build")
    jobs = build_jobs(
        settings, builder=DockerImageBuilder(), artifacts=NatsArtifactStore(nc.jetstream())
    )
    await serve(Executor(nc, jobs, settings=settings))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    asyncio.run(main())
