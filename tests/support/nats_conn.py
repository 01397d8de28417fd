"""A NATS connection to a freshly bootstrapped server, for tests that run short lease TTLs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.aio.client import Client as NATS

from libs.eventstore import BootstrapOptions, bootstrap


@asynccontextmanager
async def bootstrapped(url: str, lease_ttl_s: float) -> AsyncIterator[NATS]:
    conn = await nats.connect(url)
    try:
        await bootstrap(conn, BootstrapOptions(lease_ttl_s=lease_ttl_s))
        yield conn
    finally:
        await conn.close()
