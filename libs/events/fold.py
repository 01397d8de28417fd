"""The fold: `evolve(state, event)` and `fold(events)` for every aggregate. Pure and total.

The fold never raises on a history the plans allow and ignores what cannot apply (a result of a
stale attempt, an event after the end), because the log is the truth and readers must survive it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any, TypeVar, cast

from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.states import (
    Admission,
    DeploymentState,
    DeploymentStatus,
    EnvironmentState,
    JobState,
    JobStatus,
    ProjectState,
    Route,
)
from libs.events.subjects import Aggregate
from libs.events.values import JobSpec

S = TypeVar("S", DeploymentState, EnvironmentState, ProjectState)
T = TypeVar("T")


def _replace(obj: T, /, **changes: Any) -> T:
    """`dataclasses.replace` for the fold's plain frozen states (no `__post_init__`, no
    `init=False` fields, no slots): a copy of the instance dict instead of a run of `__init__`
    over some thirty fields — the fold's single largest cost when the projector catches up."""
    fields = obj.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = changes.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {sorted(unknown)}")
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class Recorded:
    """An event as read back from the store: its sequence, server time and exact stored bytes."""

    seq: int
    stored_at: datetime
    raw: bytes
    envelope: Envelope


def _add_jobs(jobs: dict[str, JobState], specs: Iterable[JobSpec], segment: int) -> None:
    order = len(jobs)
    for spec in specs:
        if spec.id in jobs:
            continue
        jobs[spec.id] = JobState(
            id=spec.id,
            type=spec.type,
            depends_on=spec.depends_on,
            optional=spec.optional,
            order=order,
            segment=segment,
        )
        order += 1


def _job_result(
    state: DeploymentState, job_id: str, expect_attempt: int | None, **changes: object
) -> DeploymentState:
    job = state.jobs.get(job_id)
    if job is None or (expect_attempt is not None and expect_attempt != job.attempt):
        return state  # unknown job or a stale attempt's result: the latest claim owns the job
    jobs = dict(state.jobs)
    jobs[job_id] = _replace(job, **changes)
    return _replace(state, jobs=jobs)


def _end(
    state: DeploymentState,
    status: DeploymentStatus,
    at: datetime,
    reason: str | None,
    by: str | None = None,
    superseded_by: str | None = None,
) -> DeploymentState:
    if state.ended is not None:
        return state
    return _replace(
        state,
        ended=status,
        end_reason=reason,
        end_by=by,
        superseded_by=superseded_by,
        finished_at=state.finished_at or at,
        paused=False,
    )


def evolve_deployment(state: DeploymentState, event: Envelope) -> DeploymentState:
    d = event.data
    at = event.occurred_at
    if isinstance(d, ev.DeploymentRequested):
        if state.requested:
            return state
        jobs: dict[str, JobState] = {}
        _add_jobs(jobs, d.plan, 0)
        return _replace(
            state,
            requested=True,
            project=d.project,
            environment=d.environment,
            deployment_type=d.deployment_type,
            source=d.source,
            config=d.config,
            trigger=d.trigger,
            jobs=jobs,
            created_at=at,
        )
    if isinstance(d, ev.DeploymentAdmitted):
        return _replace(state, admitted=True, admitted_at=state.admitted_at or at)
    if isinstance(d, ev.JobStarted):
        job = state.jobs.get(d.job_id)
        if job is None or d.attempt <= job.attempt:
            return state
        state = _job_result(
            state,
            d.job_id,
            None,
            status=JobStatus.RUNNING,
            attempt=d.attempt,
            executor=d.executor,
            started_at=at,
            finished_at=None,
            error=None,
        )
        return _replace(state, started_at=state.started_at or at)
    if isinstance(d, ev.JobSucceeded):
        job = state.jobs.get(d.job_id)
        if job is None or job.attempt != d.attempt or job.status is not JobStatus.RUNNING:
            return state
        state = _job_result(
            state, d.job_id, d.attempt, status=JobStatus.SUCCESS, finished_at=at, output=d.output
        )
        if d.next_jobs:
            jobs = dict(state.jobs)
            _add_jobs(jobs, d.next_jobs, job.segment)
            state = _replace(state, jobs=jobs)
        return state
    if isinstance(d, ev.JobFailed):
        job = state.jobs.get(d.job_id)
        if job is None or job.attempt != d.attempt or job.status is not JobStatus.RUNNING:
            return state
        state = _job_result(
            state,
            d.job_id,
            d.attempt,
            status=JobStatus.FAILURE,
            finished_at=at,
            error=d.error,
            failure_code=d.failure_code,
        )
        if not job.optional:
            state = _end(state, DeploymentStatus.FAILED, at, f"{job.type.value} failed: {d.error}")
        return state
    if isinstance(d, ev.JobSkipped):
        job = state.jobs.get(d.job_id)
        if job is None or job.status in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED):
            return state
        return _job_result(
            state, d.job_id, None, status=JobStatus.SKIPPED, finished_at=at, skip_reason=d.reason
        )
    if isinstance(d, ev.DeploymentCancelled):
        return _end(state, DeploymentStatus.CANCELLED, at, d.reason, d.by, d.superseded_by)
    if isinstance(d, ev.DeploymentStopped):
        return _end(state, DeploymentStatus.STOPPED, at, d.reason, d.by, d.superseded_by)
    if isinstance(d, ev.DeploymentPaused):
        if state.ended is not None:
            return state
        return _replace(state, paused=True)
    if isinstance(d, ev.DeploymentResumed):
        if state.ended is not None or not state.paused:
            return state
        segment = state.segment
        jobs = dict(state.jobs)
        if d.segment:
            segment += 1
            _add_jobs(jobs, d.segment, segment)
        return _replace(state, paused=False, segment=segment, jobs=jobs)
    if isinstance(d, ev.ContainersStarted):
        kept = tuple(c for c in state.containers if c.id not in {n.id for n in d.containers})
        return _replace(state, containers=kept + tuple(d.containers))
    if isinstance(d, ev.ContainersRemoved):
        gone = set(d.container_ids)
        return _replace(state, containers=tuple(c for c in state.containers if c.id not in gone))
    if isinstance(d, ev.ArtifactPruned):
        return _replace(state, pruned=state.pruned | {d.kind})
    return state


