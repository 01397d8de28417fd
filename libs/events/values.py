"""Value objects shared by several events: plans, sources, config snapshots, containers."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class JobType(StrEnum):
    DOWNLOAD_REPO = "DownloadRepoJob"
    BUILD_IMAGE = "BuildImageJob"
    PULL_EXTERNAL_IMAGE = "PullExternalImageJob"
    VERIFY_LOCAL_IMAGE = "VerifyLocalImageJob"
    DEPLOY_IMAGE = "DeployImageJob"
    DEPLOY_STATIC = "DeployStaticJob"
    DEPLOY_STATIC_BUNDLE = "DeployStaticBundleJob"
    HEALTH_CHECK = "HealthCheckJob"
    ROUTE_TRAFFIC = "RouteTrafficJob"
    MARK_DEPLOYMENT_COMPLETE = "MarkDeploymentCompleteJob"
    CONFIGURE_CRONS = "ConfigureCronsJob"
    TAKE_SCREENSHOT = "TakeScreenshotJob"
    SCAN_VULNERABILITIES = "ScanVulnerabilitiesJob"
    CAPTURE_SOURCE_MAPS = "CaptureSourceMapsJob"


DEPLOY_JOB_TYPES = frozenset(
    {JobType.DEPLOY_IMAGE, JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE}
)


class DeploymentType(StrEnum):
    GIT = "git"
    MANUAL = "manual"
    IMAGE = "image"
    IMAGE_UPLOAD = "image_upload"
    STATIC_BUNDLE = "static_bundle"
    ROLLBACK = "rollback"


class Preset(StrEnum):
    """What a build produced: a container image or a directory of static files."""

    CONTAINER = "container"
    STATIC = "static"


class AdmissionPolicy(StrEnum):
    SUPERSEDE = "supersede"
    QUEUE = "queue"


class JobSpec(Frozen):
    """One step of a plan."""

    id: str = Field(description="Unique within the deployment, stable across retries.")
    type: JobType = Field(description="Job type; decides which executor runs it.")
    depends_on: tuple[str, ...] = Field(default=(), description="Job ids that must succeed first.")
    optional: bool = Field(
        default=False, description="After MarkDeploymentCompleteJob: never fails."
    )


class Source(Frozen):
    """Where a deployment's code or image comes from."""

    repo_url: str | None = Field(default=None, description="Git URL or allowed local path.")
    branch: str | None = Field(default=None, description="Branch or tag name that was pushed.")
    commit_sha: str | None = Field(default=None, description="Exact commit to build.")
    commit_message: str | None = Field(default=None, description="Head commit message, if known.")
    image_ref: str | None = Field(default=None, description="Registry reference (image deploys).")
    pull: str | None = Field(default=None, description="Pull policy: missing or always.")
    image_id: str | None = Field(
        default=None, description="Expected image id (uploads, rollbacks)."
    )
    upload_object: str | None = Field(default=None, description="Object name of an uploaded tar.")
    bundle: str | None = Field(default=None, description="Object name of a static bundle.")
    rollback_of: str | None = Field(default=None, description="Target deployment of a rollback.")
    static_object: str | None = Field(default=None, description="Static files reused by rollback.")


class ConfigSnapshot(Frozen):
    """The environment configuration frozen at request time; secrets only by KV revision."""

    port: int | None = Field(default=None, description="Container port (setting > toml > image).")
    replicas: int = Field(default=1, ge=1, le=32, description="Container replicas.")
    cpu: float | None = Field(default=None, description="CPU limit in cores.")
    memory: str | None = Field(default=None, description="Memory limit, e.g. 512m.")
    health_path: str = Field(default="/", description="Health probe path.")
    expected_status: int | None = Field(default=None, description="Healthy status; None = any 2xx.")
    app_dir: str | None = Field(default=None, description="Sub-directory of a monorepo.")
    preset: str | None = Field(default=None, description="Forced build preset.")
    command: str | None = Field(default=None, description="Start command override.")
    domain: str | None = Field(default=None, description="Extra custom domain.")
    variables: dict[str, int] = Field(
        default_factory=dict, description="Variable name -> secrets KV revision (never a value)."
    )
    crons: tuple[CronSpec, ...] = Field(default=(), description="Crons reused by a rollback.")


class CronSpec(Frozen):
    """One `[[crons]]` entry of slipway.toml."""

    schedule: str = Field(description="Five-field cron expression.")
    path: str = Field(description="Path called on the environment's current deployment.")
    method: str = Field(default="GET", description="HTTP method.")
    timezone: str = Field(default="UTC", description="IANA time zone of the schedule.")


ConfigSnapshot.model_rebuild()


class TriggerInfo(Frozen):
    """What asked for a deployment."""

    kind: str = Field(description="webhook-github, webhook-gitlab, api, trigger, cli, rollback.")
    request_id: str | None = Field(default=None, description="Delivery id, Idempotency-Key, ...")
    actor: str | None = Field(default=None, description="Token id or sender login.")


class ContainerInfo(Frozen):
    """One running replica."""

    id: str = Field(description="Docker container id.")
    name: str = Field(description="Docker container name (carries the attempt).")
    host: str = Field(description="Host or IP the proxy reaches it on.")
    port: int = Field(description="Port the proxy reaches it on.")
    replica: int = Field(default=0, description="Replica index.")
