"""Builders of realistic events for tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.fold import fold_deployment
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.events.values import ConfigSnapshot, DeploymentType, JobSpec, Source, TriggerInfo


def uid(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def dep_event(
    dep_id: str,
    data: EventData,
    *,
    cause: str | None = None,
    job_id: str | None = None,
    attempt: int | None = None,
    actor: str = "test",
    occurred_at: datetime | None = None,
) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=dep_id,
        causation_id=cause or uid("c"),
        actor=actor,
        correlation_id=dep_id,
        job_id=job_id,
        attempt=attempt,
        occurred_at=occurred_at,
    )


def env_event(
    env_id: str,
    data: EventData,
    *,
    cause: str | None = None,
    dep: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.ENVIRONMENT,
        aggregate_id=env_id,
        causation_id=cause or uid("c"),
        actor="test",
        correlation_id=dep,
        occurred_at=occurred_at,
    )


def requested(
    dep_id: str,
    *,
    kind: DeploymentType = DeploymentType.IMAGE,
    plan: tuple[JobSpec, ...] | None = None,
    project: str = "proj",
    environment: str = "prod",
    commit: str | None = None,
) -> ev.DeploymentRequested:
    return ev.DeploymentRequested(
        deployment_id=dep_id,
        project=project,
        environment=environment,
        deployment_type=kind,
        source=Source(image_ref="example/app:1", commit_sha=commit),
        plan=plan if plan is not None else plans.initial_plan(kind),
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )


class Story:
    """One deployment's events, built step by step by the actors that append them."""

    def __init__(
        self,
        dep_id: str = "dep1",
        kind: DeploymentType = DeploymentType.IMAGE,
        *,
        plan: tuple[JobSpec, ...] | None = None,
        commit: str | None = None,
    ) -> None:
        self.dep_id = dep_id
        self.events: list[Envelope] = []
        self.attempts: dict[str, int] = {}
        self.add(requested(dep_id, kind=kind, plan=plan, commit=commit))

    @property
    def state(self) -> DeploymentState:
        return fold_deployment(self.events, self.dep_id)

    def add(
        self, data: EventData, *, job_id: str | None = None, attempt: int | None = None
    ) -> Story:
        cause = f"cause-{len(self.events)}"
        self.events.append(
            dep_event(self.dep_id, data, cause=cause, job_id=job_id, attempt=attempt)
        )
        return self

    def admit(self) -> Story:
        return self.add(ev.DeploymentAdmitted(deployment_id=self.dep_id))

    def start(self, job_id: str) -> Story:
        attempt = self.attempts[job_id] = self.attempts.get(job_id, 0) + 1
        job_type = self.state.jobs[job_id].type
        data = ev.JobStarted(job_id=job_id, job_type=job_type, attempt=attempt, executor="h:1")
        return self.add(data, job_id=job_id, attempt=attempt)

    def succeed(
        self,
        job_id: str,
        output: dict[str, Any] | None = None,
        next_jobs: tuple[JobSpec, ...] = (),
    ) -> Story:
        attempt = self.attempts[job_id]
        data = ev.JobSucceeded(
            job_id=job_id, attempt=attempt, output=output or {}, next_jobs=next_jobs
        )
        return self.add(data, job_id=job_id, attempt=attempt)

    def fail(self, job_id: str, error: str = "boom") -> Story:
        attempt = self.attempts[job_id]
        data = ev.JobFailed(job_id=job_id, attempt=attempt, error=error)
        return self.add(data, job_id=job_id, attempt=attempt)

    def skip(self, job_id: str, reason: str = "not needed") -> Story:
        return self.add(ev.JobSkipped(job_id=job_id, reason=reason), job_id=job_id)

    def run(self, *job_ids: str) -> Story:
        for job_id in job_ids:
            self.start(job_id).succeed(job_id)
        return self
