"""Older stored events verify as stored and decode upcast; unknown ones are refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events import encoding
from libs.events.catalog import ALL_EVENTS
from libs.events.encoding import verify_bytes, verify_chain
from libs.events.envelope import new_event
from libs.events.fold import fold_environment
from libs.events.registry import EVENT_TYPES, UnknownEvent, decode, upcast
from libs.events.subjects import Aggregate
from tests.unit.events.histories import PROPERTY

upstreams = st.builds(
    "{}:{}".format,
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    st.integers(1, 65535),
)


def stored_v1_traffic_switched(
    upstream: str | None, *, prev_hash: str | None = None, mode: str = "deployment"
) -> bytes:
    """The bytes a v1 writer stored: one `upstream` string, schema_version 1."""
    obj: dict[str, Any] = {
        "event_id": "7a0c9d0e-0000-5000-8000-000000000001",
        "type": "TrafficSwitched",
        "schema_version": 1,
        "aggregate": "environment",
        "aggregate_id": "app_prod",
        "occurred_at": "2025-06-01T12:00:00.000000Z",
        "correlation_id": "dep1",
        "causation_id": "cause-1",
        "actor": "routing",
        "encoding": 1,
        "prev_hash": prev_hash,
        "data": {
            "mode": mode,
            "deployment_id": "dep1",
            "upstream": upstream,
            "static_root": None,
            "admission_seq": 3,
            "job_id": "route",
        },
    }
    return encoding.seal(obj)


@PROPERTY
@given(upstreams)
def test_v1_traffic_switched_verifies_as_stored_and_decodes_as_v2(upstream: str) -> None:
    raw = stored_v1_traffic_switched(upstream)
    stored = verify_bytes(raw)
    assert stored["schema_version"] == 1
    assert verify_chain([(1, raw)]) == 1

    envelope = decode(raw)
    assert envelope.schema_version == 2
    assert isinstance(envelope.data, ev.TrafficSwitched)
    assert envelope.data.upstreams == (upstream,)
    assert not hasattr(envelope.data, "upstream")
    assert envelope.hash == stored["hash"]  # the stored hash, not one of the upcast payload


def test_v1_maintenance_switch_without_upstream_decodes_with_no_upstreams() -> None:
    envelope = decode(stored_v1_traffic_switched(None, mode="maintenance"))
    assert isinstance(envelope.data, ev.TrafficSwitched)
    assert envelope.data.upstreams == ()


def test_chain_of_v1_then_v2_events_verifies_and_folds_to_the_latest_route() -> None:
    old = stored_v1_traffic_switched("10.0.0.5:3000")
    newer = new_event(
        ev.TrafficSwitched(mode="deployment", deployment_id="dep2", upstreams=("10.0.0.6:3000",)),
        aggregate=Aggregate.ENVIRONMENT,
        aggregate_id="app_prod",
        causation_id="cause-2",
        actor="routing",
    )
    _, raw2 = newer.sealed(verify_bytes(old)["hash"])
    assert verify_chain([(1, old), (2, raw2)]) == 2

    first_only = fold_environment([decode(old)], "app_prod")
    assert first_only.route is not None
    assert first_only.route.upstreams == ("10.0.0.5:3000",)
    both = fold_environment([decode(old), decode(raw2)], "app_prod")
    assert both.route is not None
    assert both.route.upstreams == ("10.0.0.6:3000",)


def _sealed(event_type: str, version: int, data: dict[str, Any]) -> bytes:
    return encoding.seal(
        {
            "event_id": "e",
            "type": event_type,
            "schema_version": version,
            "aggregate": "deployment",
            "aggregate_id": "dep1",
            "occurred_at": "2025-06-01T12:00:00.000000Z",
            "actor": "x",
            "encoding": 1,
            "prev_hash": None,
            "data": data,
        }
    )


def test_unknown_event_type_verifies_but_does_not_decode() -> None:
    raw = _sealed("DeploymentTeleported", 1, {})
    verify_bytes(raw)  # verification works on bytes and knows no event types
    with pytest.raises(UnknownEvent, match="DeploymentTeleported"):
        decode(raw)


@pytest.mark.parametrize(
    ("event_type", "version"),
    [("TrafficSwitched", 3), ("DeploymentAdmitted", 2), ("JobStarted", 99)],
)
def test_event_from_a_newer_writer_raises_unknown_event(event_type: str, version: int) -> None:
    with pytest.raises(UnknownEvent, match="newer than this reader"):
        decode(_sealed(event_type, version, {"deployment_id": "dep1"}))


def test_version_without_an_upcaster_raises_unknown_event() -> None:
    with pytest.raises(UnknownEvent, match="no upcaster"):
        upcast("TrafficSwitched", 0, {"mode": "deployment"})


def test_upcast_of_a_current_version_returns_the_payload_unchanged() -> None:
    payload = {"mode": "deployment", "upstreams": ["a:1"]}
    assert upcast("TrafficSwitched", 2, payload) == payload


def test_every_event_class_is_registered_once_under_its_name() -> None:
    assert len(EVENT_TYPES) == len(ALL_EVENTS)
    for cls in ALL_EVENTS:
        assert EVENT_TYPES[cls.__name__] is cls
        assert cls.AGGREGATES, f"{cls.__name__} names no aggregate"


def test_event_refuses_an_aggregate_it_does_not_belong_to() -> None:
    with pytest.raises(ValueError, match="does not belong to a environment aggregate"):
        new_event(
            ev.JobSkipped(job_id="scan", reason="x"),
            aggregate=Aggregate.ENVIRONMENT,
            aggregate_id="app_prod",
            causation_id="c",
            actor="x",
        )
