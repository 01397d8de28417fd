"""Projector benchmark: catch-up, rebuild and raw replay rates; list-API latency. One JSON line.

    uv run python bench/projector.py [--events 200000] [--deployments 10000]

Seeds an embedded NATS (the `nats-server` wheel) with realistic deployment histories (sealed,
published in order without version checks), then measures against PostgreSQL (`DATABASE_URL`,
else a throwaway local cluster with fsync off):
- raw replay: the same stream read in order by nats-py's ordered consumer, counting messages and
  nothing else (the ceiling of any reader: faster than `replay_stored`, which builds the stored
  messages catch-up reads); beside it `replay_stored` and `replay` (decoded) — what catch-up and
  rebuild read with;
- live catch-up: a `ProjectorRunner` from checkpoint 0 until its checkpoint is the last sequence;
- rebuild: `rebuild()` of that database (fresh schema from sequence 1, then the swap);
- list API: `GET /api/deployments` of a real projector process (`services.projector.main`),
  p50/p99 over a mix of filters and pages, sequential requests from one client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import nats  # noqa: E402
from nats.aio.client import Client as NATS  # noqa: E402
from nats.js.api import ConsumerConfig, DeliverPolicy  # noqa: E402

from libs.events.subjects import EVENTS_ALL, EVENTS_STREAM  # noqa: E402
from libs.eventstore import JetStreamEventStore, bootstrap  # noqa: E402
from libs.infra import EmbeddedNats, free_port  # noqa: E402
from libs.settings import Settings  # noqa: E402
from services.projector.db import make_engine, migrate, sessions  # noqa: E402
from services.projector.main import tune_gc  # noqa: E402
from services.projector.rebuild import rebuild  # noqa: E402
from services.projector.runner import ProjectorRunner  # noqa: E402
from tests.support.histories import build_log, publish_sealed, seal_all  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    TemporaryPostgres,
    asyncpg_url,
    create_database,
    drop_database,
)

TOKEN = "bench-token"


async def raw_replay(nc: NATS, last: int) -> float:
    """Events/s of an ordered consumer over the whole stream, bytes only."""
    count, done = 0, asyncio.Event()

    async def on_msg(_msg: Any) -> None:
        nonlocal count
        count += 1
        if count >= last:
            done.set()

    started = time.monotonic()
    sub = await nc.jetstream().subscribe(
        EVENTS_ALL,
        ordered_consumer=True,
        stream=EVENTS_STREAM,
        cb=on_msg,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    await done.wait()
    elapsed = time.monotonic() - started
    await sub.unsubscribe()
    return last / elapsed


async def stored_replay(store: JetStreamEventStore) -> float:
    """Events/s of `replay_stored()`: the bulk reader's stored messages, undecoded."""
    started, n = time.monotonic(), 0
    async for chunk in store.replay_stored():
        n += len(chunk)
    return n / (time.monotonic() - started)


async def decoded_replay(store: JetStreamEventStore) -> float:
    """Events/s of `replay()` — the reader catch-up and rebuild use — decoding included."""
    started, n = time.monotonic(), 0
    async for chunk in store.replay():
        n += len(chunk)
    return n / (time.monotonic() - started)


async def catch_up(nc: NATS, store: JetStreamEventStore, url: str, last: int) -> float:
    engine = make_engine(url)
    settings = Settings(lease_refresh_s=1.0)
    runner = ProjectorRunner(nc, store, sessions(engine), settings)
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(runner.run(stop))
    try:
        while runner.checkpoint < last:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        return last / (time.monotonic() - started)
    finally:
        stop.set()
        await task
        await engine.dispose()


