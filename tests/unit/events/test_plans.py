"""Plans (§4): the initial plan of every deployment type, build tails and resume segments."""

from __future__ import annotations

import itertools

import pytest

from libs.events import plans
from libs.events.values import DeploymentType, JobSpec, JobType, Preset

J = JobType
DT = DeploymentType

POST_CONTAINER = [
    J.CONFIGURE_CRONS,
    J.TAKE_SCREENSHOT,
    J.SCAN_VULNERABILITIES,
    J.CAPTURE_SOURCE_MAPS,
]
CONTAINER_RUN = [J.DEPLOY_IMAGE, J.HEALTH_CHECK, J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE]

# The table of §4: (type, rollback preset, build preset) -> required jobs, then optional jobs.
PLAN_TABLE: list[tuple[DeploymentType, Preset | None, Preset | None, list[JobType], list[JobType]]]
PLAN_TABLE = [
    (
        DT.GIT,
        None,
        Preset.CONTAINER,
        [J.DOWNLOAD_REPO, J.BUILD_IMAGE, *CONTAINER_RUN],
        POST_CONTAINER,
    ),
    (
        DT.GIT,
        None,
        Preset.STATIC,
        [
            J.DOWNLOAD_REPO,
            J.BUILD_IMAGE,
            J.DEPLOY_STATIC,
            J.ROUTE_TRAFFIC,
            J.MARK_DEPLOYMENT_COMPLETE,
        ],
        [J.TAKE_SCREENSHOT, J.CAPTURE_SOURCE_MAPS],
    ),
    (
        DT.MANUAL,
        None,
        Preset.CONTAINER,
        [J.DOWNLOAD_REPO, J.BUILD_IMAGE, *CONTAINER_RUN],
        POST_CONTAINER,
    ),
    (
        DT.IMAGE,
        None,
        None,
        [J.PULL_EXTERNAL_IMAGE, *CONTAINER_RUN],
        [J.TAKE_SCREENSHOT, J.SCAN_VULNERABILITIES],
    ),
    (
        DT.IMAGE_UPLOAD,
        None,
        None,
        [J.VERIFY_LOCAL_IMAGE, *CONTAINER_RUN],
        [J.TAKE_SCREENSHOT, J.SCAN_VULNERABILITIES],
    ),
    (
        DT.STATIC_BUNDLE,
        None,
        None,
        [J.DEPLOY_STATIC_BUNDLE, J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE],
        [J.TAKE_SCREENSHOT],
    ),
    (
        DT.ROLLBACK,
        Preset.CONTAINER,
        None,
        [J.VERIFY_LOCAL_IMAGE, *CONTAINER_RUN],
        [J.CONFIGURE_CRONS],
    ),
    (DT.ROLLBACK, Preset.STATIC, None, [J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE], []),
]


def full_plan(
    kind: DeploymentType, rollback: Preset | None, build: Preset | None
) -> tuple[JobSpec, ...]:
    """The initial plan plus the tail its build names, as the fold ends up with it."""
    initial = plans.initial_plan(kind, rollback_preset=rollback)
    if build is None:
        return initial
    return initial + plans.build_tail(build)


def table_id(row: tuple[object, ...]) -> str:
    kind, rollback, build = row[0], row[1], row[2]
    return "-".join(str(getattr(x, "value", x)) for x in (kind, rollback or build) if x)


@pytest.mark.parametrize("row", PLAN_TABLE, ids=table_id)
def test_plan_of_every_deployment_type_follows_the_architecture_table(
    row: tuple[DeploymentType, Preset | None, Preset | None, list[JobType], list[JobType]],
) -> None:
    kind, rollback, build, required, optional = row
    plan = full_plan(kind, rollback, build)
    assert [j.type for j in plan if not j.optional] == required
    assert [j.type for j in plan if j.optional] == optional


@pytest.mark.parametrize("row", PLAN_TABLE, ids=table_id)
def test_every_plan_has_unique_ids_and_known_earlier_dependencies(
    row: tuple[DeploymentType, Preset | None, Preset | None, list[JobType], list[JobType]],
) -> None:
    kind, rollback, build = row[0], row[1], row[2]
    initial = plans.initial_plan(kind, rollback_preset=rollback)
    plans.validate_plan(initial)
    if build is not None:
        plans.validate_plan(plans.build_tail(build), known=initial)
    plan = full_plan(kind, rollback, build)
    assert len({j.id for j in plan}) == len(plan)


