"""`slipway projects`, `env set`, `vars set` against a fake gateway and query API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.unit.cli.fakes import API, GATEWAY, TOKEN, FakeServer, invoke, make_cli, problem

ENV_PATH = "/api/projects/hello/environments/production"


def project_record(**extra: object) -> dict[str, object]:
    return {
        "id": "hello",
        "name": "hello",
        "repo_url": "https://example.com/hello.git",
        "environments": [{"name": "production", "branch": "main"}],
        "created_at": "2024-05-01T12:00:00.000000Z",
        **extra,
    }


def test_projects_create_posts_the_project_with_the_token_and_says_created(
    tmp_path: Path,
) -> None:
    server = FakeServer().on(
        "POST", f"{GATEWAY}/api/projects", httpx.Response(201, json=project_record())
    )
    result = invoke(
        make_cli(server, tmp_path),
        *("projects", "create", "hello", "--repo", "https://example.com/hello.git"),
        *("--env", "production:main", "--env", "staging"),
    )
    assert result.exit_code == 0, result.output
    sent = server.sent("POST", "/api/projects")[0]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(sent.content) == {
        "name": "hello",
        "repo_url": "https://example.com/hello.git",
        "environments": [{"name": "production", "branch": "main"}, {"name": "staging"}],
    }
    assert "created project hello" in result.stdout
    assert f"{GATEWAY}/webhooks/github/hello" in result.stdout


def test_projects_create_defaults_to_production_tracking_main(tmp_path: Path) -> None:
    server = FakeServer().on(
        "POST", f"{GATEWAY}/api/projects", httpx.Response(201, json=project_record())
    )
    result = invoke(make_cli(server, tmp_path), "projects", "create", "hello", "--json")
    assert result.exit_code == 0, result.output
    assert server.body("POST", "/api/projects")["environments"] == [
        {"name": "production", "branch": "main"}
    ]
    assert json.loads(result.stdout)["name"] == "hello"


def test_projects_create_with_a_malformed_env_spec_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(make_cli(FakeServer(), tmp_path), "projects", "create", "x", "--env", "a:")
    assert result.exit_code == 2
    assert "NAME:BRANCH" in result.stderr


def test_projects_list_follows_cursors_and_prints_json(tmp_path: Path) -> None:
    pages = [
        httpx.Response(200, json={"items": [project_record()], "next_cursor": "c1"}),
        httpx.Response(200, json={"items": [project_record(name="two")], "next_cursor": None}),
    ]
    server = FakeServer().on("GET", f"{API}/api/projects", *pages)
    result = invoke(make_cli(server, tmp_path), "projects", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [p["name"] for p in json.loads(result.stdout)] == ["hello", "two"]
    assert server.requests[1].url.params["cursor"] == "c1"


def test_projects_list_shows_a_table(tmp_path: Path) -> None:
    server = FakeServer().on(
        "GET", f"{API}/api/projects", httpx.Response(200, json={"items": [project_record()]})
    )
    result = invoke(make_cli(server, tmp_path), "projects", "list")
    assert result.exit_code == 0, result.output
    assert "NAME" in result.stdout and "hello" in result.stdout and "production" in result.stdout


def test_env_set_keeps_the_current_settings_and_changes_the_given_ones(tmp_path: Path) -> None:
    current = {"name": "production", "branch": "main", "replicas": 1, "port": 3000, "cpu": None}
    server = (
        FakeServer()
        .on("GET", f"{API}{ENV_PATH}", httpx.Response(200, json=current))
        .on(
            "PUT", f"{GATEWAY}{ENV_PATH}", lambda r: httpx.Response(200, json=json.loads(r.content))
        )
    )
    result = invoke(
        make_cli(server, tmp_path),
        *("env", "set", "hello", "production", "--replicas", "2", "--no-auto-deploy"),
    )
    assert result.exit_code == 0, result.output
    assert server.body("PUT", ENV_PATH) == {
        "branch": "main",
        "replicas": 2,
        "port": 3000,
        "auto_deploy": False,
    }


def test_env_set_on_a_new_environment_sends_only_the_given_settings(tmp_path: Path) -> None:
    path = "/api/projects/hello/environments/staging"
    server = (
        FakeServer()
        .on("GET", f"{API}{path}", problem(404, "no environment 'staging'"))
        .on("PUT", f"{GATEWAY}{path}", lambda r: httpx.Response(200, json=json.loads(r.content)))
    )
    result = invoke(
        make_cli(server, tmp_path), "env", "set", "hello", "staging", "--branch", "develop"
    )
    assert result.exit_code == 0, result.output
    assert server.body("PUT", path) == {"branch": "develop"}


def test_env_set_unset_drops_a_setting(tmp_path: Path) -> None:
    current = {"branch": "main", "port": 3000}
    server = (
        FakeServer()
        .on("GET", f"{API}{ENV_PATH}", httpx.Response(200, json=current))
        .on(
            "PUT", f"{GATEWAY}{ENV_PATH}", lambda r: httpx.Response(200, json=json.loads(r.content))
        )
    )
    result = invoke(
        make_cli(server, tmp_path), "env", "set", "hello", "production", "--unset", "port"
    )
    assert result.exit_code == 0, result.output
    assert server.body("PUT", ENV_PATH) == {"branch": "main"}


def test_env_set_unset_of_an_unknown_setting_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        make_cli(FakeServer(), tmp_path), "env", "set", "hello", "production", "--unset", "colour"
    )
    assert result.exit_code == 2
    assert "not a setting" in result.stderr


def test_vars_set_merges_with_patch_and_shows_names_only(tmp_path: Path) -> None:
    answer = httpx.Response(200, json={"name": "production", "variables": ["A", "B"]})
    server = FakeServer().on("PATCH", f"{GATEWAY}{ENV_PATH}/variables", answer)
    result = invoke(
        make_cli(server, tmp_path),
        *("vars", "set", "hello", "production", "A=1", "B=x=y", "--unset", "OLD"),
    )
    assert result.exit_code == 0, result.output
    assert server.body("PATCH", f"{ENV_PATH}/variables") == {
        "variables": {"A": "1", "B": "x=y", "OLD": None}
    }
    assert "variables A, B" in result.stdout
    assert "x=y" not in result.stdout


def test_vars_set_replace_uses_put(tmp_path: Path) -> None:
    answer = httpx.Response(200, json={"variables": ["A"]})
    server = FakeServer().on("PUT", f"{GATEWAY}{ENV_PATH}/variables", answer)
    result = invoke(
        make_cli(server, tmp_path), "vars", "set", "hello", "production", "A=", "--replace"
    )
    assert result.exit_code == 0, result.output
    assert server.body("PUT", f"{ENV_PATH}/variables") == {"variables": {"A": ""}}


def test_vars_set_without_an_equals_sign_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(make_cli(FakeServer(), tmp_path), "vars", "set", "hello", "production", "A")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr


def test_vars_set_with_nothing_to_set_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(make_cli(FakeServer(), tmp_path), "vars", "set", "hello", "production")
    assert result.exit_code == 2
