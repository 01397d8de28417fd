"""Every event of Slipway (§3). Past-tense names; one class per event; fields documented.

A breaking change bumps SCHEMA_VERSION and adds an upcaster in `registry`; stored events are never
rewritten.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from libs.events.envelope import EventData
from libs.events.subjects import Aggregate
from libs.events.values import (
    AdmissionPolicy,
    ConfigSnapshot,
    ContainerInfo,
    DeploymentType,
    JobSpec,
    JobType,
    Source,
    TriggerInfo,
)

DEP = (Aggregate.DEPLOYMENT,)
ENV = (Aggregate.ENVIRONMENT,)
PRJ = (Aggregate.PROJECT,)

# ---------------------------------------------------------------- deployment aggregate


class DeploymentRequested(EventData):
    """A deployment was asked for; carries everything needed to run it without other reads."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    deployment_id: str = Field(description="Id of the new deployment (create-once aggregate).")
    project: str = Field(description="Project name.")
    environment: str = Field(description="Environment name.")
    deployment_type: DeploymentType = Field(description="git, manual, image, ..., rollback.")
    source: Source = Field(description="What to deploy.")
    plan: tuple[JobSpec, ...] = Field(description="The initial plan (§4).")
    config: ConfigSnapshot = Field(description="Environment config snapshot at request time.")
    trigger: TriggerInfo = Field(description="What asked for it.")


class DeploymentAdmitted(EventData):
    """Admission let the deployment run (stored on both the deployment and the environment)."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = (Aggregate.DEPLOYMENT, Aggregate.ENVIRONMENT)
    deployment_id: str = Field(description="The admitted deployment.")
    commit_sha: str | None = Field(default=None, description="Its commit, for duplicate checks.")


class JobStarted(EventData):
    """An executor claimed a job attempt."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    job_id: str = Field(description="Job id within the plan.")
    job_type: JobType = Field(description="Job type.")
    attempt: int = Field(ge=1, description="1 for the first claim, +1 for each takeover.")
    executor: str = Field(description="host:pid of the claiming executor.")


class JobSucceeded(EventData):
    """A job attempt finished successfully with its typed output."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    job_id: str = Field(description="Job id within the plan.")
    attempt: int = Field(ge=1, description="The attempt that succeeded.")
    output: dict[str, Any] = Field(default_factory=dict, description="Typed output (outputs.py).")
    next_jobs: tuple[JobSpec, ...] = Field(default=(), description="Plan tail a build appends.")


class JobFailed(EventData):
    """A job attempt failed; a required job's failure fails the deployment."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    job_id: str = Field(description="Job id within the plan.")
    attempt: int = Field(ge=1, description="The attempt that failed.")
    error: str = Field(description="Human-readable reason.")
    failure_code: str = Field(default="error", description="Machine-readable failure class.")


class JobSkipped(EventData):
    """A job decided not to run (e.g. no Chromium for a screenshot)."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    job_id: str = Field(description="Job id within the plan.")
    reason: str = Field(description="Why it was skipped.")


class DeploymentCancelled(EventData):
    """Ended before it deployed: by a user, superseded, or a duplicate."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    reason: str = Field(description="Why.")
    by: str = Field(description="Actor: token id or 'admission'.")
    superseded_by: str | None = Field(default=None, description="The newer deployment, if any.")


class DeploymentPaused(EventData):
    """Paused: no new job starts; a deployed app is on a maintenance page."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    reason: str = Field(default="paused by user", description="Why.")
    by: str = Field(description="Actor.")


class DeploymentResumed(EventData):
    """Resumed; may add a plan segment (new job ids) that redeploys and re-routes."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    by: str = Field(description="Actor.")
    segment: tuple[JobSpec, ...] = Field(default=(), description="Jobs added by the resume.")


class DeploymentStopped(EventData):
    """Stopped: superseded by a newer route, refused by the fence, or by a user."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    reason: str = Field(description="Why, e.g. 'superseded by <id>'.")
    by: str = Field(description="Actor: a service or a token id.")
    superseded_by: str | None = Field(default=None, description="The newer deployment, if any.")


class ContainersStarted(EventData):
    """The deploy service started containers for a job attempt."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    job_id: str = Field(description="The DeployImageJob.")
    attempt: int = Field(ge=1, description="Its attempt.")
    containers: tuple[ContainerInfo, ...] = Field(description="The started replicas.")


