"""Properties of the environment fold over every history admission and the route fence allow."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events.fold import evolve, fold, fold_environment
from libs.events.states import EnvironmentState
from tests.unit.events.histories import (
    PROPERTY,
    EnvironmentHistory,
    bookkeeping_cleared,
    environment_histories,
    without,
)


@PROPERTY
@given(environment_histories())
def test_environment_fold_agrees_with_the_admission_model(h: EnvironmentHistory) -> None:
    state = fold_environment(h.events, h.environment_id)
    assert tuple(a.deployment_id for a in state.admitted) == h.admitted
    assert [a.number for a in state.admitted] == list(range(1, len(h.admitted) + 1))
    assert tuple(q[0] for q in state.queued) == h.queued
    assert state.ended == h.ended
    assert tuple(a.deployment_id for a in state.in_flight) == tuple(
        d for d in h.admitted if d not in h.ended
    )
    assert state.config is not None
    assert state.config.policy is h.policy
    assert state.last_seq == h.events[-1].seq
    if h.route is None:
        assert state.route is None
    else:
        assert state.route is not None
        mode, dep, upstreams, number, seq = h.route
        assert (state.route.mode, state.route.deployment_id) == (mode, dep)
        assert (state.route.upstreams, state.route.admission_number) == (upstreams, number)
        assert state.route.seq == seq


@PROPERTY
@given(environment_histories())
def test_queued_deployments_are_neither_admitted_nor_ended(h: EnvironmentHistory) -> None:
    state = EnvironmentState(id=h.environment_id)
    for recorded in h.events:
        state = evolve(state, recorded)
        queued = {q[0] for q in state.queued}
        assert not queued & {a.deployment_id for a in state.admitted}
        assert not queued & set(state.ended)


@PROPERTY
@given(environment_histories())
def test_first_outcome_of_a_deployment_is_kept(h: EnvironmentHistory) -> None:
    first: dict[str, str] = {}
    for recorded in h.events:
        if isinstance(recorded.envelope.data, ev.DeploymentEnded):
            first.setdefault(recorded.envelope.data.deployment_id, recorded.envelope.data.outcome)
    assert fold_environment(h.events, h.environment_id).ended == first


@PROPERTY
@given(environment_histories(), st.data())
def test_environment_fold_is_deterministic_incremental_and_a_reduce(
    h: EnvironmentHistory, data: st.DataObject
) -> None:
    initial = EnvironmentState(id=h.environment_id)
    whole = reduce(evolve, h.events, initial)
    from_first_event: object = fold(h.events)  # the state kind comes from the first event
    assert from_first_event == whole
    assert fold_environment(list(h.events), h.environment_id) == whole
    cut = data.draw(st.integers(0, len(h.events)), label="cut")
    assert fold(h.events[cut:], fold(h.events[:cut], initial)) == whole


@PROPERTY
@given(environment_histories())
def test_replayed_admissions_queues_and_endings_change_nothing(h: EnvironmentHistory) -> None:
    kept = without(h.events, h.ignorable)
    assert bookkeeping_cleared(fold_environment(kept, h.environment_id)) == bookkeeping_cleared(
        fold_environment(h.events, h.environment_id)
    )
