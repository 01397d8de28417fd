"""Builders of realistic events for tests."""

from __future__ import annotations

import uuid

from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, EventData, new_event
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
    )


def env_event(
    env_id: str, data: EventData, *, cause: str | None = None, dep: str | None = None
) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.ENVIRONMENT,
        aggregate_id=env_id,
        causation_id=cause or uid("c"),
        actor="test",
        correlation_id=dep,
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
