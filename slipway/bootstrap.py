"""`slipway bootstrap`: create the streams, buckets and read-model schema, then exit.

The one-shot step of the compose stack that every service waits for (`slipway up` does the same
before it starts the services). Safe to run again: every step is idempotent.
"""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError

from libs.eventstore import BootstrapOptions, bootstrap
from libs.settings import Settings
from slipway.client import CliError
from slipway.triggers import connect_once


async def _connect(url: str, wait_s: float) -> NATS:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await connect_once(url, "slipway-bootstrap")
        except (OSError, TimeoutError, NatsError) as exc:
            if time.monotonic() > deadline:
                raise CliError(f"cannot reach NATS at {url}: {exc}") from None
            await asyncio.sleep(1.0)


async def run_bootstrap(settings: Settings, *, replicas: int = 1, wait_s: float = 60.0) -> str:
    if not settings.nats_url:
        raise CliError("SLIPWAY_NATS_URL is not set (bootstrap needs the NATS to prepare)")
    if not settings.database_url:
        raise CliError("DATABASE_URL is not set (bootstrap migrates the read model there)")
    nc = await _connect(settings.nats_url, wait_s)
    try:
        await bootstrap(
            nc,
            BootstrapOptions(
                lease_ttl_s=settings.lease_ttl_s,
                logs_max_age_s=settings.logs_retention_days * 86400,
                replicas=replicas,
            ),
        )
    finally:
        await nc.close()
    from services.projector.db import migrate

    await migrate(settings.database_url)
    return f"streams ready on {settings.nats_url}; read model migrated"