@pytest.mark.parametrize("row", PLAN_TABLE, ids=table_id)
def test_only_jobs_after_mark_complete_are_optional(
    row: tuple[DeploymentType, Preset | None, Preset | None, list[JobType], list[JobType]],
) -> None:
    plan = full_plan(row[0], row[1], row[2])
    by_id = {j.id: j for j in plan}
    (complete,) = [j for j in plan if j.type is J.MARK_DEPLOYMENT_COMPLETE]

    def after_complete(job: JobSpec) -> bool:
        return any(d == complete.id or after_complete(by_id[d]) for d in job.depends_on)

    for job in plan:
        assert job.optional == after_complete(job), job.id
    required = [j for j in plan if not j.optional]
    assert required[-1] is complete
    # Required jobs form one chain, each waiting for the one before it.
    for before, job in itertools.pairwise(required):
        assert job.depends_on == (before.id,)


@pytest.mark.parametrize("preset", list(Preset))
def test_build_tail_starts_after_the_build_and_ends_with_optional_jobs(preset: Preset) -> None:
    initial = plans.initial_plan(DT.GIT)
    tail = plans.build_tail(preset)
    assert [j.type for j in initial] == [J.DOWNLOAD_REPO, J.BUILD_IMAGE]
    assert tail[0].depends_on == ("build",)
    assert plans.build_tail(preset, after="build-2")[0].depends_on == ("build-2",)
    first_deploy = J.DEPLOY_STATIC if preset is Preset.STATIC else J.DEPLOY_IMAGE
    assert tail[0].type is first_deploy


def test_rollback_without_a_preset_is_a_container_rollback() -> None:
    assert plans.initial_plan(DT.ROLLBACK) == plans.initial_plan(
        DT.ROLLBACK, rollback_preset=Preset.CONTAINER
    )


def test_unknown_deployment_type_has_no_plan() -> None:
    with pytest.raises(ValueError, match="no plan"):
        plans.initial_plan("carrier-pigeon")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("preset", "types"),
    [
        (Preset.CONTAINER, CONTAINER_RUN),
        (Preset.STATIC, [J.ROUTE_TRAFFIC, J.MARK_DEPLOYMENT_COMPLETE]),
    ],
)
def test_resume_segment_redeploys_and_retakes_the_route_under_new_ids(
    preset: Preset, types: list[JobType]
) -> None:
    plan = full_plan(DT.GIT, None, preset)
    first = plans.resume_segment(preset, 1)
    second = plans.resume_segment(preset, 2)
    assert [j.type for j in first] == types
    assert all(j.id.endswith("-r1") and not j.optional for j in first)
    assert first[0].depends_on == ()
    plans.validate_plan(first, known=plan)
    plans.validate_plan(second, known=plan + first)


def test_validate_plan_refuses_a_duplicate_id() -> None:
    job = JobSpec(id="build", type=J.BUILD_IMAGE)
    with pytest.raises(ValueError, match="duplicate job id 'build'"):
        plans.validate_plan([job, job])


def test_validate_plan_refuses_a_duplicate_of_a_known_job() -> None:
    known = plans.initial_plan(DT.GIT)
    with pytest.raises(ValueError, match="duplicate job id 'download'"):
        plans.validate_plan([JobSpec(id="download", type=J.DOWNLOAD_REPO)], known=known)


@pytest.mark.parametrize(
    "jobs",
    [
        [JobSpec(id="a", type=J.DEPLOY_IMAGE, depends_on=("ghost",))],
        [
            JobSpec(id="a", type=J.DEPLOY_IMAGE, depends_on=("b",)),
            JobSpec(id="b", type=J.HEALTH_CHECK),
        ],
        [JobSpec(id="a", type=J.DEPLOY_IMAGE, depends_on=("a",))],
    ],
    ids=["unknown", "later", "itself"],
)
def test_validate_plan_refuses_a_dependency_on_no_earlier_job(jobs: list[JobSpec]) -> None:
    with pytest.raises(ValueError, match="depends on unknown job"):
        plans.validate_plan(jobs)


def test_every_job_type_has_its_own_stable_id() -> None:
    assert set(plans.JOB_IDS) == set(JobType)
    assert len(set(plans.JOB_IDS.values())) == len(JobType)
