"""The job mechanism (§5) in one process, against a real nats-server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.states import DeploymentStatus, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import JobSpec, JobType
from libs.eventstore import Repository
from tests.factories import dep_event
from tests.integration.jobs.helpers import records, request_and_admit, wait_for
from tests.integration.jobs.toy import toy_executor

DONE = {DeploymentStatus.COMPLETED, DeploymentStatus.FAILED}


async def test_a_deployment_runs_every_job_of_its_plan_once(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    ex = toy_executor(jnc, str(rec))
    await ex.start()
    try:
        d = await request_and_admit(jrepo)
        state = await wait_for(
            jrepo,
            d,
            lambda s: (
                s.status in DONE and all(j.status is JobStatus.SUCCESS for j in s.jobs.values())
            ),
        )
    finally:
        await ex.stop()
    assert state.status is DeploymentStatus.COMPLETED
    runs = [(r["job"], r["attempt"]) for r in records(rec) if r["ev"] == "start"]
    assert sorted(runs) == sorted((j.id, 1) for j in state.jobs.values())


async def test_four_jobs_finishing_at_the_same_moment_are_all_recorded(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    types = [
        JobType.CONFIGURE_CRONS,
        JobType.TAKE_SCREENSHOT,
        JobType.SCAN_VULNERABILITIES,
        JobType.CAPTURE_SOURCE_MAPS,
    ]
    plan = tuple(JobSpec(id=f"j{i}", type=t) for i, t in enumerate(types))
    ex = toy_executor(jnc, str(tmp_path / "rec"), sleeps={f"j{i}": 0.5 for i in range(4)})
    await ex.start()
    try:
        d = await request_and_admit(jrepo, plan)
        state = await wait_for(
            jrepo, d, lambda s: all(j.status is JobStatus.SUCCESS for j in s.jobs.values())
        )
    finally:
        await ex.stop()
    assert len(state.jobs) == 4
    ends = [r["t"] for r in records(tmp_path / "rec") if r["ev"] == "done"]
    assert max(ends) - min(ends) < 0.2  # they really did finish together


async def test_a_failing_required_job_fails_the_deployment_and_cancels_every_unfinished_job(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    ex = toy_executor(jnc, str(tmp_path / "rec"), fails={"route"})
    await ex.start()
    try:
        d = await request_and_admit(jrepo)
        state = await wait_for(jrepo, d, lambda s: s.status is DeploymentStatus.FAILED)
    finally:
        await ex.stop()
    wire = {j.id: state.job_status(j) for j in state.ordered_jobs}
    assert wire == {
        "deploy-bundle": JobStatus.SUCCESS,
        "route": JobStatus.FAILURE,
        "complete": JobStatus.CANCELLED,
        "screenshot": JobStatus.CANCELLED,
    }
    assert "route failed on purpose" in (state.end_reason or "")


async def test_an_optional_jobs_failure_leaves_the_deployment_completed(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    ex = toy_executor(jnc, str(tmp_path / "rec"), fails={"screenshot"})
    await ex.start()
    try:
        d = await request_and_admit(jrepo)
        state = await wait_for(jrepo, d, lambda s: s.jobs["screenshot"].status is JobStatus.FAILURE)
    finally:
        await ex.stop()
    assert state.status is DeploymentStatus.COMPLETED


async def test_a_deployment_that_ends_stops_its_running_job_within_a_second(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    ex = toy_executor(jnc, str(rec), sleeps={"deploy-bundle": 60})
    await ex.start()
    try:
        d = await request_and_admit(jrepo)
        await wait_for(jrepo, d, lambda s: s.jobs["deploy-bundle"].status is JobStatus.RUNNING)
        await asyncio.sleep(0.3)
        loaded = await jrepo.load(Aggregate.DEPLOYMENT, d)
        cancelled_at = time.time()
        await jrepo.append(
            loaded, [dep_event(d, ev.DeploymentCancelled(reason="user", by="t"), cause="x")]
        )
        for _ in range(50):
            stops = [r for r in records(rec) if r["ev"] == "cancelled"]
            if stops:
                break
            await asyncio.sleep(0.05)
    finally:
        await ex.stop()
    assert stops, "the running job was not stopped"
    assert stops[0]["t"] - cancelled_at < 1.0
    state = (await jrepo.load(Aggregate.DEPLOYMENT, d)).state
    assert state.status is DeploymentStatus.CANCELLED
    assert state.job_status(state.jobs["deploy-bundle"]) is JobStatus.CANCELLED


async def test_a_paused_pipeline_starts_no_new_job_until_resumed(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    ex = toy_executor(jnc, str(rec), sleeps={"deploy-bundle": 1.0})
    await ex.start()
    try:
        d = await request_and_admit(jrepo)
        await wait_for(jrepo, d, lambda s: s.jobs["deploy-bundle"].status is JobStatus.RUNNING)
        loaded = await jrepo.load(Aggregate.DEPLOYMENT, d)
        await jrepo.append(loaded, [dep_event(d, ev.DeploymentPaused(by="t"), cause="p")])
        await wait_for(jrepo, d, lambda s: s.jobs["deploy-bundle"].status is JobStatus.SUCCESS)
        await asyncio.sleep(1.0)
        state = (await jrepo.load(Aggregate.DEPLOYMENT, d)).state
        assert state.jobs["route"].status is JobStatus.PENDING
        loaded = await jrepo.load(Aggregate.DEPLOYMENT, d)
        await jrepo.append(loaded, [dep_event(d, ev.DeploymentResumed(by="t"), cause="r")])
        state = await wait_for(jrepo, d, lambda s: s.status is DeploymentStatus.COMPLETED)
    finally:
        await ex.stop()


class _FakeMsg:
    """Just enough of a JetStream message for `_claim`: the trigger's id."""

    def __init__(self, event_id: str) -> None:
        self.headers = {"Nats-Msg-Id": event_id}


async def test_a_claim_stored_by_another_executor_for_the_same_trigger_is_not_mine(
    jnc: NATS, jrepo: Repository, tmp_path: Path
) -> None:
    d = await request_and_admit(jrepo)
    first = toy_executor(jnc, str(tmp_path / "rec"))
    second = toy_executor(jnc, str(tmp_path / "rec"))
    stale = await jrepo.load(Aggregate.DEPLOYMENT, d)  # loaded before anybody claimed
    fresh = await jrepo.load(Aggregate.DEPLOYMENT, d)
    job = fresh.state.jobs["deploy-bundle"]
    trigger = _FakeMsg("the-same-trigger")
    mine = await first._claim(fresh, job, 1, trigger)  # type: ignore[arg-type]
    theirs = await second._claim(stale, job, 1, trigger)  # type: ignore[arg-type]
    assert mine is not None
    assert theirs is None  # same event id, but not stored by this append: not its claim
