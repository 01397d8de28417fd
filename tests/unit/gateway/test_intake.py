from __future__ import annotations

import pytest

from libs.events import catalog as ev
from libs.events.states import ProjectState
from services.gateway.directory import EnvironmentView
from services.gateway.intake import (
    Target,
    git_source,
    idempotency_key,
    image_source,
    request_id,
    snapshot,
)
from services.gateway.names import InvalidImageReference
from services.gateway.problems import Problem
from services.gateway.webhook_intake import tracking
from services.gateway.webhooks import PushEvent, RefKind


def config(name: str = "production", **kw: object) -> ev.EnvironmentConfigured:
    return ev.EnvironmentConfigured(project="shop", environment=name, **kw)


def push(kind: RefKind = RefKind.BRANCH, name: str = "main") -> PushEvent:
    return PushEvent(
        kind=kind,
        name=name,
        commit_sha="a" * 40,
        commit_message="m",
        commit_author="a",
        repo_url=None,
        deleted=False,
        pusher="octocat",
    )


def views(*configs: ev.EnvironmentConfigured) -> dict[str, EnvironmentView]:
    return {c.environment: EnvironmentView(c, i + 1) for i, c in enumerate(configs)}


def test_a_push_deploys_environments_tracking_its_branch_with_auto_deploy() -> None:
    envs = views(
        config("production", branch="main"),
        config("preview", branch="main"),
        config("frozen", branch="main", auto_deploy=False),
        config("staging", branch="develop"),
        config("untracked"),
    )
    assert tracking(envs, push()) == ["preview", "production"]
    assert tracking(envs, push(name="develop")) == ["staging"]
    assert tracking(envs, push(name="feature/x")) == []


def test_a_tag_push_deploys_only_environments_that_deploy_tags() -> None:
    envs = views(config("production", branch="main", tags=True), config("dev", branch="v1"))
    assert tracking(envs, push(RefKind.TAG, "v1")) == ["production"]


def test_the_snapshot_freezes_settings_and_variable_revisions() -> None:
    snap = snapshot(
        config(port=8080, replicas=3, memory="512m", variables={"A": 7}, health_path="/up"),
        command="serve",
    )
    assert (snap.port, snap.replicas, snap.memory, snap.command) == (8080, 3, "512m", "serve")
    assert snap.variables == {"A": 7}
    assert snap.health_path == "/up"
    assert snapshot(config(health_path="/up"), health_path="/ready").health_path == "/ready"


def target(
    repo_url: str | None = "https://git.example.com/shop.git", branch: str | None = "main"
) -> Target:
    project = ProjectState(id="shop", name="shop", repo_url=repo_url, registered=True)
    return Target(project, EnvironmentView(config(branch=branch), 3))


def test_a_git_deploy_defaults_to_the_environment_branch() -> None:
    source = git_source(target(), None, None)
    assert (source.branch, source.commit_sha) == ("main", None)
    source = git_source(target(), "hotfix", "b" * 40)
    assert (source.branch, source.commit_sha) == ("hotfix", "b" * 40)


@pytest.mark.parametrize(
    ("tgt", "branch", "commit", "words"),
    [
        (target(repo_url=None), None, None, "no repo_url"),
        (target(branch=None), None, None, "tracks no branch"),
        (target(), "bad..name", None, "not a valid branch"),
        (target(), None, "XYZ", "hex"),
    ],
)
def test_an_impossible_git_deploy_is_refused_with_422(
    tgt: Target, branch: str | None, commit: str | None, words: str
) -> None:
    with pytest.raises(Problem) as info:
        git_source(tgt, branch, commit)
    assert info.value.status == 422
    assert words in info.value.detail


def test_an_image_deploy_validates_the_reference_and_pull_policy() -> None:
    assert image_source("ghcr.io/acme/api:1", None).pull == "missing"
    assert image_source("nginx", "always").image_ref == "nginx"
    with pytest.raises(InvalidImageReference):
        image_source("Nginx", None)
    with pytest.raises(Problem):
        image_source("nginx", "never")


def test_idempotency_keys_are_visible_ascii_and_name_the_request() -> None:
    assert idempotency_key(None) is None
    assert idempotency_key("abc-123") == "abc-123"
    assert request_id("abc-123") == "abc-123"
    assert request_id(None) != request_id(None)
    for bad in ("", "with space", "é", "x" * 256):
        with pytest.raises(Problem):
            idempotency_key(bad)
