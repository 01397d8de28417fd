"""Two real postdeploy processes: exactly one cron runner is active, a slot is never fired twice,
and when the holder dies the other takes over after the lock's TTL (missed slots run once)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from nats.aio.client import Client as NATS

from libs.containers.docker import DockerContainerRuntime
from libs.events.states import JobStatus
from libs.events.subjects import CRON_RUNNER_LOCK, KV_LOCKS
from libs.eventstore import Repository
from libs.settings import Settings
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from tests.integration.postdeploy.conftest import LEASE_TTL_S
from tests.integration.postdeploy.test_crons import PLAN, TWO_CRONS, calls_until
from tests.integration.postdeploy.toys import World

ROOT = Path(__file__).resolve().parents[3]


def service_env(settings: Settings, name: str) -> dict[str, str]:
    env = dict(os.environ)
    values = {
        "NATS_URL": settings.nats_url,
        "EDGE_PORT": settings.edge_port,
        "BASE_DOMAIN": settings.base_domain,
        "SECRET_KEY": settings.secret_key,
        "CRON_TICK_S": settings.cron_tick_s,
        "CRON_MINUTE_S": settings.cron_minute_s,
        "LEASE_TTL_S": settings.lease_ttl_s,
        "LEASE_REFRESH_S": settings.lease_refresh_s,
        "ACK_WAIT_S": settings.ack_wait_s,
        "IN_PROGRESS_EVERY_S": settings.in_progress_every_s,
        "LOST_HOLDER_NAK_DELAY_S": settings.lost_holder_nak_delay_s,
        "POSTDEPLOY_NAME": name,
    }
    env.update({f"SLIPWAY_{k}": str(v) for k, v in values.items()})
    return env


@contextmanager
def postdeploy_processes(
    settings: Settings, logs: Path, names: tuple[str, ...]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in names:
            with (logs / f"{name}.log").open("wb") as err:
                p = subprocess.Popen(
                    [sys.executable, "-m", "services.postdeploy.main"],
                    cwd=ROOT,
                    env=service_env(settings, name),
                    stdout=subprocess.PIPE,
                    stderr=err,
                )
            procs[name] = p
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == b"postdeploy ready", (logs / f"{name}.log").read_text()
        yield procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()


async def lock_holder(nc: NATS) -> str | None:
    kv = await nc.jetstream().key_value(KV_LOCKS)
    try:
        entry = await kv.get(CRON_RUNNER_LOCK)
    except Exception:
        return None
    return str(json.loads(entry.value or b"{}").get("holder")) if entry.value else None


def slot_times(calls: list[dict[str, str]], path: str) -> list[float]:
    return sorted(
        datetime.fromisoformat(c["slot"].replace("Z", "+00:00")).timestamp()
        for c in calls
        if c["path"] == path
    )


async def test_two_postdeploy_processes_never_fire_one_run_twice_and_take_over(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy,
    python_base_image: str, tmp_path: Path,
) -> None:  # fmt: skip
    world = World(
        pnc, prepo, pd_settings, proxy=edge, runtime=DockerContainerRuntime(),
        app_image=python_base_image,
    )  # fmt: skip
    await world.put_cron_secret("prod")
    with postdeploy_processes(pd_settings, tmp_path, ("pd-a", "pd-b")) as procs:
        async with world.running(postdeploy=False):
            dep = await world.deploy(PLAN, toml=TWO_CRONS)
            await world.wait(dep, lambda s: s.jobs["crons"].status is JobStatus.SUCCESS)
            await calls_until(world, dep, lambda cs: len(cs) >= 6)
            holder = await lock_holder(pnc)
            assert holder in procs
            procs[holder].send_signal(signal.SIGKILL)
            procs[holder].wait()
            killed_at = time.time()
            other = next(n for n in procs if n != holder)
            await calls_until(
                world, dep, lambda cs: max(slot_times(cs, "/cron/a")) > killed_at + 2, 30
            )
            assert await lock_holder(pnc) == other
            calls = [c for c in await world.app_calls(dep) if c["path"].startswith("/cron/")]
    fired = [(c["path"], c["slot"]) for c in calls]
    assert len(fired) == len(set(fired)), "a slot was fired twice"
    every_second = slot_times(calls, "/cron/a")
    gaps = [b - a for a, b in itertools.pairwise(every_second)]
    # While nobody held the lock (up to its TTL) slots passed; the new holder ran the latest of
    # them once instead of catching up one by one.
    assert max(gaps) >= 2.0, gaps
    assert max(gaps) <= LEASE_TTL_S + 3.0, gaps
    assert all(round(g) == g for g in gaps), gaps  # whole slots, none fired off-schedule
