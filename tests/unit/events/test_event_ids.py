"""Deterministic event ids (§2): a retried decision gets the same id, any other input another."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events.envelope import make_event_id, new_event
from libs.events.subjects import Aggregate
from tests.unit.events.histories import PROPERTY

# Includes the separator and escape characters, the ones that could make two keys collide.
texts = st.text(alphabet="ab1|\\-é", min_size=1, max_size=6)
id_inputs = st.fixed_dictionaries(
    {
        "aggregate": st.sampled_from(Aggregate),
        "aggregate_id": texts,
        "event_type": texts,
        "causation_id": texts,
        "deployment_id": st.none() | texts,
        "job_id": st.none() | texts,
        "attempt": st.none() | st.integers(0, 12),
    }
)


def event_id(inputs: dict[str, Any]) -> str:
    return make_event_id(
        inputs["aggregate"],
        inputs["aggregate_id"],
        inputs["event_type"],
        causation_id=inputs["causation_id"],
        deployment_id=inputs["deployment_id"],
        job_id=inputs["job_id"],
        attempt=inputs["attempt"],
    )


@PROPERTY
@given(id_inputs)
def test_same_inputs_give_the_same_event_id(inputs: dict[str, Any]) -> None:
    assert event_id(inputs) == event_id(dict(inputs))


@PROPERTY
@given(id_inputs, id_inputs)
def test_different_inputs_give_different_event_ids(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert (event_id(a) == event_id(b)) == (a == b)


@PROPERTY
@given(id_inputs, st.data())
def test_changing_any_one_input_changes_the_event_id(
    inputs: dict[str, Any], data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(inputs)), label="changed input")
    other = data.draw(id_inputs.map(lambda d: d[key]).filter(lambda v: v != inputs[key]))
    assert event_id({**inputs, key: other}) != event_id(inputs)


def test_separator_inside_a_field_does_not_shift_the_fields_after_it() -> None:
    a = make_event_id(
        Aggregate.DEPLOYMENT, "d", "JobStarted", causation_id="c", deployment_id="d|j", job_id="x"
    )
    b = make_event_id(
        Aggregate.DEPLOYMENT, "d", "JobStarted", causation_id="c", deployment_id="d", job_id="j|x"
    )
    assert a != b


def test_event_ids_of_ordinary_inputs_are_stable_forever() -> None:
    # Pinned: a changed derivation would let a retried append slip past JetStream's dedupe.
    assert (
        make_event_id(
            Aggregate.DEPLOYMENT,
            "dep1",
            "JobSucceeded",
            causation_id="evt-9",
            deployment_id="dep1",
            job_id="build",
            attempt=2,
        )
        == "ce17e823-7b8c-5250-8d7e-79d4efcae364"
    )
    assert (
        make_event_id(Aggregate.ENVIRONMENT, "app_prod", "DeploymentAdmitted", causation_id="req-1")
        == "9af1e468-35a8-552d-8b60-aaf6a56d7ced"
    )


def test_new_event_derives_its_id_from_what_it_is_about() -> None:
    def claim(attempt: int, cause: str = "evt-1") -> str:
        return new_event(
            ev.JobStarted(job_id="build", job_type="BuildImageJob", attempt=attempt, executor="h"),
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id="dep1",
            causation_id=cause,
            actor="build",
            correlation_id="dep1",
            job_id="build",
            attempt=attempt,
        ).event_id

    assert claim(1) == claim(1)
    assert claim(1) != claim(2)
    assert claim(1) != claim(1, cause="evt-2")


def test_explicit_event_id_is_kept() -> None:
    event = new_event(
        ev.DeploymentPaused(by="tok"),
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id="dep1",
        causation_id="c",
        actor="gateway",
        event_id="given-id",
    )
    assert event.event_id == "given-id"
