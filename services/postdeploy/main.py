"""The postdeploy service: the four optional jobs, the cron lifecycle consumer and the cron runner.

`python -m services.postdeploy.main` (started by `slipway up`). Streams and buckets must exist
(the bootstrap step creates them); SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

import nats

from libs.artifacts import NatsArtifactStore
from libs.events import subjects
from libs.eventstore import JetStreamEventStore, Repository
from libs.jobs import Executor
from libs.settings import Settings
from libs.telemetry import setup_tracing
from services.postdeploy.adapters.chromium import ChromiumScreenshotter
from services.postdeploy.adapters.cron_secret import KvCronSecrets
from services.postdeploy.adapters.docker_image_files import DockerImageFiles
from services.postdeploy.adapters.edge_http import HttpxEdgeCaller
from services.postdeploy.adapters.env_log import NatsEnvLog
from services.postdeploy.adapters.kv_crons import KvCronStore
from services.postdeploy.adapters.runner_lock import KvRunnerLock
from services.postdeploy.adapters.scanners import find_scanner
from services.postdeploy.cron_lifecycle import CronLifecycle
from services.postdeploy.cron_runner import CronRunner
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.handlers import PostDeploy, job_handlers

log = logging.getLogger("slipway.postdeploy")

EDGE_HOST = "127.0.0.1"  # the edge proxy runs beside this service (`slipway up`)


def nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def serve(settings: Settings, stop: asyncio.Event, *, name: str | None = None) -> None:
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    setup_tracing("slipway-postdeploy")
    nc = await nats.connect(nats_url(settings), name=f"postdeploy {name}")
    js = nc.jetstream()
    crons = KvCronStore(await js.key_value(subjects.KV_CRONS), js)
    objects = NatsArtifactStore(js)
    env_log = NatsEnvLog(js)
    repo = Repository(JetStreamEventStore(nc))
    docker_missing = os.environ.get("SLIPWAY_DOCKER_UNAVAILABLE") or None
    files = None if docker_missing else DockerImageFiles()
    scanner = find_scanner(settings.scan_timeout_s)
    caller = HttpxEdgeCaller(f"http://{EDGE_HOST}:{settings.edge_port}")
    deps = PostDeploy(
        repo=repo,
        crons=crons,
        objects=objects,
        browser=ChromiumScreenshotter(
            resolve_to=EDGE_HOST, timeout_s=settings.screenshot_timeout_s
        ),
        files=files,
        scanner=scanner,
        clock=CronClock(settings.cron_minute_s),
        edge=caller,
        docker_missing=docker_missing,
    )
    executor = Executor(nc, job_handlers(deps, settings.job_slots), settings=settings, name=name)
    runner = CronRunner(
        store=crons,
        lock=KvRunnerLock(
            await js.key_value(subjects.KV_LOCKS), name, refresh_s=settings.lease_refresh_s
        ),
        caller=caller,
        secrets=KvCronSecrets(await js.key_value(subjects.KV_SECRETS), settings.secret_key),
        env_log=env_log,
        settings=settings,
    )
    lifecycle = CronLifecycle(nc, store=crons, env_log=env_log, repo=repo, settings=settings)
    try:
        await executor.start()
        await lifecycle.start()
        runner.start()
        log.info(
            "postdeploy %s ready (scanner: %s, docker: %s)",
            name,
            scanner.name if scanner else "none",
            "no: " + docker_missing if docker_missing else "yes",
        )
        print("postdeploy ready", flush=True)
        await stop.wait()
    finally:
        await runner.stop()
        await lifecycle.stop()
        await executor.stop()
        await caller.aclose()
        if files is not None:
            files.close()
        await nc.close()


async def _run() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(Settings(), stop, name=os.environ.get("SLIPWAY_POSTDEPLOY_NAME") or None)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    asyncio.run(_run())


if __name__ == "__main__":
    main()
