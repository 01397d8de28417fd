"""Host names of §7."""

from __future__ import annotations

import pytest

from libs.events.hosts import deployment_host, environment_hosts, short_id


def test_environment_host_is_env_dot_project_dot_base() -> None:
    assert environment_hosts("shop", "staging", "localhost") == ("staging.shop.localhost",)


def test_production_is_also_served_at_the_project_host_and_a_custom_domain() -> None:
    assert environment_hosts("shop", "production", "example.com", "Shop.IO.") == (
        "production.shop.example.com",
        "shop.example.com",
        "shop.io",
    )


def test_deployment_host_uses_the_short_id() -> None:
    dep = "0F1E2D3C-4b5a-6978-8695-a4b3c2d1e0f9"
    assert short_id(dep) == "0f1e2d3c"
    assert deployment_host(dep, "shop", "localhost") == "d-0f1e2d3c.shop.localhost"


def test_an_id_without_letters_or_digits_has_no_short_id() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        short_id("---")
