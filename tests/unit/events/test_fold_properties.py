"""Properties of the deployment fold over every history the plans and command rules allow."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events.fold import evolve, fold, fold_deployment
from libs.events.rules import runnable_jobs
from libs.events.states import TERMINAL, DeploymentState, DeploymentStatus, JobStatus
from libs.events.values import JobType
from tests.unit.events.histories import (
    PROPERTY,
    DeploymentHistory,
    bookkeeping_cleared,
    deployment_histories,
    without,
)

St = DeploymentStatus


def walk(h: DeploymentHistory) -> list[DeploymentState]:
    """The state after each event, folded one event at a time."""
    states: list[DeploymentState] = []
    state = DeploymentState(id=h.deployment_id)
    for event in h.events:
        state = evolve(state, event)
        states.append(state)
    return states


@PROPERTY
@given(deployment_histories())
def test_fold_agrees_with_the_simulated_system_after_every_event(h: DeploymentHistory) -> None:
    for n, state in enumerate(walk(h)):
        assert isinstance(state.status, DeploymentStatus)
        assert state.status is h.statuses[n], f"after event #{n} ({h.events[n].type})"
        assert tuple(j.id for j in runnable_jobs(state)) == h.runnable[n]
        assert state.version == n + 1
    final = fold_deployment(h.events, h.deployment_id)
    assert {j.id: (j.status, j.attempt) for j in final.jobs.values()} == h.jobs
    assert final.segment == h.segment


@PROPERTY
@given(deployment_histories())
def test_fold_is_deterministic_and_equals_a_reduce_of_evolve(h: DeploymentHistory) -> None:
    reduced = reduce(evolve, h.events, DeploymentState(id=h.deployment_id))
    from_first_event: object = fold(h.events)  # the state kind comes from the first event
    assert from_first_event == reduced
    assert fold_deployment(h.events, h.deployment_id) == reduced
    assert fold_deployment(list(h.events), h.deployment_id) == reduced


@PROPERTY
@given(deployment_histories(), st.data())
def test_folding_a_prefix_then_the_rest_equals_folding_the_whole(
    h: DeploymentHistory, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(h.events)), label="cut")
    head = fold(h.events[:cut], DeploymentState(id=h.deployment_id))
    assert fold(h.events[cut:], head) == fold_deployment(h.events, h.deployment_id)


@PROPERTY
@given(deployment_histories())
def test_failed_cancelled_and_stopped_are_sticky(h: DeploymentHistory) -> None:
    ended: DeploymentStatus | None = None
    for state in walk(h):
        if ended is not None:
            assert state.status is ended
        elif state.status in TERMINAL:
            ended = state.status


@PROPERTY
@given(deployment_histories())
def test_cancelled_is_reached_only_from_pending_or_running(h: DeploymentHistory) -> None:
    before = St.PENDING
    for state in walk(h):
        if state.status is St.CANCELLED and before is not St.CANCELLED:
            assert before in (St.PENDING, St.RUNNING)
            assert not state.routed
        before = state.status


@PROPERTY
@given(deployment_histories())
def test_ended_deployment_shows_every_unfinished_job_cancelled(h: DeploymentHistory) -> None:
    state = fold(h.events)
    wire = {state.job_status(j) for j in state.jobs.values()}
    if state.status in TERMINAL:
        assert JobStatus.PENDING not in wire
        assert JobStatus.RUNNING not in wire
        for job in state.jobs.values():
            if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
                assert state.job_status(job) is JobStatus.CANCELLED
    else:
        assert all(state.job_status(j) is j.status for j in state.jobs.values())
    if state.status is St.FAILED:
        assert any(j.status is JobStatus.FAILURE and not j.optional for j in state.jobs.values())


@PROPERTY
@given(deployment_histories())
def test_completed_means_mark_complete_succeeded_in_the_latest_segment(
    h: DeploymentHistory,
) -> None:
    for state in walk(h):
        if state.status is St.COMPLETED:
            assert any(
                j.type is JobType.MARK_DEPLOYMENT_COMPLETE
                and j.segment == state.segment
                and j.status is JobStatus.SUCCESS
                for j in state.jobs.values()
            )
        if state.status in (St.READY, St.COMPLETED):
            assert state.routed


@PROPERTY
@given(deployment_histories())
def test_optional_job_failure_never_fails_the_deployment(h: DeploymentHistory) -> None:
    states = walk(h)
    for n, event in enumerate(h.events):
        if not isinstance(event.data, ev.JobFailed):
            continue
        job = states[n].jobs[event.data.job_id]
        before = states[n - 1].status
        if job.optional:
            assert states[n].status is before


@PROPERTY
@given(deployment_histories())
def test_stale_results_and_commands_after_the_end_change_nothing(h: DeploymentHistory) -> None:
    kept = without(h.events, h.ignorable)
    whole = fold_deployment(h.events, h.deployment_id)
    assert bookkeeping_cleared(fold_deployment(kept, h.deployment_id)) == bookkeeping_cleared(whole)


@PROPERTY
@given(deployment_histories())
def test_every_event_of_a_history_has_its_own_id(h: DeploymentHistory) -> None:
    ids = [e.event_id for e in h.events]
    assert len(set(ids)) == len(ids)
