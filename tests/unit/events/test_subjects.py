"""Subjects, keys and object names: built in one place, and bad tokens refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.events import subjects
from libs.events.subjects import Aggregate, ObjectPrefix
from tests.unit.events.histories import PROPERTY

tokens = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=".*> \t\r\n\f\x00"),
    min_size=1,
    max_size=20,
)
BAD_TOKENS = ["", "a.b", "*", "a*", ">", "a>b", "a b", "a\tb", "a\rb", "a\nb", "a\fb", "a\x00b"]


@PROPERTY
@given(st.sampled_from(Aggregate), tokens, tokens)
def test_event_subject_parses_back_to_its_parts(
    aggregate: Aggregate, aggregate_id: str, event_type: str
) -> None:
    subject = subjects.event_subject(aggregate, aggregate_id, event_type)
    assert subjects.parse_event_subject(subject) == (aggregate, aggregate_id, event_type)


def test_subjects_have_the_documented_shapes() -> None:
    dep = Aggregate.DEPLOYMENT
    assert subjects.event_subject(dep, "d1", "JobStarted") == "events.deployment.d1.JobStarted"
    assert subjects.aggregate_filter(dep, "d1") == "events.deployment.d1.*"
    assert subjects.aggregate_kind_filter(Aggregate.PROJECT) == "events.project.*.*"
    assert subjects.events_of_type("TrafficSwitched") == "events.*.*.TrafficSwitched"
    assert subjects.job_log_subject("d1", "build") == "logs.d1.build"
    assert subjects.deployment_logs_filter("d1") == "logs.d1.*"
    assert subjects.environment_log_subject("app_prod") == "logs.env.app_prod"
    assert subjects.trigger_result_subject("t1") == "triggers.results.t1"
    assert subjects.secret_key("app", "prod", "DATABASE_URL") == "app.prod.DATABASE_URL"
    assert subjects.lease_key("d1", "build") == "d1.build"
    assert subjects.environment_id("app", "prod") == "app_prod"
    assert subjects.object_name(ObjectPrefix.SOURCES, "d1", "src.tar") == "sources/d1/src.tar"


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_every_subject_builder_refuses_a_bad_token(bad: str) -> None:
    builders: list[Callable[[], str]] = [
        lambda: subjects.event_subject(Aggregate.DEPLOYMENT, bad, "JobStarted"),
        lambda: subjects.event_subject(Aggregate.DEPLOYMENT, "d1", bad),
        lambda: subjects.aggregate_filter(Aggregate.ENVIRONMENT, bad),
        lambda: subjects.events_of_type(bad),
        lambda: subjects.job_log_subject(bad, "build"),
        lambda: subjects.job_log_subject("d1", bad),
        lambda: subjects.deployment_logs_filter(bad),
        lambda: subjects.environment_log_subject(bad),
        lambda: subjects.trigger_result_subject(bad),
        lambda: subjects.secret_key("app", "prod", bad),
        lambda: subjects.lease_key(bad, "build"),
        lambda: subjects.environment_id(bad, "prod"),
    ]
    for build in builders:
        with pytest.raises(ValueError, match="not a valid subject token"):
            build()


@pytest.mark.parametrize(
    "subject",
    [
        "logs.d1.build",
        "events.deployment.d1",
        "events.deployment.d1.JobStarted.extra",
        "events.galaxy.d1.JobStarted",
        "events.deployment..JobStarted",
        "events.deployment.d1.",
    ],
)
def test_parse_event_subject_refuses_what_is_not_an_event_subject(subject: str) -> None:
    with pytest.raises(ValueError):
        subjects.parse_event_subject(subject)
