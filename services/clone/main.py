"""The clone service: runs DownloadRepoJob. `python -m services.clone.main`."""

from __future__ import annotations

import asyncio
import logging

from libs.artifacts import NatsArtifactStore
from libs.jobs import Executor
from libs.jobs.serve import connect, serve
from libs.settings import Settings
from services.clone.adapters.cli_git import CliGitClient
from services.clone.adapters.env_credentials import EnvCredentials
from services.clone.handlers import clone_jobs


async def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    nc = await connect(settings, "slipway-clone")
    credentials = EnvCredentials()
    jobs = clone_jobs(
        settings,
        git=CliGitClient(),
        artifacts=NatsArtifactStore(nc.jetstream()),
        credentials=lambda project, environment: credentials,
    )
    await serve(Executor(nc, jobs, settings=settings))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    asyncio.run(main())
