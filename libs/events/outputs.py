"""Typed job outputs (§5), one model per job type. Stored as `JobSucceeded.output`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from libs.events.config import SlipwayToml
from libs.events.values import ContainerInfo, Frozen, JobType


class DownloadRepoOutput(Frozen):
    commit_sha: str = Field(description="The exact commit checked out.")
    commit_message: str = Field(default="", description="Its message.")
    author: str = Field(default="", description="Author name <email>.")
    committed_at: str | None = Field(default=None, description="Commit date, ISO 8601.")
    source_object: str = Field(description="Source tarball in the artifacts object store.")
    size_bytes: int = Field(default=0, description="Tarball size.")
    slipway_toml: SlipwayToml | None = Field(default=None, description="Parsed slipway.toml.")


class BuildImageOutput(Frozen):
    preset: str = Field(description="Detected or forced preset (node, python, static, ...).")
    kind: str = Field(description="container or static.")
    signal: str = Field(description="What decided the preset, e.g. 'Dockerfile'.")
    image_id: str | None = Field(default=None, description="Built image id (container).")
    image_tag: str | None = Field(default=None, description="slipway/<project>/<env>:<deployment>.")
    exposed_ports: tuple[int, ...] = Field(default=(), description="EXPOSEd ports of the image.")
    static_object: str | None = Field(default=None, description="Static files tarball object.")
    duration_s: float = Field(default=0.0, description="Build wall time.")


class ImageOutput(Frozen):
    """PullExternalImageJob and VerifyLocalImageJob."""

    image_id: str = Field(description="Local image id (sha256:...).")
    digest: str | None = Field(default=None, description="Registry digest, when known.")
    size_bytes: int = Field(default=0, description="Image size.")
    exposed_ports: tuple[int, ...] = Field(default=(), description="EXPOSEd ports.")


class DeployImageOutput(Frozen):
    containers: tuple[ContainerInfo, ...] = Field(description="Started replicas.")
    port: int = Field(description="Container port used.")


class DeployStaticOutput(Frozen):
    static_root: str = Field(description="Directory served for this deployment.")
    static_object: str | None = Field(default=None, description="Object the files came from.")
    files: int = Field(default=0, description="Number of files.")


class HealthCheckOutput(Frozen):
    probes: int = Field(description="Probes sent.")
    time_to_healthy_s: float = Field(description="Seconds from start to confirmed healthy.")
    status: int = Field(description="Status of the confirming probe.")


class RouteTrafficOutput(Frozen):
    host: str = Field(description="Environment host name.")
    deployment_host: str = Field(description="The deployment's own host name.")
    upstreams: tuple[str, ...] = Field(default=(), description="Upstreams routed.")
    static_root: str | None = Field(default=None, description="Static root routed.")
    traffic_seq: int = Field(description="Stream sequence of the TrafficSwitched event.")


class MarkCompleteOutput(Frozen):
    url: str = Field(description="Environment URL.")


class ArtifactOutput(Frozen):
    """Post-deploy jobs: stored objects and a one-line summary."""

    objects: tuple[str, ...] = Field(default=(), description="Object names stored.")
    summary: str = Field(default="", description="Human-readable summary.")
    details: dict[str, Any] = Field(default_factory=dict, description="Job-specific figures.")


OUTPUT_MODELS: dict[JobType, type[Frozen]] = {
    JobType.DOWNLOAD_REPO: DownloadRepoOutput,
    JobType.BUILD_IMAGE: BuildImageOutput,
    JobType.PULL_EXTERNAL_IMAGE: ImageOutput,
    JobType.VERIFY_LOCAL_IMAGE: ImageOutput,
    JobType.DEPLOY_IMAGE: DeployImageOutput,
    JobType.DEPLOY_STATIC: DeployStaticOutput,
    JobType.DEPLOY_STATIC_BUNDLE: DeployStaticOutput,
    JobType.HEALTH_CHECK: HealthCheckOutput,
    JobType.ROUTE_TRAFFIC: RouteTrafficOutput,
    JobType.MARK_DEPLOYMENT_COMPLETE: MarkCompleteOutput,
    JobType.CONFIGURE_CRONS: ArtifactOutput,
    JobType.TAKE_SCREENSHOT: ArtifactOutput,
    JobType.SCAN_VULNERABILITIES: ArtifactOutput,
    JobType.CAPTURE_SOURCE_MAPS: ArtifactOutput,
}


def parse_output(job_type: JobType, output: dict[str, Any]) -> Frozen:
    return OUTPUT_MODELS[job_type].model_validate(output)
