from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.names import InvalidName
from services.gateway.problems import Problem
from services.gateway.projects import check_repo_url, check_variable_name
from services.gateway.schemas import EnvironmentIn, EnvironmentSettings, ProjectIn, VariablesIn


def test_environment_defaults_match_the_wire_shape() -> None:
    env = EnvironmentSettings()
    assert (env.auto_deploy, env.tags, env.replicas, env.health_path) == (True, False, 1, "/")
    assert env.policy.value == "supersede"


@pytest.mark.parametrize(
    "body",
    [
        {"branch": "feature..x"},
        {"branch": "-leading"},
        {"branch": "has space"},
        {"branch": "ends.lock"},
        {"health_path": "no-slash"},
        {"memory": "lots"},
        {"app_dir": "../outside"},
        {"app_dir": "/abs"},
        {"domain": "Not A Host"},
        {"replicas": 0},
        {"replicas": 33},
        {"port": 70000},
        {"cpu": 0},
        {"unknown": 1},
    ],
)
def test_invalid_environment_settings_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSettings.model_validate(body)


def test_valid_settings_are_normalised() -> None:
    env = EnvironmentSettings(branch="feature/login", app_dir="apps/web/", memory="512m")
    assert env.app_dir == "apps/web"
    assert EnvironmentSettings(domain="app.example.com").domain == "app.example.com"


def test_environment_names_are_dns_labels_not_starting_with_d_dash() -> None:
    assert EnvironmentIn(name="production").name == "production"
    for bad in ("d-abc", "Prod", "a_b"):
        with pytest.raises((ValidationError, InvalidName)):
            EnvironmentIn(name=bad)


def test_a_project_body_rejects_unknown_fields_and_variables_are_strings_or_null() -> None:
    with pytest.raises(ValidationError):
        ProjectIn.model_validate({"name": "x", "secret": "typo"})
    assert VariablesIn.model_validate({"variables": {"A": "1", "B": None}}).variables["B"] is None
    with pytest.raises(ValidationError):
        VariablesIn.model_validate({"variables": {"A": 1}})


@pytest.mark.parametrize("name", ["CRON_SECRET", "PORT", "HOST", "SLIPWAY_DEPLOYMENT_ID", "1A"])
def test_reserved_and_invalid_variable_names_are_refused(name: str) -> None:
    with pytest.raises((Problem, ValueError)):
        check_variable_name(name)


@pytest.mark.parametrize("name", ["DATABASE_URL", "_private", "SLIPWAY_GIT_TOKEN", "a1"])
def test_ordinary_and_credential_variable_names_are_accepted(name: str) -> None:
    assert check_variable_name(name) == name


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/octocat/hello-world.git",
        "ssh://git@gitlab.example.com:2222/group/app.git",
        "git@github.com:octocat/hello-world.git",
        "git@host.example.com:/srv/git/app.git",
        "ssh://host.example.com/srv/app.git",
    ],
)
def test_remote_repository_urls_are_accepted(url: str) -> None:
    assert check_repo_url(url, allow_local=False) == url


def test_local_paths_need_allow_local_repos() -> None:
    assert check_repo_url("/srv/repos/app", allow_local=True) == "/srv/repos/app"
    for url in (
        "/srv/repos/app",
        "ftp://host/x",
        "http://host/x",
        "github.com/x",
        "https://user:password@github.com/x.git",
        "-uhttps://x/y",
        "ext::sh -c touch% /tmp/pwned",
        "https://-oProxyCommand=x/y",
    ):
        with pytest.raises(Problem):
            check_repo_url(url, allow_local=False)
