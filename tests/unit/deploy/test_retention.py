"""Retention: keep the last N per environment, never what is routed, running or shared."""

from __future__ import annotations

import pytest

from services.deploy.retention import Artifacts, Prune, to_prune


def _deps(n: int, env: str = "e") -> list[Artifacts]:
    return [Artifacts(f"{env}{i}", image_id=f"sha256:{env}{i}") for i in range(n)]


def test_keeps_the_last_n_and_prunes_the_older_images() -> None:
    plan = to_prune({"e": _deps(5)}, keep=3)
    assert plan == [Prune("e0", "image", "sha256:e0"), Prune("e1", "image", "sha256:e1")]


def test_nothing_is_pruned_while_an_environment_has_at_most_n() -> None:
    assert to_prune({"e": _deps(3)}, keep=3) == []


def test_routed_deployments_and_those_with_containers_or_still_running_are_kept() -> None:
    deps = _deps(5)
    deps[0] = Artifacts("e0", image_id="sha256:e0", routed=True)
    deps[1] = Artifacts("e1", image_id="sha256:e1", has_containers=True)
    deps[2] = Artifacts("e2", image_id="sha256:e2", active=True)
    assert to_prune({"e": deps}, keep=1) == [Prune("e3", "image", "sha256:e3")]


def test_an_image_shared_with_a_kept_deployment_is_not_pruned() -> None:
    old = Artifacts("old", image_id="sha256:same")
    rollback = Artifacts("rb", image_id="sha256:same", routed=True)
    other_env = {"x": [Artifacts("x0", image_id="sha256:other", has_containers=True)]}
    assert to_prune(
        {"e": [old, Artifacts("mid", image_id="sha256:mid"), rollback], **other_env}, keep=1
    ) == [Prune("mid", "image", "sha256:mid")]


def test_static_files_are_pruned_and_already_pruned_kinds_are_skipped() -> None:
    deps = [
        Artifacts("s0", static_root="/srv/s0"),
        Artifacts("s1", image_id="sha256:s1", pruned=frozenset({"image"})),
        Artifacts("s2", static_root="/srv/s2"),
    ]
    assert to_prune({"e": deps}, keep=1) == [Prune("s0", "static", "/srv/s0")]


def test_environments_are_counted_separately() -> None:
    plan = to_prune({"a": _deps(2, "a"), "b": _deps(3, "b")}, keep=2)
    assert plan == [Prune("b0", "image", "sha256:b0")]


def test_negative_keep_is_refused() -> None:
    with pytest.raises(ValueError, match="keep"):
        to_prune({}, keep=-1)
