"""Command rules beside the fold: pure answers of "yes" (None) or "why not" (a reason string)."""

from __future__ import annotations

from libs.events.states import (
    ENDED,
    DeploymentState,
    DeploymentStatus,
    JobState,
    JobStatus,
)
from libs.events.values import DeploymentType, JobType

St = DeploymentStatus

_SATISFIED = (JobStatus.SUCCESS, JobStatus.SKIPPED)


def runnable_jobs(state: DeploymentState) -> list[JobState]:
    """Rule 1: admitted, not paused or ended, dependencies satisfied, not started yet."""
    if not state.admitted or state.paused or state.ended is not None:
        return []
    out = []
    for job in state.ordered_jobs:
        if job.status is not JobStatus.PENDING:
            continue
        if all(
            (dep := state.jobs.get(d)) is not None and dep.status in _SATISFIED
            for d in job.depends_on
        ):
            out.append(job)
    return out


def may_run_job(state: DeploymentState, job_id: str) -> str | None:
    """Whether the job may start or continue now (self-fencing before irreversible steps)."""
    if state.ended is not None:
        return f"deployment {state.status.value}"
    if state.paused:
        return "deployment paused"
    if not state.admitted:
        return "deployment not admitted"
    if job_id not in state.jobs:
        return f"unknown job {job_id}"
    return None


def _status_not_in(state: DeploymentState, allowed: set[St], verb: str) -> str | None:
    if state.status in allowed:
        return None
    names = ", ".join(sorted(s.value for s in allowed))
    return f"cannot {verb} a {state.status.value} deployment (only {names})"


def can_cancel(state: DeploymentState) -> str | None:
    return _status_not_in(state, {St.PENDING, St.RUNNING}, "cancel")


def can_pause(state: DeploymentState) -> str | None:
    return _status_not_in(
        state, {St.PENDING, St.RUNNING, St.DEPLOYING, St.READY, St.COMPLETED}, "pause"
    )


def can_resume(state: DeploymentState) -> str | None:
    return _status_not_in(state, {St.PAUSED}, "resume")


def can_stop(state: DeploymentState) -> str | None:
    return _status_not_in(state, {St.DEPLOYING, St.READY, St.COMPLETED, St.PAUSED}, "stop")


def rollback_artifact(state: DeploymentState) -> tuple[str, str] | None:
    """("image", image id) or ("static", static object) a rollback would reuse."""
    for jt in (JobType.VERIFY_LOCAL_IMAGE, JobType.PULL_EXTERNAL_IMAGE, JobType.BUILD_IMAGE):
        out = state.output_of(jt)
        if out and out.get("image_id"):
            return ("image", str(out["image_id"]))
    for jt in (JobType.BUILD_IMAGE, JobType.DEPLOY_STATIC_BUNDLE, JobType.DEPLOY_STATIC):
        out = state.output_of(jt)
        if out and out.get("static_object"):
            return ("static", str(out["static_object"]))
    if state.deployment_type is DeploymentType.ROLLBACK:
        if state.source.image_id:
            return ("image", state.source.image_id)
        if state.source.static_object:
            return ("static", state.source.static_object)
    return None


def can_rollback_to(target: DeploymentState) -> str | None:
    why = _status_not_in(target, {St.READY, St.COMPLETED, St.STOPPED}, "roll back to")
    if why:
        return why
    if target.status is St.STOPPED and not target.routed:
        return "cannot roll back to a deployment that never served traffic"
    artifact = rollback_artifact(target)
    if artifact is None:
        return "the target has no image or static files to reuse"
    if artifact[0] in target.pruned:
        commit = target.source.commit_sha or target.source.image_ref or target.id
        what = "image" if artifact[0] == "image" else "static files"
        return f"{what} pruned — redeploy commit {commit}"
    return None


def outcome(state: DeploymentState) -> str | None:
    """completed, failed, cancelled or stopped once the deployment has ended (§7), else None."""
    status = state.status
    return status.value if status in ENDED else None