def evolve_environment(state: EnvironmentState, event: Envelope, seq: int = 0) -> EnvironmentState:
    d = event.data
    if isinstance(d, ev.EnvironmentConfigured):
        return _replace(state, config=d)
    if isinstance(d, ev.DeploymentQueued):
        # A replayed queueing must not put back a deployment that was since admitted or ended.
        if (
            any(q[0] == d.deployment_id for q in state.queued)
            or state.admission_of(d.deployment_id) is not None
            or d.deployment_id in state.ended
        ):
            return state
        return _replace(state, queued=(*state.queued, (d.deployment_id, d.commit_sha)))
    if isinstance(d, ev.DeploymentAdmitted):
        if state.admission_of(d.deployment_id) is not None:
            return state
        admission = Admission(d.deployment_id, len(state.admitted) + 1, d.commit_sha)
        return _replace(
            state,
            admitted=(*state.admitted, admission),
            queued=tuple(q for q in state.queued if q[0] != d.deployment_id),
        )
    if isinstance(d, ev.DeploymentEnded):
        if d.deployment_id in state.ended:
            return state
        ended = dict(state.ended)
        ended[d.deployment_id] = d.outcome
        return _replace(
            state, ended=ended, queued=tuple(q for q in state.queued if q[0] != d.deployment_id)
        )
    if isinstance(d, ev.TrafficSwitched):
        routed = state.admission_of(d.deployment_id) if d.deployment_id else None
        route = Route(
            mode=d.mode,
            deployment_id=d.deployment_id,
            upstreams=tuple(d.upstreams),
            static_root=d.static_root,
            admission_number=routed.number if routed else d.admission_seq,
            seq=seq,
        )
        return _replace(state, route=route)
    return state


def evolve_project(state: ProjectState, event: Envelope) -> ProjectState:
    d = event.data
    if isinstance(d, ev.ProjectRegistered):
        if state.registered:
            return state
        return _replace(
            state,
            registered=True,
            name=d.name,
            repo_url=d.repo_url,
            webhook_secret_revision=d.webhook_secret_revision,
            created_at=event.occurred_at,
        )
    if isinstance(d, ev.ProjectUpdated):
        return _replace(
            state,
            repo_url=d.repo_url if d.repo_url is not None else state.repo_url,
            webhook_secret_revision=(
                d.webhook_secret_revision
                if d.webhook_secret_revision is not None
                else state.webhook_secret_revision
            ),
        )
    return state


AnyState = DeploymentState | EnvironmentState | ProjectState


def evolve(state: S, event: Envelope | Recorded) -> S:
    """Applies one event (an envelope, or a recorded event that carries its sequence)."""
    seq = 0
    if isinstance(event, Recorded):
        seq, event = event.seq, event.envelope
    version, last_seq = state.version + 1, seq or state.last_seq
    last_hash = event.hash or state.last_hash
    new: AnyState
    if isinstance(state, DeploymentState):
        new = _replace(
            evolve_deployment(state, event),
            updated_at=event.occurred_at,
            version=version,
            last_seq=last_seq,
            last_hash=last_hash,
        )
    elif isinstance(state, EnvironmentState):
        new = _replace(
            evolve_environment(state, event, seq),
            version=version,
            last_seq=last_seq,
            last_hash=last_hash,
        )
    else:
        new = _replace(
            evolve_project(state, event), version=version, last_seq=last_seq, last_hash=last_hash
        )
    return new  # type: ignore[return-value]


def initial_state(aggregate: Aggregate, aggregate_id: str) -> AnyState:
    if aggregate is Aggregate.DEPLOYMENT:
        return DeploymentState(id=aggregate_id)
    if aggregate is Aggregate.ENVIRONMENT:
        return EnvironmentState(id=aggregate_id)
    return ProjectState(id=aggregate_id)


def fold(events: Iterable[Envelope | Recorded], state: S | None = None) -> S:
    """Folds one aggregate's events (in stored order) onto `state` or a fresh state."""
    items = list(events)
    if state is None:
        if not items:
            raise ValueError("fold of no events needs an initial state")
        first = items[0].envelope if isinstance(items[0], Recorded) else items[0]
        state = cast(S, initial_state(first.aggregate, first.aggregate_id))
    return reduce(evolve, items, state)


def fold_deployment(events: Iterable[Envelope | Recorded], deployment_id: str) -> DeploymentState:
    return fold(events, DeploymentState(id=deployment_id))


def fold_environment(events: Iterable[Envelope | Recorded], env_id: str) -> EnvironmentState:
    return fold(events, EnvironmentState(id=env_id))


def fold_project(events: Iterable[Envelope | Recorded], project_id: str) -> ProjectState:
    return fold(events, ProjectState(id=project_id))
