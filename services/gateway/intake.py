"""What a deploy request becomes: its target environment, source and config snapshot.

Shared by the HTTP endpoints and the trigger subject, so both validate exactly alike. Errors are
problems (404 unknown project or environment, 422 invalid content).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from libs.events import catalog as ev
from libs.events.states import ProjectState
from libs.events.values import ConfigSnapshot, Source
from services.gateway.directory import Directory, EnvironmentView
from services.gateway.names import parse_image_reference
from services.gateway.problems import malformed, not_found, unprocessable
from services.gateway.schemas import check_branch, check_commit

_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Target:
    project: ProjectState
    environment: EnvironmentView

    @property
    def config(self) -> ev.EnvironmentConfigured:
        return self.environment.config


async def resolve_target(directory: Directory, project: str, environment: str) -> Target:
    await directory.sync()
    found = directory.project(project)
    if found is None:
        raise not_found(f"no project {project!r}")
    view = directory.environment(project, environment)
    if view is None:
        raise not_found(f"project {project!r} has no environment {environment!r}")
    return Target(found, view)


def snapshot(
    config: ev.EnvironmentConfigured, *, health_path: str | None = None, command: str | None = None
) -> ConfigSnapshot:
    """The environment's settings frozen into the deployment; variables by revision only."""
    return ConfigSnapshot(
        port=config.port,
        replicas=config.replicas,
        cpu=config.cpu,
        memory=config.memory,
        health_path=health_path or config.health_path,
        expected_status=config.expected_status,
        app_dir=config.app_dir,
        preset=config.preset,
        command=command,
        domain=config.domain,
        variables=dict(config.variables),
    )


def git_source(target: Target, branch: str | None, commit: str | None) -> Source:
    """A manual or triggered git deploy: the environment's branch head unless told otherwise."""
    try:
        branch = check_branch(branch) if branch is not None else target.config.branch
        commit = check_commit(commit) if commit is not None else None
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    if not target.project.repo_url:
        raise unprocessable(f"project {target.project.name!r} has no repo_url to deploy from")
    if branch is None and commit is None:
        raise unprocessable(
            f"environment {target.config.environment!r} tracks no branch; give a branch or commit"
        )
    return Source(repo_url=target.project.repo_url, branch=branch, commit_sha=commit)


def image_source(image_ref: str, pull: str | None) -> Source:
    """A registry image deploy; the reference must follow Docker's grammar (else 422)."""
    ref = parse_image_reference(image_ref)
    if pull not in (None, "missing", "always"):
        raise unprocessable(f"pull must be 'missing' or 'always', not {pull!r}")
    return Source(image_ref=str(ref), pull=pull or "missing")


def idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.match(value):
        raise malformed("Idempotency-Key must be 1-255 visible ASCII characters")
    return value


def request_id(key: str | None) -> str:
    """The causation id of a request: its Idempotency-Key, else a fresh one."""
    return key if key is not None else uuid.uuid4().hex
