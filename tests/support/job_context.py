"""A JobContext for calling a job function directly in unit tests (no NATS, no executor)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from libs.events import plans
from libs.events.logs import LogLine
from libs.events.states import DeploymentState, JobState, JobStatus
from libs.events.values import ConfigSnapshot, DeploymentType, JobType, Source
from libs.jobs import JobContext, JobLogger
from libs.settings import Settings


class CollectedLog:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        self.payloads.append(payload)

    def lines(self) -> list[LogLine]:
        return [
            LogLine.model_validate(json.loads(raw))
            for payload in self.payloads
            for raw in payload.splitlines()
            if raw.strip()
        ]

    def text(self) -> str:
        return "\n".join(line.line for line in self.lines())


def git_state(
    deployment_id: str = "d0123456789ab",
    *,
    source: Source | None = None,
    config: ConfigSnapshot | None = None,
    project: str = "proj",
    environment: str = "prod",
    outputs: dict[JobType, dict[str, Any]] | None = None,
) -> DeploymentState:
    """A git deployment, admitted; jobs with `outputs` succeeded with them, the rest pending."""
    jobs: dict[str, JobState] = {}
    for order, spec in enumerate(plans.initial_plan(DeploymentType.GIT)):
        job = JobState(
            id=spec.id,
            type=spec.type,
            depends_on=spec.depends_on,
            optional=spec.optional,
            order=order,
            segment=0,
        )
        if outputs and spec.type in outputs:
            job = replace(job, status=JobStatus.SUCCESS, attempt=1, output=outputs[spec.type])
        jobs[spec.id] = job
    return DeploymentState(
        id=deployment_id,
        project=project,
        environment=environment,
        source=source or Source(),
        config=config or ConfigSnapshot(),
        jobs=jobs,
        admitted=True,
        requested=True,
    )


def job_context(
    state: DeploymentState, job_type: JobType, settings: Settings | None = None
) -> tuple[JobContext, CollectedLog]:
    """A context for the job of `job_type` in `state`, running as attempt 1."""
    job = next(j for j in state.jobs.values() if j.type is job_type)
    job = replace(job, status=JobStatus.RUNNING, attempt=1)
    state = replace(state, jobs={**state.jobs, job.id: job})
    collected = CollectedLog()
    logger = JobLogger(collected.publish, f"logs.{state.id}.{job.id}", job.id, 1)

    async def refresh() -> DeploymentState:
        return state

    ctx = JobContext(
        deployment_id=state.id,
        job=job,
        attempt=1,
        state=state,
        log=logger,
        settings=settings or Settings(),
        executor="test",
        refresh=refresh,
    )
    return ctx, collected
