"""Retention (§7): which images and static files to prune. Pure; the deploy service removes them
and records each removal with `ArtifactPruned`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from libs.events.outputs import BuildImageOutput, DeployStaticOutput, ImageOutput
from libs.events.states import DeploymentState, DeploymentStatus
from libs.events.values import JobType

Kind = Literal["image", "static"]


@dataclass(frozen=True)
class Artifacts:
    """One deployment as retention sees it."""

    deployment_id: str
    image_id: str | None = None
    static_root: str | None = None
    routed: bool = False  # the environment's current route names it (maintenance included)
    has_containers: bool = False
    active: bool = False  # not ended yet: it may still need its artifacts
    pruned: frozenset[str] = frozenset()  # kinds already pruned

    @property
    def protected(self) -> bool:
        return self.routed or self.has_containers or self.active

    def refs(self, *, include_pruned: bool = False) -> Iterable[tuple[Kind, str]]:
        if self.image_id and (include_pruned or "image" not in self.pruned):
            yield "image", self.image_id
        if self.static_root and (include_pruned or "static" not in self.pruned):
            yield "static", self.static_root


@dataclass(frozen=True)
class Prune:
    deployment_id: str
    kind: Kind
    ref: str


def to_prune(environments: Mapping[str, Sequence[Artifacts]], keep: int) -> list[Prune]:
    """Per environment (deployments oldest first), everything but the last `keep`, never one that
    is routed, has containers or is still running — and never an image or directory that a kept
    deployment shares (a rollback reuses its target's image; two environments may run one image)."""
    if keep < 0:
        raise ValueError(f"retention keep must be >= 0, got {keep}")
    kept: set[tuple[Kind, str]] = set()
    old: list[Artifacts] = []
    for deployments in environments.values():
        cut = max(len(deployments) - keep, 0)
        for n, d in enumerate(deployments):
            if n >= cut or d.protected:
                kept.update(d.refs(include_pruned=True))
            else:
                old.append(d)
    return [
        Prune(d.deployment_id, kind, ref)
        for d in old
        for kind, ref in d.refs()
        if (kind, ref) not in kept
    ]


def artifacts_of(state: DeploymentState, routed_deployment: str | None) -> Artifacts:
    """Retention's view of a folded deployment; `routed_deployment` is the environment route's."""
    image: str | None = None
    for job_type in (JobType.BUILD_IMAGE, JobType.PULL_EXTERNAL_IMAGE, JobType.VERIFY_LOCAL_IMAGE):
        out = state.output_of(job_type)
        if out is None:
            continue
        if job_type is JobType.BUILD_IMAGE:
            image = BuildImageOutput.model_validate(out).image_id
        else:
            image = ImageOutput.model_validate(out).image_id
        if image:
            break
    static: str | None = None
    for job_type in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE):
        out = state.output_of(job_type)
        if out is not None:
            static = DeployStaticOutput.model_validate(out).static_root
            break
    return Artifacts(
        deployment_id=state.id,
        image_id=image or state.source.image_id,
        static_root=static,
        routed=state.id == routed_deployment,
        has_containers=bool(state.containers),
        # Completed and no longer routed = superseded, its DeploymentStopped maybe not written yet.
        active=state.ended is None and state.status is not DeploymentStatus.COMPLETED,
        pruned=frozenset(state.pruned),
    )