async def list_latencies(
    nats_url: str, db_url: str, data_dir: Path, requests: int
) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        SLIPWAY_NATS_URL=nats_url,
        DATABASE_URL=db_url,
        SLIPWAY_API_PORT=str(port),
        SLIPWAY_ADMIN_TOKEN=TOKEN,
        SLIPWAY_DATA_DIR=str(data_dir),
        SLIPWAY_LOG_LEVEL="WARNING",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.projector.main",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            first = (await client.get("/api/deployments", params={"limit": 50})).json()
            projects = (await client.get("/api/projects")).json()["items"]
            names = [p["name"] for p in projects]
            queries: list[dict[str, str]] = [
                {"limit": "50"},
                {"limit": "50", "cursor": first["next_cursor"]},
                {"project": names[0], "limit": "20"},
                {"project": names[1], "environment": "production"},
                {"status": "completed", "limit": "50"},
                {"status": "failed"},
                {"type": "image"},
                {"branch": "main", "limit": "10"},
                {"since": "2030-01-01T00:00:00Z", "until": "2031-01-01T00:00:00Z"},
            ]
            times: list[float] = []
            for i in range(requests + 100):
                params = queries[i % len(queries)]
                started = time.perf_counter()
                resp = await client.get("/api/deployments", params=params)
                elapsed = time.perf_counter() - started
                if resp.status_code != 200:
                    raise RuntimeError(f"{params}: {resp.status_code} {resp.text}")
                if i >= 100:  # warm-up first
                    times.append(elapsed * 1000)
            times.sort()
            return {
                "requests": len(times),
                "p50_ms": round(statistics.median(times), 2),
                "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
                "max_ms": round(times[-1], 2),
            }
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def run(events: int, deployments: int, requests: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    cluster = None
    db_name = f"bench_{int(time.time())}"
    if os.environ.get("DATABASE_URL"):
        server_url = asyncpg_url(os.environ["DATABASE_URL"])
    else:
        cluster = TemporaryPostgres().start()
        server_url = cluster.url
    try:
        db_url = await create_database(server_url, db_name)
        await migrate(db_url)
        started = time.monotonic()
        sealed = seal_all(build_log(deployments=deployments, projects=50, min_events=events))
        n_deployments = sum(1 for env, _ in sealed if env.type == "DeploymentRequested")
        built_s = time.monotonic() - started
        with EmbeddedNats(work / "nats") as server:
            nc = await nats.connect(server.url)
            await bootstrap(nc)
            started = time.monotonic()
            last = await publish_sealed(nc, sealed, window=2000)
            seeded_s = time.monotonic() - started
            # From here on this process is the projector: nothing of the seeding stays in memory,
            # and the collector is tuned the way services.projector.main tunes it.
            del sealed
            gc.collect()
            tune_gc()
            store = JetStreamEventStore(nc)
            raw = await raw_replay(nc, last)
            stored = await stored_replay(store)
            decoded = await decoded_replay(store)
            cpu = time.process_time()
            live = await catch_up(nc, store, db_url, last)
            catch_up_cpu = (time.process_time() - cpu) / last
            cpu = time.process_time()
            report = await rebuild(db_url, store)
            rebuild_cpu = (time.process_time() - cpu) / last
            latency = await list_latencies(server.url, db_url, work, requests)
            await nc.close()
        return {
            "bench": "projector",
            "events": last,
            "deployments": n_deployments,
            "database": "postgresql" + ("" if cluster is None else " (throwaway, fsync off)"),
            "seed_s": {"build": round(built_s, 1), "publish": round(seeded_s, 1)},
            "raw_replay_events_per_s": round(raw),
            "replay_stored_events_per_s": round(stored),
            "decoded_replay_events_per_s": round(decoded),
            "catch_up_events_per_s": round(live),
            "catch_up_vs_raw_replay": round(live / raw, 3),
            "rebuild_events_per_s": round(report.rate),
            "rebuild_vs_raw_replay": round(report.rate / raw, 3),
            "catch_up_vs_decoded_replay": round(live / decoded, 3),
            "projector_cpu_us_per_event": {
                "catch_up": round(catch_up_cpu * 1e6, 1),
                "rebuild": round(rebuild_cpu * 1e6, 1),
            },
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "list_api": latency,
            "targets": {
                "catch_up_events_per_s>=10000": live >= 10_000,
                "catch_up>=30%_of_raw_replay": live >= 0.3 * raw,
                "list_p99_ms<=20": latency["p99_ms"] <= 20,
            },
        }
    finally:
        if cluster is not None:
            cluster.stop()
        else:
            await drop_database(server_url, db_name)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.events, args.deployments, args.requests))))


if __name__ == "__main__":
    main()