class ContainersRemoved(EventData):
    """Containers of this deployment were removed."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    container_ids: tuple[str, ...] = Field(description="Removed container ids.")
    reason: str = Field(description="teardown, failed, cancelled, stopped, paused ...")


class ArtifactPruned(EventData):
    """Retention removed an image or static files of this deployment."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = DEP
    kind: Literal["image", "static"] = Field(description="What was removed.")
    ref: str = Field(description="Image id or static directory/object.")


# ---------------------------------------------------------------- environment aggregate


class EnvironmentConfigured(EventData):
    """An environment was created or its settings (or variable names/revisions) changed."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = ENV
    project: str = Field(description="Project name.")
    environment: str = Field(description="Environment name (DNS label, not starting with d-).")
    branch: str | None = Field(default=None, description="Branch it tracks.")
    tags: bool = Field(default=False, description="Deploy tag pushes too.")
    auto_deploy: bool = Field(default=True, description="Deploy on push.")
    policy: AdmissionPolicy = Field(default=AdmissionPolicy.SUPERSEDE, description="Admission.")
    health_path: str = Field(default="/", description="Health probe path.")
    expected_status: int | None = Field(default=None, description="Healthy status; None = 2xx.")
    port: int | None = Field(default=None, description="Container port override.")
    replicas: int = Field(default=1, description="Replicas.")
    cpu: float | None = Field(default=None, description="CPU limit (cores).")
    memory: str | None = Field(default=None, description="Memory limit.")
    app_dir: str | None = Field(default=None, description="Monorepo sub-directory.")
    preset: str | None = Field(default=None, description="Forced build preset.")
    domain: str | None = Field(default=None, description="Extra custom domain.")
    variables: dict[str, int] = Field(
        default_factory=dict, description="Variable names -> secrets KV revisions."
    )


class DeploymentQueued(EventData):
    """Admission put a request behind the deployment in flight (policy queue)."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = ENV
    deployment_id: str = Field(description="The queued deployment.")
    commit_sha: str | None = Field(default=None, description="Its commit.")


class DeploymentEnded(EventData):
    """Admission recorded that a deployment of the environment ended (once per deployment)."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = ENV
    deployment_id: str = Field(description="The deployment that ended.")
    outcome: Literal["completed", "failed", "cancelled", "stopped"] = Field(description="How.")


class TrafficSwitched(EventData):
    """The environment's route was claimed (log first, then the proxy).

    v2: `upstreams` is a list (v1 had a single `upstream` string); see registry's upcaster.
    """

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = ENV
    SCHEMA_VERSION: ClassVar[int] = 2
    mode: Literal["deployment", "maintenance"] = Field(description="Serve a deployment or 503.")
    deployment_id: str | None = Field(default=None, description="Deployment now routed.")
    upstreams: tuple[str, ...] = Field(default=(), description="host:port of each replica.")
    static_root: str | None = Field(default=None, description="Directory served for static apps.")
    admission_seq: int | None = Field(default=None, description="Admission sequence (fence).")
    job_id: str | None = Field(default=None, description="RouteTrafficJob that claimed it.")


# ---------------------------------------------------------------- project aggregate


class ProjectRegistered(EventData):
    """A project was created."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = PRJ
    name: str = Field(description="Project name (DNS label).")
    repo_url: str | None = Field(default=None, description="Git repository.")
    webhook_secret_revision: int | None = Field(
        default=None, description="secrets KV revision of the webhook secret (never the value)."
    )


class ProjectUpdated(EventData):
    """A project's repository or webhook secret changed."""

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = PRJ
    repo_url: str | None = Field(default=None, description="New repository, if changed.")
    webhook_secret_revision: int | None = Field(default=None, description="New secret revision.")


ALL_EVENTS: tuple[type[EventData], ...] = (
    DeploymentRequested,
    DeploymentAdmitted,
    JobStarted,
    JobSucceeded,
    JobFailed,
    JobSkipped,
    DeploymentCancelled,
    DeploymentPaused,
    DeploymentResumed,
    DeploymentStopped,
    ContainersStarted,
    ContainersRemoved,
    ArtifactPruned,
    EnvironmentConfigured,
    DeploymentQueued,
    DeploymentEnded,
    TrafficSwitched,
    ProjectRegistered,
    ProjectUpdated,
)
