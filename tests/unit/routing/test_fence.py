"""The fence (pure): who may claim an environment's route."""

from __future__ import annotations

import pytest

from libs.events.states import Admission, EnvironmentState, Route
from services.routing.fence import (
    AlreadyRouted,
    Claim,
    NotAdmitted,
    Refused,
    RouteTarget,
    decide_claim,
)

UP = RouteTarget(upstreams=("127.0.0.1:5001",))


def _env(
    *deps: str, ended: dict[str, str] | None = None, route: Route | None = None
) -> EnvironmentState:
    admitted = tuple(Admission(d, n, None) for n, d in enumerate(deps, 1))
    return EnvironmentState(id="shop_production", admitted=admitted, ended=ended or {}, route=route)


def _route(dep: str, number: int, mode: str = "deployment", seq: int = 40) -> Route:
    return Route(mode, dep, UP.upstreams if mode == "deployment" else (), None, number, seq)


def test_the_first_claim_carries_the_admission_number() -> None:
    decision = decide_claim(_env("a", "b"), "b", UP, job_id="route")
    assert isinstance(decision, Claim)
    event = decision.event
    assert (event.mode, event.deployment_id, event.admission_seq) == ("deployment", "b", 2)
    assert event.upstreams == UP.upstreams and event.job_id == "route"


def test_a_later_deployment_in_flight_refuses_the_older_one() -> None:
    assert decide_claim(_env("a", "b", "c"), "a", UP) == Refused("c")


def test_a_later_deployment_that_ended_does_not_block() -> None:
    assert isinstance(decide_claim(_env("a", "b", ended={"b": "failed"}), "a", UP), Claim)
    # The environment has not recorded the end yet; the deployment's own aggregate has.
    assert isinstance(decide_claim(_env("a", "b"), "a", UP, ended={"b"}), Claim)


def test_a_route_held_by_a_later_deployment_refuses_even_after_it_completed() -> None:
    env = _env("a", "b", ended={"b": "completed"}, route=_route("b", 2))
    assert decide_claim(env, "a", UP) == Refused("b")


def test_a_routed_deployment_retakes_its_own_route_on_resume_despite_later_ones() -> None:
    env = _env("a", "b", route=_route("a", 1, mode="maintenance"))
    decision = decide_claim(env, "a", UP)
    assert isinstance(decision, Claim) and decision.event.mode == "deployment"


def test_the_same_route_again_is_already_routed_at_its_sequence() -> None:
    assert decide_claim(_env("a", route=_route("a", 1, seq=77)), "a", UP) == AlreadyRouted(77)
    other = RouteTarget(upstreams=("127.0.0.1:6000",))
    assert isinstance(decide_claim(_env("a", route=_route("a", 1)), "a", other), Claim)


def test_an_older_route_does_not_block_a_newer_deployment() -> None:
    assert isinstance(decide_claim(_env("a", "b", route=_route("a", 1)), "b", UP), Claim)


def test_a_deployment_never_admitted_here_cannot_claim() -> None:
    with pytest.raises(NotAdmitted, match="never admitted"):
        decide_claim(_env("a"), "zzz", UP)


@pytest.mark.parametrize(
    "kwargs", [{}, {"upstreams": ("h:1",), "static_root": "/srv"}], ids=["none", "both"]
)
def test_a_target_is_upstreams_or_a_static_root(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="either upstreams or a static root"):
        RouteTarget(**kwargs)  # type: ignore[arg-type]
