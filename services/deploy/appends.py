"""The events the deploy service appends outside a job's terminal event (§3 "who appends what").

Reconciler and teardown events get their id from a hash of their content (§2), so two passes, two
replicas or a redelivered lifecycle message that decide the same thing store it once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from libs.events import catalog as ev
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.states import DeploymentState, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import ContainerInfo
from libs.eventstore import Appended, Repository
from libs.jobs import Fenced

ACTOR = "deploy"


def content_id(aggregate_id: str, data: EventData) -> str:
    """A causation id for reconciler events: the hash of what the event says."""
    body = json.dumps(
        [aggregate_id, data.event_type(), data.model_dump(mode="json")], sort_keys=True
    )
    return "content:" + hashlib.sha256(body.encode()).hexdigest()[:32]


def _event(deployment_id: str, data: EventData) -> Envelope:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=deployment_id,
        causation_id=content_id(deployment_id, data),
        actor=ACTOR,
        correlation_id=deployment_id,
    )


async def record_started(
    repo: Repository,
    deployment_id: str,
    job_id: str,
    attempt: int,
    containers: Sequence[ContainerInfo],
    actor: str,
) -> None:
    """`ContainersStarted` under the version check, only while this attempt is the job's latest
    and running (else Fenced); the id is fixed by (job, attempt)."""
    env = new_event(
        ev.ContainersStarted(job_id=job_id, attempt=attempt, containers=tuple(containers)),
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=deployment_id,
        causation_id="containers-started",
        actor=actor,
        correlation_id=deployment_id,
        job_id=job_id,
        attempt=attempt,
    )

    def decide(state: DeploymentState) -> list[Envelope]:
        job = state.jobs.get(job_id)
        if state.ended is not None:
            raise Fenced(f"deployment {state.status.value}")
        if job is None or job.attempt != attempt or job.status is not JobStatus.RUNNING:
            raise Fenced(f"attempt {attempt} of {job_id} is no longer the latest")
        return [env]

    await repo.execute(Aggregate.DEPLOYMENT, deployment_id, decide)


async def record_removed(
    repo: Repository, deployment_id: str, container_ids: Sequence[str], reason: str
) -> list[Appended]:
    """`ContainersRemoved` for the removed containers the deployment's fold still lists."""

    def decide(state: DeploymentState) -> list[Envelope]:
        known = {c.id for c in state.containers}
        ids = tuple(sorted(i for i in container_ids if i in known))
        if not ids:
            return []
        return [_event(deployment_id, ev.ContainersRemoved(container_ids=ids, reason=reason))]

    _, appended = await repo.execute(Aggregate.DEPLOYMENT, deployment_id, decide)
    return appended


async def record_superseded(repo: Repository, deployment_id: str, by: str) -> list[Appended]:
    """`DeploymentStopped(superseded by X)` after teardown, unless it has ended already."""
    data = ev.DeploymentStopped(reason=f"superseded by {by}", by=ACTOR, superseded_by=by)

    def decide(state: DeploymentState) -> list[Envelope]:
        return [] if state.ended is not None else [_event(deployment_id, data)]

    _, appended = await repo.execute(Aggregate.DEPLOYMENT, deployment_id, decide)
    return appended


async def record_pruned(
    repo: Repository, deployment_id: str, kind: str, ref: str
) -> list[Appended]:
    data = ev.ArtifactPruned(kind="image" if kind == "image" else "static", ref=ref)

    def decide(state: DeploymentState) -> list[Envelope]:
        return [] if data.kind in state.pruned else [_event(deployment_id, data)]

    _, appended = await repo.execute(Aggregate.DEPLOYMENT, deployment_id, decide)
    return appended
