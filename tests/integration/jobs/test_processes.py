"""The job mechanism across real executor processes: exactly once, takeover, no doubling."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from libs.events.states import DeploymentStatus, JobStatus
from libs.eventstore import Repository
from tests.integration.jobs.helpers import records, request_and_admit, wait_for

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def executors(
    url: str, rec: Path, n: int = 1, sleeps: dict[str, float] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = dict(os.environ)
    env.update(TOY_NATS_URL=url, TOY_RECORD=str(rec), TOY_SLEEP=json.dumps(sleeps or {}))
    procs = [start_executor(env) for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()


def start_executor(env: dict[str, str]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.jobs.toy"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == b"ready"
    return p


async def test_200_deployments_through_two_executor_processes_run_every_job_exactly_once(
    jobs_nats_url: str, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    with executors(jobs_nats_url, rec, n=2):
        deps = await asyncio.gather(*(request_and_admit(jrepo) for _ in range(200)))
        for d in deps:
            await wait_for(
                jrepo, d, lambda s: all(j.status is JobStatus.SUCCESS for j in s.jobs.values()), 120
            )
    starts = collections.Counter((r["dep"], r["job"]) for r in records(rec) if r["ev"] == "start")
    assert len(starts) == 200 * 4
    doubled = [r for r in records(rec) if starts[(r["dep"], r["job"])] > 1]
    assert set(starts.values()) == {1}, doubled[:6]
    assert len({r["pid"] for r in records(rec)}) == 2  # both processes did work


async def test_a_killed_executor_s_job_runs_again_as_attempt_2_and_the_deployment_completes(
    jobs_nats_url: str, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    with executors(jobs_nats_url, rec, n=1, sleeps={"route": 30}) as (first,):
        d = await request_and_admit(jrepo)
        await wait_for(jrepo, d, lambda s: s.jobs["route"].status is JobStatus.RUNNING)
        first.kill()
        first.wait()
        assert first.stdout is not None
        first.stdout.close()
        with executors(jobs_nats_url, rec, n=1) as (second,):
            state = await wait_for(jrepo, d, lambda s: s.status is DeploymentStatus.COMPLETED, 60)
    assert state.jobs["route"].attempt == 2
    route_runs = [
        (r["attempt"], r["pid"]) for r in records(rec) if r["job"] == "route" and r["ev"] == "start"
    ]
    assert route_runs == [(1, first.pid), (2, second.pid)]


async def test_a_paused_holder_is_not_doubled_and_finishes_its_job(
    jobs_nats_url: str, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    with executors(jobs_nats_url, rec, n=1, sleeps={"route": 3.5}) as (holder,):
        d = await request_and_admit(jrepo)
        await wait_for(jrepo, d, lambda s: s.jobs["route"].status is JobStatus.RUNNING)
        with executors(jobs_nats_url, rec, n=1):
            holder.send_signal(signal.SIGSTOP)
            await asyncio.sleep(2.5)  # past the ack wait (1 s), within the lease TTL (5 s)
            holder.send_signal(signal.SIGCONT)
            state = await wait_for(jrepo, d, lambda s: s.status is DeploymentStatus.COMPLETED, 60)
    assert state.jobs["route"].attempt == 1
    route_runs = [r["pid"] for r in records(rec) if r["job"] == "route" and r["ev"] == "start"]
    assert route_runs == [holder.pid]
