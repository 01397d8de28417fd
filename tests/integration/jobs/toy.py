"""A toy executor for the job-mechanism tests: records every run, behaviour set by env vars.

Run as `python -m tests.integration.jobs.toy` with TOY_NATS_URL, TOY_RECORD (a file), TOY_SLEEP
(JSON: job id -> seconds, for attempt 1 only) and TOY_FAIL (JSON list of job ids that fail).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import nats

from libs.events.values import JobType
from libs.jobs import Executor, JobContext, JobError
from libs.settings import Settings

TEST_SETTINGS = {
    "ack_wait_s": 1.0,
    "in_progress_every_s": 0.3,
    "lease_ttl_s": 5.0,
    "lease_refresh_s": 1.0,
    "lost_holder_nak_delay_s": 0.3,
    "cancel_poll_s": 0.25,
    "job_slots": 8,
}


def test_settings() -> Settings:
    return Settings(**TEST_SETTINGS)  # type: ignore[arg-type]


def record(path: str, **fields: Any) -> None:
    line = json.dumps(fields) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def make_handler(path: str, sleeps: dict[str, float], fails: set[str]) -> Any:
    def note(ctx: JobContext, what: str) -> None:
        record(
            path,
            ev=what,
            dep=ctx.deployment_id,
            job=ctx.job.id,
            attempt=ctx.attempt,
            pid=os.getpid(),
            t=time.time(),
        )

    async def handler(ctx: JobContext) -> dict[str, Any]:
        note(ctx, "start")
        try:
            if ctx.attempt == 1 and ctx.job.id in sleeps:
                await asyncio.sleep(sleeps[ctx.job.id])
            if ctx.job.id in fails:
                raise JobError(f"{ctx.job.id} failed on purpose", "toy")
        except asyncio.CancelledError:
            note(ctx, "cancelled")
            raise
        note(ctx, "done")
        return {"by": os.getpid()}

    return handler


def toy_executor(
    nc: Any, path: str, sleeps: dict[str, float] | None = None, fails: set[str] | None = None
) -> Executor:
    handler = make_handler(path, sleeps or {}, fails or set())
    return Executor(nc, {jt: handler for jt in JobType}, settings=test_settings())


async def main() -> None:
    nc = await nats.connect(os.environ["TOY_NATS_URL"])
    ex = toy_executor(
        nc,
        os.environ["TOY_RECORD"],
        json.loads(os.environ.get("TOY_SLEEP", "{}")),
        set(json.loads(os.environ.get("TOY_FAIL", "[]"))),
    )
    await ex.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await ex.stop()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
