"""Running an executor service: connect to NATS, serve job types until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NATS

from libs.jobs.executor import Executor
from libs.settings import Settings
from libs.telemetry import setup_tracing

log = logging.getLogger("slipway.jobs")


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def connect(settings: Settings, name: str) -> NATS:
    """The service's NATS connection; also sets up tracing for the process (OTLP when asked)."""
    setup_tracing(name)
    return await nats.connect(nats_url(settings), name=name, max_reconnect_attempts=-1)


async def serve(executor: Executor) -> None:
    """Start the executor and run until SIGTERM/SIGINT; then stop it (running jobs are released
    for another executor to take over) and close the connection."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await executor.start()
    try:
        await stop.wait()
        log.info("executor %s stopping", executor.name)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await executor.stop()
        await executor.nc.close()


ServiceRun = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run_service(run: ServiceRun, settings: Settings | None = None) -> None:
    """A service process's `main`: log to stderr, run until SIGTERM or SIGINT sets `stop`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings or Settings(), stop)

    asyncio.run(serve())
