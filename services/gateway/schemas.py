"""Request bodies of the gateway API (§10 wire shapes), validated before anything is appended."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.events.values import AdmissionPolicy
from services.gateway.names import validate_environment_name

_MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_BRANCH_BAD = re.compile(r"(^[-/.])|(\.\.)|[\x00-\x20~^:?*\[\\\x7f]|(/$)|(\.lock$)|(@\{)")
_COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")


def check_branch(value: str) -> str:
    """Git's refname rules (`git check-ref-format`), the parts a user can get wrong."""
    if not value or len(value) > 255 or _BRANCH_BAD.search(value):
        raise ValueError(f"{value[:60]!r} is not a valid branch name")
    return value


def check_commit(value: str) -> str:
    if not _COMMIT_RE.match(value):
        raise ValueError("commit must be 7 to 64 lower-case hex digits")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmptyIn(_Body):
    """`{}`: the commands on a deployment take no parameters."""


class EnvironmentSettings(_Body):
    """The settings of an environment (`PUT …/environments/{env}` replaces all of them)."""

    branch: str | None = Field(default=None, description="Branch it tracks (pushes deploy).")
    tags: bool = Field(default=False, description="Tag pushes deploy too.")
    auto_deploy: bool = Field(default=True, description="Deploy on push.")
    policy: AdmissionPolicy = Field(default=AdmissionPolicy.SUPERSEDE, description="Admission.")
    health_path: str = Field(default="/", max_length=1024, description="Health probe path.")
    expected_status: int | None = Field(default=None, ge=100, le=599)
    port: int | None = Field(default=None, ge=1, le=65535)
    replicas: int = Field(default=1, ge=1, le=32)
    cpu: float | None = Field(default=None, gt=0, le=256)
    memory: str | None = Field(default=None, description="e.g. 512m, 1g.")
    app_dir: str | None = Field(default=None, max_length=1024, description="Monorepo sub-dir.")
    preset: str | None = Field(default=None, max_length=64)
    domain: str | None = Field(default=None, description="Extra custom domain.")

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return None if value is None else check_branch(value)

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError("health_path must start with '/' and contain no white space")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY_RE.match(value):
            raise ValueError("memory must be a number with an optional unit b, k, m or g")
        return value

    @field_validator("app_dir")
    @classmethod
    def _app_dir(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.strip("/").split("/")
        if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError("app_dir must be a relative path inside the repository")
        return "/".join(parts)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not _HOST_RE.match(value):
            raise ValueError("domain must be a lower-case host name such as app.example.com")
        return value


class EnvironmentIn(EnvironmentSettings):
    name: str = Field(description="Environment name: a DNS label not starting with d-.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_environment_name(value)


class ProjectIn(_Body):
    """`POST /api/projects`."""

    name: str = Field(description="Project name: a lower-case DNS label.")
    repo_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=1, max_length=1024)
    environments: list[EnvironmentIn] = Field(default_factory=list, max_length=64)


class VariablesIn(_Body):
    """`PUT …/variables` (replace all) and `PATCH …/variables` (merge; null removes a name)."""

    variables: dict[str, Annotated[str, Field(max_length=64 * 1024)] | None] = Field(
        description="Name -> value; values are stored encrypted and never returned."
    )


class ManualDeployIn(_Body):
    """`POST …/deployments`: the environment's branch head unless told otherwise."""

    branch: str | None = None
    commit: str | None = None

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return None if value is None else check_branch(value)

    @field_validator("commit")
    @classmethod
    def _commit(cls, value: str | None) -> str | None:
        return None if value is None else check_commit(value)


class ImageDeployIn(_Body):
    """`POST …/deploy/image`."""

    image_ref: str = Field(max_length=1024)
    pull: Literal["missing", "always"] = "missing"
    health_path: str | None = Field(default=None, max_length=1024)
    command: str | None = Field(default=None, max_length=4096)

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or any(c.isspace() for c in value)):
            raise ValueError("health_path must start with '/' and contain no white space")
        return value
