"""Wiring of the gateway process: NATS, the HTTP app on `settings.gateway_port`, the trigger
consumer and — when its module is present — the admission manager (§1).

Run: `python -m services.gateway.main` (settings from SLIPWAY_* variables). The streams and
buckets must exist already (`libs.eventstore.bootstrap`, run by `slipway up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

import nats
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.events.subjects import KV_SECRETS
from libs.eventstore import JetStreamEventStore
from libs.secrets import SecretStore
from libs.settings import Settings
from libs.telemetry import setup_tracing
from services.gateway.app import create_app
from services.gateway.deps import GatewayDeps, gateway_deps
from services.gateway.triggers import TriggerConsumer, Triggers

log = logging.getLogger("slipway.gateway")

# Under NATS's default 1 MiB max payload; a 200 MB upload is 400 acknowledged publishes.
UPLOAD_CHUNK_BYTES = 512 * 1024


class Startable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def build_deps(nc: NATS, settings: Settings) -> GatewayDeps:
    js = nc.jetstream()
    secrets = SecretStore(await js.key_value(KV_SECRETS), settings.secret_key)
    artifacts = NatsArtifactStore(js, chunk_bytes=UPLOAD_CHUNK_BYTES)
    return gateway_deps(JetStreamEventStore(nc), secrets, artifacts, settings)


def admission_manager(nc: NATS, settings: Settings) -> Startable | None:
    """The admission manager, if its module is installed (it is developed separately)."""
    try:
        module = importlib.import_module("services.gateway.admission")
    except ModuleNotFoundError as exc:
        if exc.name != "services.gateway.admission":
            raise
        log.warning("services.gateway.admission is not present: no admission manager runs")
        return None
    manager: Startable = module.AdmissionManager(nc, settings)
    return manager


@dataclass
class Gateway:
    """Everything the process runs besides the HTTP server; `start` / `stop` in order."""

    nc: NATS
    deps: GatewayDeps
    app: FastAPI
    workers: list[Startable] = field(default_factory=list)

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    async def stop(self) -> None:
        for worker in reversed(self.workers):
            with contextlib.suppress(Exception):
                await worker.stop()
        await self.deps.directory.stop()


async def build_gateway(
    settings: Settings, *, with_admission: bool = True, nc: NATS | None = None
) -> Gateway:
    url = nats_url(settings)
    setup_tracing("slipway-gateway")
    nc = nc or await nats.connect(url, name="slipway-gateway")
    deps = await build_deps(nc, settings)
    workers: list[Startable] = [
        TriggerConsumer(
            url,
            nc,
            Triggers(deps.directory, deps.deployments),
            ack_wait_s=max(settings.ack_wait_s, 30.0),
        )
    ]
    if with_admission:
        manager = admission_manager(nc, settings)
        if manager is not None:
            workers.append(manager)
    return Gateway(nc, deps, create_app(deps), workers)


async def serve(settings: Settings) -> None:
    gateway = await build_gateway(settings)
    await gateway.start()
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stall the event loop for tens of milliseconds under load.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        gateway.app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="info",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)  # handles SIGINT / SIGTERM itself
    try:
        await server.serve()
    finally:
        await gateway.stop()
        await gateway.nc.drain()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    try:
        import uvloop
    except ImportError:  # pragma: no cover - an optional speed-up
        asyncio.run(serve(Settings()))
    else:
        uvloop.run(serve(Settings()))


if __name__ == "__main__":
    main()
