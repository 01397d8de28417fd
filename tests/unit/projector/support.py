"""Test support for the projector: an in-memory event log and generated deployment histories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libs.events import (
    Aggregate,
    DeploymentState,
    DeploymentType,
    EventData,
    JobStatus,
    JobType,
    Preset,
    Recorded,
    Source,
    TriggerInfo,
    evolve,
    new_event,
)
from libs.events import catalog as ev
from libs.events.plans import build_tail, initial_plan, resume_segment
from libs.events.rules import can_cancel, can_pause, can_resume, can_stop, runnable_jobs
from libs.events.subjects import environment_id
from libs.events.values import ConfigSnapshot, ContainerInfo
from services.projector.db import make_engine, migrate, sessions

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class FakeLog:
    """The event store as the projector sees it: sequenced, sealed, loadable per aggregate."""

    events: list[Recorded] = field(default_factory=list)
    last_hash: dict[tuple[Aggregate, str], str | None] = field(default_factory=dict)
    clock: datetime = T0
    loads: int = 0

    def tick(self, micros: int = 1_234) -> datetime:
        self.clock += timedelta(microseconds=micros)
        return self.clock

    def append(
        self,
        data: EventData,
        aggregate: Aggregate,
        aggregate_id: str,
        *,
        at: datetime | None = None,
    ) -> Recorded:
        when = at or self.tick()
        envelope = new_event(
            data,
            aggregate=aggregate,
            aggregate_id=aggregate_id,
            causation_id=str(uuid.uuid4()),
            actor="test",
            occurred_at=when,
        )
        key = (aggregate, aggregate_id)
        sealed, raw = envelope.sealed(self.last_hash.get(key))
        self.last_hash[key] = sealed.hash
        rec = Recorded(seq=len(self.events) + 1, stored_at=when, raw=raw, envelope=sealed)
        self.events.append(rec)
        return rec

    def deployment(
        self, deployment_id: str, data: EventData, at: datetime | None = None
    ) -> Recorded:
        return self.append(data, Aggregate.DEPLOYMENT, deployment_id, at=at)

    def of(self, aggregate: Aggregate, aggregate_id: str) -> list[Recorded]:
        return [
            r
            for r in self.events
            if r.envelope.aggregate is aggregate and r.envelope.aggregate_id == aggregate_id
        ]

    async def load(self, aggregate: Aggregate, aggregate_id: str) -> list[Recorded]:
        self.loads += 1
        return self.of(aggregate, aggregate_id)

    def after(self, seq: int) -> list[Recorded]:
        return self.events[seq:]


def requested(
    deployment_id: str,
    *,
    project: str = "shop",
    environment: str = "production",
    kind: DeploymentType = DeploymentType.GIT,
    branch: str | None = "main",
    commit: str | None = None,
    plan: tuple[Any, ...] | None = None,
) -> ev.DeploymentRequested:
    return ev.DeploymentRequested(
        deployment_id=deployment_id,
        project=project,
        environment=environment,
        deployment_type=kind,
        source=Source(
            repo_url="https://example.com/shop.git",
            branch=branch,
            commit_sha=commit,
            image_ref="nginx:1" if kind is DeploymentType.IMAGE else None,
        ),
        plan=plan if plan is not None else initial_plan(kind),
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api", request_id=deployment_id),
    )


def _output(job_type: JobType, deployment_id: str, preset: Preset) -> dict[str, Any]:
    short = deployment_id[:8]
    if job_type is JobType.DOWNLOAD_REPO:
        return {
            "commit_sha": "ab" * 20,
            "commit_message": "Fix the thing",
            "source_object": f"sources/{short}.tar.gz",
        }
    if job_type is JobType.BUILD_IMAGE:
        if preset is Preset.STATIC:
            return {
                "preset": "static",
                "kind": "static",
                "signal": "index.html",
                "static_object": f"static/{short}.tar",
            }
        return {
            "preset": "node",
            "kind": "container",
            "signal": "package.json",
            "image_id": f"sha256:{short}",
        }
    if job_type in (JobType.PULL_EXTERNAL_IMAGE, JobType.VERIFY_LOCAL_IMAGE):
        return {"image_id": f"sha256:{short}"}
    if job_type is JobType.TAKE_SCREENSHOT:
        return {"objects": [f"screenshots/{short}.png"], "summary": "1280x800"}
    if job_type is JobType.SCAN_VULNERABILITIES:
        return {"objects": [f"sboms/{short}.json"], "summary": "0 critical"}
    if job_type is JobType.CAPTURE_SOURCE_MAPS:
        return {"objects": [f"sourcemaps/{short}/a.map", f"sourcemaps/{short}/b.map"]}
    if job_type is JobType.DEPLOY_STATIC_BUNDLE:
        return {"static_root": f"/srv/{short}", "static_object": f"bundles/{short}.tar"}
    return {}


KINDS = [
    DeploymentType.GIT,
    DeploymentType.MANUAL,
    DeploymentType.IMAGE,
    DeploymentType.IMAGE_UPLOAD,
    DeploymentType.STATIC_BUNDLE,
    DeploymentType.ROLLBACK,
]


@st.composite
def histories(
    draw: Callable[..., Any], did: str, max_steps: int = 40
) -> list[tuple[EventData, int]]:
    """A valid history of one deployment: (event payload, microseconds since the previous).

    Follows the plan in dependency order: request, maybe admit, jobs started (and re-claimed),
    succeeded (a build appends its tail), failed or skipped, containers, pause/resume with a new
    segment, cancel and stop — each only when the command rules allow it — and, now and then, a
    stale result or an event after the end that the fold must ignore.
    """
    kind = draw(st.sampled_from(KINDS))
    preset = draw(st.sampled_from([Preset.CONTAINER, Preset.STATIC]))
    plan = initial_plan(kind, rollback_preset=preset)
    commit = draw(st.one_of(st.none(), st.text("0123456789abcdef", min_size=40, max_size=40)))
    first = requested(did, kind=kind, commit=commit, plan=plan)
    out: list[tuple[EventData, int]] = [(first, 0)]
    state = DeploymentState(id=did)

    def emit(data: EventData) -> None:
        nonlocal state
        gap = draw(st.integers(0, 5_000_000))  # 0: two events in the same microsecond
        out.append((data, gap))
        env = new_event(
            data,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=did,
            causation_id="x",
            actor="t",
            occurred_at=T0,
        )
        state = evolve(state, env)

    state = evolve(
        state,
        new_event(
            first,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=did,
            causation_id="x",
            actor="t",
            occurred_at=T0,
        ),
    )
    early = draw(st.integers(0, 99))
    if early >= 96:
        emit(ev.DeploymentCancelled(reason="changed my mind", by="token-1"))
        return out
    if early >= 92:
        return out  # never admitted: pending
    emit(ev.DeploymentAdmitted(deployment_id=did, commit_sha=commit))
    segment_no = 0
    for _ in range(draw(st.integers(max_steps // 4, max_steps))):
        running = [j for j in state.jobs.values() if j.status is JobStatus.RUNNING]
        ready = runnable_jobs(state)
        progress = []
        if ready:
            progress.append("start")
        if running and state.ended is None:
            progress.append("succeed")
        detours = []
        if running and state.ended is None:
            detours += ["fail", "reclaim", "stale"]
        if can_pause(state) is None:
            detours.append("pause")
        if can_resume(state) is None:
            detours += ["resume"] * 3
        if can_cancel(state) is None:
            detours.append("cancel")
        if can_stop(state) is None:
            detours.append("stop")
        if state.ended is not None:
            detours.append("after-end")
        if not progress and state.ended is None and not state.paused and draw(st.booleans()):
            break  # the plan is done (or waits): a history may end here
        # Mostly progress along the plan (0 shrinks towards it); now and then a detour.
        if progress and (not detours or draw(st.integers(0, 99)) < 88):
            action = draw(st.sampled_from(progress))
        elif detours:
            action = draw(st.sampled_from(detours))
        else:
            break
        if action == "start":
            job = draw(st.sampled_from(ready))
            if job.optional and draw(st.integers(0, 4)) == 0:
                emit(ev.JobSkipped(job_id=job.id, reason="no chromium"))
                continue
            emit(
                ev.JobStarted(
                    job_id=job.id, job_type=job.type, attempt=job.attempt + 1, executor="host:1"
                )
            )
            if job.type is JobType.DEPLOY_IMAGE and draw(st.booleans()):
                containers = tuple(
                    ContainerInfo(
                        id=f"c{job.id}{i}",
                        name=f"app-{i}",
                        host="127.0.0.1",
                        port=30000 + i,
                        replica=i,
                    )
                    for i in range(draw(st.integers(1, 3)))
                )
                emit(
                    ev.ContainersStarted(
                        job_id=job.id, attempt=job.attempt + 1, containers=containers
                    )
                )
        elif action == "succeed":
            job = draw(st.sampled_from(running))
            tail = build_tail(preset) if job.type is JobType.BUILD_IMAGE else ()
            emit(
                ev.JobSucceeded(
                    job_id=job.id,
                    attempt=job.attempt,
                    output=_output(job.type, did, preset),
                    next_jobs=tail,
                )
            )
        elif action == "fail":
            job = draw(st.sampled_from(running))
            emit(
                ev.JobFailed(
                    job_id=job.id, attempt=job.attempt, error="exit 1", failure_code="error"
                )
            )
        elif action == "reclaim":
            job = draw(st.sampled_from(running))
            emit(
                ev.JobStarted(
                    job_id=job.id, job_type=job.type, attempt=job.attempt + 1, executor="host:2"
                )
            )
        elif action == "stale":
            job = draw(st.sampled_from(running))
            stale = job.attempt - 1 if job.attempt > 1 else job.attempt + 1
            emit(ev.JobSucceeded(job_id=job.id, attempt=stale))
        elif action == "pause":
            emit(ev.DeploymentPaused(by="token-1"))
        elif action == "resume":
            segment: tuple[Any, ...] = ()
            if state.routed and draw(st.booleans()):
                segment_no += 1
                segment = resume_segment(preset, segment_no)
            emit(ev.DeploymentResumed(by="token-1", segment=segment))
        elif action == "cancel":
            emit(ev.DeploymentCancelled(reason="superseded", by="admission", superseded_by="d2"))
        elif action == "stop":
            emit(ev.DeploymentStopped(reason="stopped by user", by="token-1"))
        else:
            emit(
                draw(
                    st.sampled_from(
                        [
                            ev.ContainersRemoved(
                                container_ids=tuple(c.id for c in state.containers),
                                reason="teardown",
                            ),
                            ev.ArtifactPruned(kind="image", ref=f"sha256:{did[:8]}"),
                            ev.JobSkipped(job_id=next(iter(state.jobs)), reason="late"),
                        ]
                    )
                )
            )
            if draw(st.booleans()):
                break
    return out


def env_id(project: str = "shop", environment: str = "production") -> str:
    return environment_id(project, environment)


@dataclass
class Db:
    """A migrated, empty read model."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


async def open_db(url: str) -> Db:
    await migrate(url)
    engine = make_engine(url)
    return Db(url, engine, sessions(engine))


def image_run(log: FakeLog, did: str, *, until: JobType | None = None) -> None:
    """Admits an image deployment and runs its required jobs in order, stopping before `until`."""
    log.deployment(did, ev.DeploymentAdmitted(deployment_id=did))
    for job in initial_plan(DeploymentType.IMAGE):
        if job.optional or job.type is until:
            return
        log.deployment(
            did, ev.JobStarted(job_id=job.id, job_type=job.type, attempt=1, executor="h:1")
        )
        output = {"image_id": "sha256:img"} if job.type is JobType.PULL_EXTERNAL_IMAGE else {}
        log.deployment(did, ev.JobSucceeded(job_id=job.id, attempt=1, output=output))
