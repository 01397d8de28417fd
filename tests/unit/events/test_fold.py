"""Directed cases of the fold: each names one behaviour the properties also cover at random."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import Envelope, new_event
from libs.events.fold import Recorded, fold, fold_deployment, fold_environment, fold_project
from libs.events.states import DeploymentStatus, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import DeploymentType, JobType, Preset
from tests.factories import Story, env_event

St = DeploymentStatus


def test_job_claim_marks_the_job_running_with_its_attempt_and_executor() -> None:
    state = Story().admit().start("pull").state
    job = state.jobs["pull"]
    assert (job.status, job.attempt, job.executor) == (JobStatus.RUNNING, 1, "h:1")
    assert state.status is St.RUNNING
    assert state.started_at is not None


def test_stale_attempt_result_after_a_takeover_is_ignored() -> None:
    story = Story().admit().start("pull").start("pull")  # lost holder: attempt 2 takes over
    story.add(ev.JobSucceeded(job_id="pull", attempt=1), job_id="pull", attempt=1)
    story.add(ev.JobFailed(job_id="pull", attempt=1, error="lost"), job_id="pull", attempt=1)
    job = story.state.jobs["pull"]
    assert (job.status, job.attempt) == (JobStatus.RUNNING, 2)
    assert story.succeed("pull").state.jobs["pull"].status is JobStatus.SUCCESS


def test_older_claim_arriving_late_does_not_take_the_job_back() -> None:
    story = Story().admit().start("pull").start("pull")
    data = ev.JobStarted(
        job_id="pull", job_type=JobType.PULL_EXTERNAL_IMAGE, attempt=1, executor="x"
    )
    story.add(data, job_id="pull", attempt=1)
    assert story.state.jobs["pull"].attempt == 2


@pytest.mark.parametrize("preset", list(Preset))
def test_build_success_appends_the_tail_its_output_names(preset: Preset) -> None:
    story = Story(kind=DeploymentType.GIT).admit().run("download").start("build")
    tail = plans.build_tail(preset)
    state = story.succeed("build", next_jobs=tail).state
    assert [j.id for j in state.ordered_jobs] == ["download", "build", *(j.id for j in tail)]
    assert all(state.jobs[j.id].segment == 0 for j in tail)


def test_resumed_deployed_app_is_deploying_until_it_reroutes() -> None:
    story = Story().admit().run("pull", "deploy", "health", "route", "complete")
    statuses = [story.add(ev.DeploymentPaused(by="tok")).state.status]
    story.add(ev.DeploymentResumed(by="tok", segment=plans.resume_segment(Preset.CONTAINER, 1)))
    statuses.append(story.state.status)
    assert story.state.segment == 1
    statuses.append(story.run("deploy-r1", "health-r1").state.status)
    statuses.append(story.run("route-r1").state.status)
    statuses.append(story.run("complete-r1").state.status)
    assert statuses == [St.PAUSED, St.DEPLOYING, St.DEPLOYING, St.READY, St.COMPLETED]


def test_required_failure_fails_and_reads_every_unfinished_job_cancelled() -> None:
    state = Story().admit().run("pull").start("deploy").fail("deploy", "no space").state
    assert state.status is St.FAILED
    assert state.end_reason == "DeployImageJob failed: no space"
    wire = {j.id: state.job_status(j).value for j in state.ordered_jobs}
    assert wire == {
        "pull": "success",
        "deploy": "failure",
        "health": "cancelled",
        "route": "cancelled",
        "complete": "cancelled",
        "screenshot": "cancelled",
        "scan": "cancelled",
    }


def test_optional_failure_after_mark_complete_keeps_the_deployment_completed() -> None:
    story = Story().admit().run("pull", "deploy", "health", "route", "complete")
    state = story.start("scan").fail("scan").state
    assert state.status is St.COMPLETED
    assert state.jobs["scan"].status is JobStatus.FAILURE


def test_first_end_wins_and_later_ends_are_ignored() -> None:
    story = Story().admit().start("pull")
    story.add(ev.DeploymentCancelled(reason="by user", by="tok"))
    story.add(ev.DeploymentStopped(reason="late", by="deploy"))
    story.fail("pull")
    state = story.state
    assert (state.status, state.end_reason, state.end_by) == (St.CANCELLED, "by user", "tok")


def test_fold_of_no_events_needs_an_initial_state() -> None:
    with pytest.raises(ValueError, match="initial state"):
        fold([])


def test_recorded_events_leave_their_sequence_and_hash_on_the_state() -> None:
    story = Story().admit()
    recorded = []
    prev = None
    for seq, event in zip((3, 8), story.events, strict=True):
        linked, raw = event.sealed(prev)
        recorded.append(Recorded(seq, datetime.now(UTC), raw, linked))
        prev = linked.hash
    state = fold_deployment(recorded, "dep1")
    assert (state.version, state.last_seq, state.last_hash) == (2, 8, prev)


def test_traffic_switch_of_an_unadmitted_deployment_keeps_its_admission_sequence() -> None:
    switch = ev.TrafficSwitched(mode="deployment", deployment_id="old", admission_seq=7)
    state = fold_environment([env_event("app_prod", switch)], "app_prod")
    assert state.route is not None
    assert state.route.admission_number == 7


def test_project_registers_once_and_updates_only_what_is_given() -> None:
    def event(data: ev.ProjectRegistered | ev.ProjectUpdated) -> Envelope:
        return new_event(
            data, aggregate=Aggregate.PROJECT, aggregate_id="app", causation_id="c", actor="gw"
        )

    state = fold_project(
        [
            event(
                ev.ProjectRegistered(name="app", repo_url="https://a", webhook_secret_revision=1)
            ),
            event(ev.ProjectRegistered(name="other", repo_url="https://b")),
            event(ev.ProjectUpdated(webhook_secret_revision=2)),
        ],
        "app",
    )
    assert (state.name, state.repo_url, state.webhook_secret_revision) == ("app", "https://a", 2)
    assert state.registered
