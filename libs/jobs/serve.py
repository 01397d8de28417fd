"""Running an executor service: connect to NATS, serve job types until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import nats
from nats.aio.client import Client as NATS

from libs.jobs.executor import Executor
from libs.settings import Settings

log = logging.getLogger("slipway.jobs")


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def connect(settings: Settings, name: str) -> NATS:
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
