"""The Caddy config and route files of a desired state (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.routing.caddy_config import (
    FALLBACK_ID,
    MIN_SLOTS,
    assign_slots,
    render,
    write_order,
)
from services.routing.desired import (
    MAINTENANCE,
    DeploymentRoute,
    EnvironmentRoute,
    Target,
    desired_state,
)

DEP = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
DIR = Path("/srv/routes")


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["apps"]["http"]["servers"]["slipway"]["routes"]  # type: ignore[no-any-return]


def _desired(env: Target, dep: Target | None = None) -> Any:
    deps = [DeploymentRoute(DEP, "shop", dep)] if dep else []
    return desired_state([EnvironmentRoute("shop", "production", env)], deps, "localhost")


def test_config_has_one_plain_http_server_with_host_routes_slots_and_a_404_fallback() -> None:
    rendered = render(
        _desired(Target("upstreams", ("127.0.0.1:1", "h:2"))),
        routes_dir=DIR,
        edge_listen=":9090",
        admin="127.0.0.1:3019",
    )
    config = rendered.config
    assert config["admin"] == {"listen": "127.0.0.1:3019"}
    server = config["apps"]["http"]["servers"]["slipway"]
    assert server["listen"] == [":9090"]
    assert server["automatic_https"] == {"disable": True}
    env, *slots, fallback = _routes(config)
    assert env["@id"] == "env.shop.production"
    assert env["match"] == [{"host": ["production.shop.localhost", "shop.localhost"]}]
    proxy = env["handle"][0]["routes"][0]["handle"][0]
    assert proxy["upstreams"] == [
        {"dial": "{file./srv/routes/env.shop.production/u0}"},
        {"dial": "{file./srv/routes/env.shop.production/u1}"},
    ]
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert proxy["load_balancing"]["try_duration"] == "5s"
    assert "health_checks" not in proxy
    assert len(slots) == MIN_SLOTS
    assert slots[0]["match"] == [
        {"vars": {"{file./srv/routes/slot.0/host}": ["{http.request.host}"]}}
    ]
    assert fallback["@id"] == FALLBACK_ID
    assert fallback["handle"][0]["status_code"] == 404


def test_files_carry_the_mode_and_the_targets() -> None:
    files = render(
        _desired(Target("upstreams", ("127.0.0.1:1", "h:2")), Target("static", root="/srv/x")),
        routes_dir=DIR,
    ).files
    assert files["env.shop.production/mode"] == "upstreams"
    assert (files["env.shop.production/u0"], files["env.shop.production/u1"]) == (
        "127.0.0.1:1",
        "h:2",
    )
    assert files["slot.0/host"] == "d-0f1e2d3c.shop.localhost"
    assert (files["slot.0/mode"], files["slot.0/root"]) == ("static", "/srv/x")
    assert files["slot.1/host"] == ""
    maintenance = render(_desired(MAINTENANCE), routes_dir=DIR).files
    assert maintenance["env.shop.production/mode"] == "maintenance"


def test_switching_targets_keeps_the_config_and_upstream_slots_never_shrink() -> None:
    wide = render(_desired(Target("upstreams", ("a:1", "b:2", "c:3"))), routes_dir=DIR)
    for target in (MAINTENANCE, Target("static", root="/r"), Target("upstreams", ("d:4",))):
        again = render(_desired(target), routes_dir=DIR, layout=wide.layout)
        assert again.config == wide.config
    narrow = render(_desired(Target("upstreams", ("d:4",))), routes_dir=DIR, layout=wide.layout)
    assert [narrow.files[f"env.shop.production/u{i}"] for i in range(3)] == ["d:4"] * 3


def test_maintenance_is_a_static_503_page() -> None:
    env = _routes(render(_desired(MAINTENANCE), routes_dir=DIR).config)[0]
    handler = env["handle"][0]["routes"][-1]["handle"][0]
    assert handler["handler"] == "static_response"
    assert handler["status_code"] == 503


def test_equal_inputs_in_any_order_give_equal_configs() -> None:
    one = EnvironmentRoute("a", "prod", MAINTENANCE)
    two = EnvironmentRoute("b", "prod", Target("static", root="/r"))
    assert render(desired_state([one, two], [], "x"), routes_dir=DIR) == render(
        desired_state([two, one], [], "x"), routes_dir=DIR
    )


def test_hosts_keep_their_slots_freed_slots_are_reused_and_the_pool_doubles() -> None:
    slots = assign_slots((), ["b", "a"])
    assert slots[:3] == ["a", "b", ""] and len(slots) == MIN_SLOTS
    assert assign_slots(tuple(slots), ["b", "c"])[:2] == ["c", "b"]
    full = [f"h{n:02}" for n in range(MIN_SLOTS + 1)]
    assert len(assign_slots((), full)) == 2 * MIN_SLOTS


def test_a_slot_moving_to_another_host_keeps_the_config() -> None:
    first = render(_desired(MAINTENANCE, Target("upstreams", ("a:1",))), routes_dir=DIR)
    other = desired_state(
        [EnvironmentRoute("shop", "production", MAINTENANCE)],
        [DeploymentRoute("9f1e2d3c-0000", "shop", Target("upstreams", ("b:2",)))],
        "localhost",
    )
    moved = render(other, routes_dir=DIR, layout=first.layout)
    assert moved.config == first.config
    assert moved.files["slot.0/host"] == "d-9f1e2d3c.shop.localhost"


def test_writes_go_freed_hosts_then_targets_then_modes_then_claimed_hosts() -> None:
    files = {"s/host": "h", "s/mode": "static", "s/root": "/r", "t/host": "", "s/u0": "a:1"}
    ordered = sorted(files.items(), key=lambda kv: write_order(*kv))
    assert [p for p, _ in ordered] == ["t/host", "s/root", "s/u0", "s/mode", "s/host"]


@pytest.mark.parametrize("bad", ["relative/routes", "/srv/{x}"])
def test_a_routes_dir_caddy_cannot_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="absolute and free of braces"):
        render(_desired(MAINTENANCE), routes_dir=bad)
