"""Command rules beside the fold: each answers yes (None) or why not, and what may run next."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from libs.events import catalog as ev
from libs.events import plans, rules
from libs.events.states import DeploymentState, DeploymentStatus
from libs.events.values import DeploymentType, JobSpec, JobType, Preset
from tests.factories import Story

St = DeploymentStatus
IMAGE_ID = {"image_id": "sha256:abc"}


def pending() -> Story:
    return Story()


def running() -> Story:
    return Story().admit().start("pull")


def deploying() -> Story:
    return Story().admit().run("pull").start("deploy")


def ready() -> Story:
    s = Story().admit().start("pull").succeed("pull", IMAGE_ID)
    return s.run("deploy", "health", "route")


def completed() -> Story:
    return ready().run("complete")


def paused() -> Story:
    return ready().add(ev.DeploymentPaused(by="tok"))


def failed() -> Story:
    return running().fail("pull")


def cancelled() -> Story:
    return running().add(ev.DeploymentCancelled(reason="by user", by="tok"))


def stopped() -> Story:
    return completed().add(ev.DeploymentStopped(reason="superseded by dep2", by="deploy"))


STORIES: dict[DeploymentStatus, Callable[[], Story]] = {
    St.PENDING: pending,
    St.RUNNING: running,
    St.DEPLOYING: deploying,
    St.READY: ready,
    St.COMPLETED: completed,
    St.PAUSED: paused,
    St.FAILED: failed,
    St.CANCELLED: cancelled,
    St.STOPPED: stopped,
}

RULES = {
    "cancel": (rules.can_cancel, {St.PENDING, St.RUNNING}),
    "pause": (rules.can_pause, {St.PENDING, St.RUNNING, St.DEPLOYING, St.READY, St.COMPLETED}),
    "resume": (rules.can_resume, {St.PAUSED}),
    "stop": (rules.can_stop, {St.DEPLOYING, St.READY, St.COMPLETED, St.PAUSED}),
}


@pytest.mark.parametrize("status", list(St))
def test_story_builders_reach_the_status_they_are_named_after(status: DeploymentStatus) -> None:
    assert STORIES[status]().state.status is status


@pytest.mark.parametrize("verb", list(RULES))
@pytest.mark.parametrize("status", list(St))
def test_command_rule_says_yes_or_why_not_for_every_status(
    verb: str, status: DeploymentStatus
) -> None:
    rule, allowed = RULES[verb]
    answer = rule(STORIES[status]().state)
    if status in allowed:
        assert answer is None
    else:
        assert answer is not None
        assert answer.startswith(f"cannot {verb} a {status.value} deployment (only ")
        for name in allowed:
            assert name.value in answer


def static_rollback() -> Story:
    plan = plans.initial_plan(DeploymentType.ROLLBACK, rollback_preset=Preset.STATIC)
    return Story(kind=DeploymentType.ROLLBACK, plan=plan).admit()


def test_static_rollback_cannot_be_cancelled_once_its_route_claim_started() -> None:
    story = static_rollback()
    assert rules.can_cancel(story.state) is None
    state = story.start("route").state
    assert state.status is St.DEPLOYING
    assert rules.can_cancel(state) is not None
    assert rules.can_stop(state) is None


def test_static_rollback_goes_ready_then_completed() -> None:
    story = static_rollback().run("route")
    assert story.state.status is St.READY
    assert story.run("complete").state.status is St.COMPLETED


# ---------------------------------------------------------------- rollback


@pytest.mark.parametrize("status", [St.READY, St.COMPLETED, St.STOPPED])
def test_rollback_to_a_deployment_that_served_traffic_is_allowed(status: DeploymentStatus) -> None:
    target = STORIES[status]().state
    assert rules.can_rollback_to(target) is None
    assert rules.rollback_artifact(target) == ("image", "sha256:abc")


@pytest.mark.parametrize("status", [St.PENDING, St.RUNNING, St.DEPLOYING, St.PAUSED, St.FAILED])
def test_rollback_to_a_deployment_that_never_finished_is_refused(
    status: DeploymentStatus,
) -> None:
    answer = rules.can_rollback_to(STORIES[status]().state)
    assert answer is not None
    assert answer.startswith(f"cannot roll back to a {status.value} deployment")


def test_rollback_to_a_deployment_stopped_before_it_served_is_refused() -> None:
    refused = deploying().add(ev.DeploymentStopped(reason="superseded by dep2", by="routing"))
    assert rules.can_rollback_to(refused.state) == (
        "cannot roll back to a deployment that never served traffic"
    )


def test_rollback_to_a_pruned_image_names_the_commit_to_redeploy() -> None:
    story = Story(kind=DeploymentType.GIT, commit="c0ffee").admit().run("download")
    story.start("build").succeed(
        "build", {"image_id": "sha256:abc"}, next_jobs=plans.build_tail(Preset.CONTAINER)
    )
    story.run("deploy", "health", "route", "complete")
    assert rules.can_rollback_to(story.state) is None
    story.add(ev.ArtifactPruned(kind="image", ref="sha256:abc"))
    assert rules.can_rollback_to(story.state) == "image pruned — redeploy commit c0ffee"


def test_rollback_to_a_deployment_without_an_image_or_files_is_refused() -> None:
    story = Story().admit().run("pull", "deploy", "health", "route")  # outputs left empty
    assert rules.can_rollback_to(story.state) == "the target has no image or static files to reuse"


def test_static_git_deployment_rolls_back_to_its_static_files() -> None:
    story = Story(kind=DeploymentType.GIT).admit().run("download").start("build")
    story.succeed(
        "build", {"static_object": "static/x.tar"}, next_jobs=plans.build_tail(Preset.STATIC)
    )
    story.run("deploy-static", "route")
    assert rules.rollback_artifact(story.state) == ("static", "static/x.tar")
    story.add(ev.ArtifactPruned(kind="static", ref="static/x.tar"))
    assert (
        rules.can_rollback_to(story.state) == "static files pruned — redeploy commit example/app:1"
    )


def test_rollback_of_a_rollback_reuses_the_artifact_of_its_source() -> None:
    plan = plans.initial_plan(DeploymentType.ROLLBACK, rollback_preset=Preset.STATIC)
    story = Story(kind=DeploymentType.ROLLBACK, plan=plan).admit().run("route")
    state = story.state
    assert rules.rollback_artifact(state) is None  # the factory's source names no static object
    with_source = DeploymentState(
        id=state.id,
        deployment_type=DeploymentType.ROLLBACK,
        source=state.source.model_copy(update={"static_object": "static/old.tar"}),
    )
    assert rules.rollback_artifact(with_source) == ("static", "static/old.tar")


# ---------------------------------------------------------------- running jobs


def ids(state: DeploymentState) -> list[str]:
    return [j.id for j in rules.runnable_jobs(state)]


def test_nothing_runs_before_admission() -> None:
    assert ids(Story().state) == []


def test_admitted_deployment_runs_its_first_job_then_each_next_in_order() -> None:
    story = Story().admit()
    assert ids(story.state) == ["pull"]
    assert ids(story.start("pull").state) == []
    assert ids(story.succeed("pull").state) == ["deploy"]


def test_post_deploy_jobs_all_run_after_mark_complete_even_once_completed() -> None:
    state = completed().state
    assert state.status is St.COMPLETED
    assert ids(state) == ["screenshot", "scan"]


@pytest.mark.parametrize("story", [paused, failed, cancelled, stopped])
def test_nothing_runs_in_a_paused_or_ended_deployment(story: Callable[[], Story]) -> None:
    assert ids(story().state) == []


def test_skipped_dependency_counts_as_satisfied() -> None:
    plan = (
        JobSpec(id="a", type=JobType.TAKE_SCREENSHOT, optional=True),
        JobSpec(id="b", type=JobType.CAPTURE_SOURCE_MAPS, depends_on=("a",), optional=True),
    )
    story = Story(plan=plan).admit().skip("a")
    assert ids(story.state) == ["b"]


def test_failed_optional_dependency_blocks_its_dependents_without_failing() -> None:
    plan = (
        JobSpec(id="a", type=JobType.TAKE_SCREENSHOT, optional=True),
        JobSpec(id="b", type=JobType.CAPTURE_SOURCE_MAPS, depends_on=("a",), optional=True),
    )
    state = Story(plan=plan).admit().start("a").fail("a").state
    assert ids(state) == []
    assert state.ended is None


def test_may_run_job_answers_why_not() -> None:
    assert rules.may_run_job(Story().state, "pull") == "deployment not admitted"
    assert rules.may_run_job(running().state, "pull") is None
    assert rules.may_run_job(running().state, "ghost") == "unknown job ghost"
    assert rules.may_run_job(paused().state, "complete") == "deployment paused"
    assert rules.may_run_job(cancelled().state, "pull") == "deployment cancelled"


@pytest.mark.parametrize("status", list(St))
def test_outcome_is_reported_only_for_ended_deployments(status: DeploymentStatus) -> None:
    ended = {St.COMPLETED, St.FAILED, St.CANCELLED, St.STOPPED}
    expected = status.value if status in ended else None
    assert rules.outcome(STORIES[status]().state) == expected
