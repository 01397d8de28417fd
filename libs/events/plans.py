"""Plans (§4): the initial job list of each deployment type, and the tails a build names."""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.values import DeploymentType, JobSpec, JobType, Preset

J = JobType

# Stable job ids: short, unique in a deployment, readable in logs and URLs.
JOB_IDS: dict[JobType, str] = {
    J.DOWNLOAD_REPO: "download",
    J.BUILD_IMAGE: "build",
    J.PULL_EXTERNAL_IMAGE: "pull",
    J.VERIFY_LOCAL_IMAGE: "verify",
    J.DEPLOY_IMAGE: "deploy",
    J.DEPLOY_STATIC: "deploy-static",
    J.DEPLOY_STATIC_BUNDLE: "deploy-bundle",
    J.HEALTH_CHECK: "health",
    J.ROUTE_TRAFFIC: "route",
    J.MARK_DEPLOYMENT_COMPLETE: "complete",
    J.CONFIGURE_CRONS: "crons",
    J.TAKE_SCREENSHOT: "screenshot",
    J.SCAN_VULNERABILITIES: "scan",
    J.CAPTURE_SOURCE_MAPS: "sourcemaps",
}


def chain(
    required: Sequence[JobType],
    optional: Sequence[JobType] = (),
    *,
    after: str | None = None,
    suffix: str = "",
) -> tuple[JobSpec, ...]:
    """A linear chain of required jobs, then optional jobs that each depend on the last one."""
    jobs: list[JobSpec] = []
    prev = after
    for jt in required:
        jid = JOB_IDS[jt] + suffix
        jobs.append(JobSpec(id=jid, type=jt, depends_on=(prev,) if prev else ()))
        prev = jid
    for jt in optional:
        jobs.append(
            JobSpec(
                id=JOB_IDS[jt] + suffix,
                type=jt,
                depends_on=(prev,) if prev else (),
                optional=True,
            )
        )
    return tuple(jobs)


CONTAINER_RUN = (J.DEPLOY_IMAGE, J.HEALTH_CHECK, J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE)


def build_tail(preset: Preset, *, after: str = "build") -> tuple[JobSpec, ...]:
    """The jobs a build's output names as `next_jobs` for its preset."""
    if preset is Preset.STATIC:
        return chain(
            (J.DEPLOY_STATIC, J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE),
            (J.TAKE_SCREENSHOT, J.CAPTURE_SOURCE_MAPS),
            after=after,
        )
    return chain(
        CONTAINER_RUN,
        (J.CONFIGURE_CRONS, J.TAKE_SCREENSHOT, J.SCAN_VULNERABILITIES, J.CAPTURE_SOURCE_MAPS),
        after=after,
    )


def initial_plan(
    kind: DeploymentType, *, rollback_preset: Preset | None = None
) -> tuple[JobSpec, ...]:
    """The initial plan of a deployment type; a git plan grows by the build's `next_jobs`."""
    if kind in (DeploymentType.GIT, DeploymentType.MANUAL):
        return chain((J.DOWNLOAD_REPO, J.BUILD_IMAGE))
    if kind is DeploymentType.IMAGE:
        return chain(
            (J.PULL_EXTERNAL_IMAGE, *CONTAINER_RUN), (J.TAKE_SCREENSHOT, J.SCAN_VULNERABILITIES)
        )
    if kind is DeploymentType.IMAGE_UPLOAD:
        return chain(
            (J.VERIFY_LOCAL_IMAGE, *CONTAINER_RUN), (J.TAKE_SCREENSHOT, J.SCAN_VULNERABILITIES)
        )
    if kind is DeploymentType.STATIC_BUNDLE:
        return chain(
            (J.DEPLOY_STATIC_BUNDLE, J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE),
            (J.TAKE_SCREENSHOT,),
        )
    if kind is DeploymentType.ROLLBACK:
        if rollback_preset is Preset.STATIC:
            return chain((J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE))
        return chain((J.VERIFY_LOCAL_IMAGE, *CONTAINER_RUN), (J.CONFIGURE_CRONS,))
    raise ValueError(f"no plan for deployment type {kind!r}")


def resume_segment(preset: Preset, segment_no: int) -> tuple[JobSpec, ...]:
    """Jobs a resume adds to a paused, already deployed app: start again, then retake the route."""
    suffix = f"-r{segment_no}"
    if preset is Preset.STATIC:
        return chain((J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE), suffix=suffix)
    return chain(CONTAINER_RUN, suffix=suffix)


def validate_plan(jobs: Sequence[JobSpec], known: Sequence[JobSpec] = ()) -> None:
    """Unique ids; every dependency names an earlier or known job. Raises ValueError."""
    seen = {j.id for j in known}
    for job in jobs:
        if job.id in seen:
            raise ValueError(f"duplicate job id {job.id!r}")
        missing = [d for d in job.depends_on if d not in seen]
        if missing:
            raise ValueError(f"job {job.id!r} depends on unknown job(s) {missing}")
        seen.add(job.id)
