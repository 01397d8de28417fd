"""The projector process: the projection loop (one active instance) and the query API.

`python -m services.projector.main` — settings from the environment (SLIPWAY_*, DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Generator
from typing import Any

import nats
import uvicorn
from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.eventstore import JetStreamEventStore, Repository
from libs.settings import Settings
from libs.telemetry import setup_tracing
from services.projector.adapters.logs import JetStreamLogSource
from services.projector.api import ApiDeps, create_app
from services.projector.artifacts_api import ArtifactsDeps, deployment_loader
from services.projector.db import make_engine, migrate, sessions
from services.projector.env_log_source import JetStreamEnvLogSource
from services.projector.env_logs_api import EnvLogsDeps, environment_checker
from services.projector.runner import ProjectorRunner

log = logging.getLogger("slipway.projector")


class ConfigurationError(RuntimeError):
    pass


def tune_gc() -> None:
    """Collect young objects 70x less often, and never scan what exists at start-up.

    A projected batch allocates tens of thousands of short-lived objects (decoded events, folded
    states, rows) that reference counting frees by itself; at the default threshold (700) the
    cyclic collector runs thousands of times per catch-up and costs a third of the CPU.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def database_url(settings: Settings) -> str:
    """`DATABASE_URL` (PostgreSQL), else the embedded SQLite file in the data dir."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'readmodel.db').absolute()}"


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def connect_nats(settings: Settings, name: str) -> NATS:
    setup_tracing(name)
    return await nats.connect(nats_url(settings), name=name, max_reconnect_attempts=-1)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The process's own handlers stop the projector loop and the server together.
        yield


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Runs until `stop` is set (SIGTERM/SIGINT set it when run as a process)."""
    if not settings.admin_token:
        raise ConfigurationError("SLIPWAY_ADMIN_TOKEN is not set: the query API needs a token")
    stop = stop or asyncio.Event()
    url = database_url(settings)
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate(url)
    engine = make_engine(url)
    nc = await connect_nats(settings, "slipway-projector")
    try:
        store = JetStreamEventStore(nc)
        runner = ProjectorRunner(nc, store, sessions(engine), settings)

        async def status() -> dict[str, Any]:
            return (await runner.status()).to_dict()

        app = create_app(
            ApiDeps(
                sessions=sessions(engine),
                events=store,
                logs=JetStreamLogSource(nc),
                tokens=[settings.admin_token],
                base_domain=settings.base_domain,
                edge_port=settings.edge_port,
                min_seq_wait_s=settings.min_seq_wait_s,
                status=status,
                artifacts=ArtifactsDeps(
                    objects=NatsArtifactStore(nc.jetstream()),
                    deployment=deployment_loader(Repository(store)),
                ),
                env_logs=EnvLogsDeps(
                    logs=JetStreamEnvLogSource(nc),
                    environment_exists=environment_checker(Repository(store)),
                ),
            )
        )
        server = _Server(
            uvicorn.Config(
                app,
                host=settings.api_host,
                port=settings.api_port,
                log_level=settings.log_level.lower(),
                access_log=False,
                lifespan="off",
            )
        )
        tasks = [
            asyncio.create_task(runner.run(stop), name="projector"),
            asyncio.create_task(server.serve(), name="query-api"),
        ]
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
        await engine.dispose()


def main() -> None:
    tune_gc()
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(run())
    except ConfigurationError as exc:
        print(f"projector: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
