"""Container specs of a DeployImageJob attempt (§5, §7). Pure: the executor does the I/O."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from libs.containers.runtime import REPLICA_LABEL, ContainerSpec
from libs.events.config import SlipwayToml
from libs.events.hosts import short_id
from libs.events.outputs import BuildImageOutput, DownloadRepoOutput, ImageOutput
from libs.events.states import DeploymentState
from libs.events.values import ConfigSnapshot, JobType

DEFAULT_PORT = 3000
MANAGED_LABEL = "slipway.managed"
DEPLOYMENT_LABEL = "slipway.deployment"
JOB_LABEL = "slipway.job"
ATTEMPT_LABEL = "slipway.attempt"
PROJECT_LABEL = "slipway.project"
ENVIRONMENT_LABEL = "slipway.environment"

# Credentials Slipway itself uses; they live beside the variables and never reach an app.
NEVER_INJECTED = frozenset(
    {
        "SLIPWAY_GIT_TOKEN",
        "SLIPWAY_GIT_SSH_KEY",
        "SLIPWAY_REGISTRY_USER",
        "SLIPWAY_REGISTRY_PASSWORD",
    }
)
# Set by Slipway; a user variable of the same name is overridden so PORT always matches the
# port the proxy dials.
RESERVED = frozenset(
    {"PORT", "HOST", "SLIPWAY_DEPLOYMENT_ID", "SLIPWAY_ENVIRONMENT", "SLIPWAY_COMMIT_SHA"}
    | {"CRON_SECRET"}
)
_SHELL_SYNTAX = ("&&", "||", "|", ";", ">", "<", "$", "`", "*")


class DeployInputError(ValueError):
    """The deployment lacks what a DeployImageJob needs (e.g. no image)."""


@dataclass(frozen=True)
class DeployInput:
    """Everything a DeployImageJob attempt needs, gathered from the folded deployment."""

    deployment_id: str
    project: str
    environment: str
    job_id: str
    attempt: int
    image: str  # image id
    config: ConfigSnapshot
    variables: Mapping[str, str] = field(default_factory=dict)  # decrypted user variables
    cron_secret: str = ""
    commit_sha: str | None = None
    toml: SlipwayToml | None = None
    exposed_ports: tuple[int, ...] = ()
    network: str | None = None  # compose: join this network instead of publishing


def resolve_port(setting: int | None, toml: int | None, exposed: tuple[int, ...]) -> int:
    """Environment setting > slipway.toml > the image's lowest EXPOSEd port > 3000."""
    if setting:
        return setting
    if toml:
        return toml
    if exposed:
        return min(exposed)
    return DEFAULT_PORT


def resolve_replicas(setting: int, toml: int | None) -> int:
    # The environment's replicas always has a value (default 1), so 1 counts as "not set".
    if setting != 1:
        return setting
    return toml or setting


def container_name(
    project: str, environment: str, deployment_id: str, attempt: int, replica: int
) -> str:
    """`slipway-<project>-<env>-<short deployment>-a<attempt>-r<replica>`: unique per attempt."""
    return f"slipway-{project}-{environment}-{short_id(deployment_id)}-a{attempt}-r{replica}"


def attempt_labels(
    project: str, environment: str, deployment_id: str, job_id: str, attempt: int
) -> dict[str, str]:
    """The labels of one attempt's containers; also the filter that finds exactly them."""
    return {
        MANAGED_LABEL: "true",
        PROJECT_LABEL: project,
        ENVIRONMENT_LABEL: environment,
        DEPLOYMENT_LABEL: deployment_id,
        JOB_LABEL: job_id,
        ATTEMPT_LABEL: str(attempt),
    }


def start_command(command: str | None) -> tuple[str, ...] | None:
    """A start command override: exec form, or through `sh -c` when it uses shell syntax."""
    if command is None or not command.strip():
        return None
    if any(token in command for token in _SHELL_SYNTAX):
        return ("/bin/sh", "-c", command)
    try:
        return tuple(shlex.split(command))
    except ValueError as exc:
        raise DeployInputError(f"start command {command!r}: {exc}") from None


def container_env(inp: DeployInput, port: int) -> dict[str, str]:
    env = {k: v for k, v in inp.variables.items() if k not in NEVER_INJECTED and k not in RESERVED}
    env.update(
        {
            "PORT": str(port),
            "HOST": "0.0.0.0",
            "SLIPWAY_DEPLOYMENT_ID": inp.deployment_id,
            "SLIPWAY_ENVIRONMENT": inp.environment,
            "SLIPWAY_COMMIT_SHA": inp.commit_sha or "",
            "CRON_SECRET": inp.cron_secret,
        }
    )
    return env


def container_specs(inp: DeployInput) -> tuple[ContainerSpec, ...]:
    """One spec per replica, named and labelled by (deployment, attempt, replica)."""
    if inp.attempt < 1:
        raise DeployInputError(f"attempt must be >= 1, got {inp.attempt}")
    toml_deploy = inp.toml.deploy if inp.toml else None
    port = resolve_port(
        inp.config.port, toml_deploy.port if toml_deploy else None, inp.exposed_ports
    )
    replicas = resolve_replicas(inp.config.replicas, toml_deploy.replicas if toml_deploy else None)
    command = inp.config.command or (inp.toml.build.start if inp.toml else None)
    env = container_env(inp, port)
    labels = attempt_labels(
        inp.project, inp.environment, inp.deployment_id, inp.job_id, inp.attempt
    )
    return tuple(
        ContainerSpec(
            name=container_name(
                inp.project, inp.environment, inp.deployment_id, inp.attempt, replica
            ),
            image=inp.image,
            port=port,
            replica=replica,
            env=dict(env),
            labels={**labels, REPLICA_LABEL: str(replica)},
            command=start_command(command),
            cpu=inp.config.cpu,
            memory=inp.config.memory,
            network=inp.network,
        )
        for replica in range(replicas)
    )


_IMAGE_JOBS = (JobType.VERIFY_LOCAL_IMAGE, JobType.PULL_EXTERNAL_IMAGE)


def deploy_input(
    state: DeploymentState,
    job_id: str,
    attempt: int,
    *,
    variables: Mapping[str, str],
    cron_secret: str,
    network: str | None = None,
) -> DeployInput:
    """Gather a DeployInput from the folded deployment: image from the build, pull or verify
    output (a rollback's verify output carries the target's image), toml from the download."""
    image: str | None = None
    exposed: tuple[int, ...] = ()
    build = state.output_of(JobType.BUILD_IMAGE)
    if build is not None:
        built = BuildImageOutput.model_validate(build)
        image, exposed = built.image_id, built.exposed_ports
    for job_type in _IMAGE_JOBS:
        out = state.output_of(job_type)
        if image is None and out is not None:
            found = ImageOutput.model_validate(out)
            image, exposed = found.image_id, found.exposed_ports
    image = image or state.source.image_id
    if not image:
        raise DeployInputError(f"deployment {state.id} has no image to run")
    toml: SlipwayToml | None = None
    commit = state.source.commit_sha
    download = state.output_of(JobType.DOWNLOAD_REPO)
    if download is not None:
        repo = DownloadRepoOutput.model_validate(download)
        toml, commit = repo.slipway_toml, commit or repo.commit_sha
    return DeployInput(
        deployment_id=state.id,
        project=state.project,
        environment=state.environment,
        job_id=job_id,
        attempt=attempt,
        image=image,
        config=state.config,
        variables=variables,
        cron_secret=cron_secret,
        commit_sha=commit,
        toml=toml,
        exposed_ports=exposed,
        network=network,
    )
