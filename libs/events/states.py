"""States of the read side of one aggregate, as the fold produces them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from libs.events.catalog import EnvironmentConfigured
from libs.events.values import (
    ConfigSnapshot,
    ContainerInfo,
    DeploymentType,
    JobType,
    Source,
    TriggerInfo,
)


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DEPLOYING = "deploying"
    READY = "ready"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    STOPPED = "stopped"


TERMINAL = frozenset(
    {DeploymentStatus.FAILED, DeploymentStatus.CANCELLED, DeploymentStatus.STOPPED}
)
# "Ended" for admission: the first of completed, failed, cancelled or stopped.
ENDED = TERMINAL | {DeploymentStatus.COMPLETED}

STATUS_ALIASES = {"deployed": DeploymentStatus.COMPLETED}


@dataclass(frozen=True)
class JobState:
    id: str
    type: JobType
    depends_on: tuple[str, ...]
    optional: bool
    order: int
    segment: int
    status: JobStatus = JobStatus.PENDING
    attempt: int = 0
    executor: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    failure_code: str | None = None
    output: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None


@dataclass(frozen=True)
class DeploymentState:
    id: str
    project: str = ""
    environment: str = ""
    deployment_type: DeploymentType = DeploymentType.MANUAL
    source: Source = field(default_factory=Source)
    config: ConfigSnapshot = field(default_factory=ConfigSnapshot)
    trigger: TriggerInfo | None = None
    jobs: dict[str, JobState] = field(default_factory=dict)
    segment: int = 0
    admitted: bool = False
    paused: bool = False
    ended: DeploymentStatus | None = None  # failed, cancelled or stopped, once
    end_reason: str | None = None
    end_by: str | None = None
    superseded_by: str | None = None
    containers: tuple[ContainerInfo, ...] = ()
    pruned: frozenset[str] = frozenset()
    created_at: datetime | None = None
    admitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0  # events folded
    last_seq: int = 0  # stream sequence of the last folded event (0 when unknown)
    last_hash: str | None = None
    requested: bool = False

    @property
    def status(self) -> DeploymentStatus:
        if self.ended is not None:
            return self.ended
        if self.paused:
            return DeploymentStatus.PAUSED
        latest = [j for j in self.jobs.values() if j.segment == self.segment]
        done = {j.type for j in latest if j.status is JobStatus.SUCCESS}
        if JobType.MARK_DEPLOYMENT_COMPLETE in done:
            return DeploymentStatus.COMPLETED
        if JobType.ROUTE_TRAFFIC in done:
            return DeploymentStatus.READY
        if self.segment > 0 or any(
            j.type in _DEPLOY_TYPES and j.status is not JobStatus.PENDING for j in latest
        ):
            return DeploymentStatus.DEPLOYING
        if self.admitted and any(j.status is not JobStatus.PENDING for j in self.jobs.values()):
            return DeploymentStatus.RUNNING
        return DeploymentStatus.PENDING

    def job_status(self, job: JobState) -> JobStatus:
        """Wire status: unfinished jobs of an ended deployment read `cancelled` (derived)."""
        if self.ended is not None and job.status in (JobStatus.PENDING, JobStatus.RUNNING):
            return JobStatus.CANCELLED
        return job.status

    @property
    def ordered_jobs(self) -> list[JobState]:
        return sorted(self.jobs.values(), key=lambda j: j.order)

    def output_of(self, job_type: JobType) -> dict[str, Any] | None:
        """Output of the latest successful job of a type (latest segment first)."""
        for job in sorted(self.jobs.values(), key=lambda j: -j.order):
            if job.type is job_type and job.status is JobStatus.SUCCESS:
                return job.output
        return None

    @property
    def routed(self) -> bool:
        return any(
            j.type is JobType.ROUTE_TRAFFIC and j.status is JobStatus.SUCCESS
            for j in self.jobs.values()
        )


# Jobs whose start makes a deployment `deploying`. A static rollback has no deploy job: its
# RouteTrafficJob is what goes live, so it must no longer be cancellable once that has started.
_DEPLOY_TYPES = frozenset(
    {
        JobType.DEPLOY_IMAGE,
        JobType.DEPLOY_STATIC,
        JobType.DEPLOY_STATIC_BUNDLE,
        JobType.ROUTE_TRAFFIC,
    }
)


@dataclass(frozen=True)
class Admission:
    deployment_id: str
    number: int  # 1, 2, 3 ... in admission order on the environment
    commit_sha: str | None


@dataclass(frozen=True)
class Route:
    mode: str
    deployment_id: str | None
    upstreams: tuple[str, ...]
    static_root: str | None
    admission_number: int | None
    seq: int


@dataclass(frozen=True)
class EnvironmentState:
    id: str
    config: EnvironmentConfigured | None = None
    admitted: tuple[Admission, ...] = ()  # every admission, in order
    queued: tuple[tuple[str, str | None], ...] = ()  # (deployment id, commit) waiting, FIFO
    ended: dict[str, str] = field(default_factory=dict)  # deployment id -> outcome
    route: Route | None = None
    version: int = 0
    last_seq: int = 0
    last_hash: str | None = None

    @property
    def in_flight(self) -> tuple[Admission, ...]:
        """Admitted and not ended, in admission order."""
        return tuple(a for a in self.admitted if a.deployment_id not in self.ended)

    @property
    def queued_ids(self) -> tuple[str, ...]:
        return tuple(q[0] for q in self.queued)

    def admission_of(self, deployment_id: str) -> Admission | None:
        for a in self.admitted:
            if a.deployment_id == deployment_id:
                return a
        return None


@dataclass(frozen=True)
class ProjectState:
    id: str
    name: str = ""
    repo_url: str | None = None
    webhook_secret_revision: int | None = None
    registered: bool = False
    created_at: datetime | None = None
    version: int = 0
    last_seq: int = 0
    last_hash: str | None = None
