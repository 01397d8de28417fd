"""`deployments list|show`, `logs`, `state`, and the commands on a deployment."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.unit.cli.fakes import (
    API,
    GATEWAY,
    FakeServer,
    invoke,
    jsonl,
    make_cli,
    problem,
    sse,
    stderr_lines,
)
from tests.unit.cli.records import DEP_ID, deployment, job, progressing

DEP = f"/api/deployments/{DEP_ID}"
OTHER = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


def test_deployments_list_passes_the_filters_and_prints_a_table(tmp_path: Path) -> None:
    page = {"items": [deployment("completed")], "next_cursor": "next-1"}
    server = FakeServer().on("GET", f"{API}/api/deployments", httpx.Response(200, json=page))
    result = invoke(
        make_cli(server, tmp_path),
        *("deployments", "list", "-p", "hello", "-e", "production", "--status", "failed"),
        *("--limit", "5"),
    )
    assert result.exit_code == 0, result.output
    params = server.requests[0].url.params
    assert (params["project"], params["environment"], params["status"], params["limit"]) == (
        "hello",
        "production",
        "failed",
        "5",
    )
    assert "type" not in params
    assert DEP_ID in result.stdout and "main@3f2a9c1" in result.stdout
    assert "--cursor next-1" in result.stderr


def test_deployments_list_json_is_the_page(tmp_path: Path) -> None:
    page = {"items": [deployment()], "next_cursor": None}
    server = FakeServer().on("GET", f"{API}/api/deployments", httpx.Response(200, json=page))
    result = invoke(make_cli(server, tmp_path), "deployments", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == page


def test_deployments_show_prints_source_url_and_jobs(tmp_path: Path) -> None:
    record = deployment("failed", [job(0, "success"), job(1, "failure", "no Dockerfile")])
    server = FakeServer().on("GET", f"{API}{DEP}", httpx.Response(200, json=record))
    result = invoke(make_cli(server, tmp_path), "deployments", "show", DEP_ID)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"deployment {DEP_ID}  failed" in out
    assert "hello / production" in out
    assert 'commit 3f2a9c1d5e6f "Fix the greeting"' in out
    assert "BuildImageJob" in out and "no Dockerfile" in out and "2.5s" in out


def test_deployments_show_of_an_unknown_id_is_one_line_from_the_problem(tmp_path: Path) -> None:
    server = FakeServer().on("GET", f"{API}{DEP}", problem(404, f"no deployment '{DEP_ID}'"))
    result = invoke(make_cli(server, tmp_path), "deployments", "show", DEP_ID)
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        f"error: no deployment '{DEP_ID}' (HTTP 404 from the query API)"
    ]


def test_logs_prints_each_json_line_readably(tmp_path: Path) -> None:
    lines = jsonl(
        {"ts": "2024-05-01T12:00:01Z", "job": "build", "stream": "stdout", "line": "Step 1/4"},
        {"ts": "2024-05-01T12:00:02Z", "job": "build", "stream": "system", "line": "[done]"},
    )
    server = FakeServer().on("GET", f"{API}{DEP}/logs", lines)
    result = invoke(make_cli(server, tmp_path), "logs", DEP_ID)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "12:00:01 build          Step 1/4",
        "12:00:02 build          [done]",
    ]


def test_logs_json_prints_the_raw_lines(tmp_path: Path) -> None:
    raw = {"ts": "2024-05-01T12:00:01Z", "job": "build", "line": "x"}
    server = FakeServer().on("GET", f"{API}{DEP}/logs", jsonl(raw))
    result = invoke(make_cli(server, tmp_path), "logs", DEP_ID, "--json")
    assert json.loads(result.stdout) == raw


def test_logs_follow_streams_until_the_end_event(tmp_path: Path) -> None:
    frame = {"ts": "2024-05-01T12:00:01Z", "job": "health", "line": "probe 200"}
    server = FakeServer().on("GET", f"{API}{DEP}/logs", sse(("log", frame), ("log", frame)))
    result = invoke(make_cli(server, tmp_path), "logs", DEP_ID, "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("probe 200") == 2


def test_logs_of_an_environment_read_its_log(tmp_path: Path) -> None:
    path = "/api/projects/hello/environments/production/logs"
    server = FakeServer().on("GET", f"{API}{path}", jsonl({"job": "env", "line": "cron ran"}))
    result = invoke(make_cli(server, tmp_path), "logs", "-p", "hello", "-e", "production")
    assert result.exit_code == 0, result.output
    assert "cron ran" in result.stdout


@pytest.mark.parametrize("args", [[], ["-p", "hello"], [DEP_ID, "-p", "hello"]])
def test_logs_needs_an_id_or_an_environment(tmp_path: Path, args: list[str]) -> None:
    result = invoke(make_cli(FakeServer(), tmp_path), "logs", *args)
    assert result.exit_code == 2


def test_state_as_of_passes_the_time_and_shows_the_record(tmp_path: Path) -> None:
    server = FakeServer().on(
        "GET", f"{API}{DEP}/state", httpx.Response(200, json=deployment("running"))
    )
    result = invoke(make_cli(server, tmp_path), "state", DEP_ID, "--as-of", "2024-05-01T12:00Z")
    assert result.exit_code == 0, result.output
    assert server.requests[0].url.params["as_of"] == "2024-05-01T12:00Z"
    assert "running" in result.stdout


def test_state_with_both_points_in_time_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        make_cli(FakeServer(), tmp_path), "state", DEP_ID, "--as-of", "x", "--as-of-seq", "3"
    )
    assert result.exit_code == 2


def test_rollback_posts_to_the_target_and_names_the_new_deployment(tmp_path: Path) -> None:
    new = deployment(dep_id=OTHER, type="rollback")
    server = FakeServer().on("POST", f"{GATEWAY}{DEP}/rollback", httpx.Response(202, json=new))
    result = invoke(make_cli(server, tmp_path), "rollback", DEP_ID)
    assert result.exit_code == 0, result.output
    sent = server.sent("POST", f"{DEP}/rollback")[0]
    assert json.loads(sent.content) == {} and sent.headers["idempotency-key"]
    assert f"rollback of {DEP_ID}: deployment {OTHER} (pending)" in result.stdout


def test_rollback_follow_watches_the_new_deployment(tmp_path: Path) -> None:
    path = f"/api/deployments/{OTHER}"
    done = deployment("completed", progressing(*["success"] * 4), dep_id=OTHER)
    server = (
        FakeServer()
        .on("POST", f"{GATEWAY}{DEP}/rollback", httpx.Response(202, json=deployment(dep_id=OTHER)))
        .on("GET", f"{API}{path}", httpx.Response(200, json=done))
        .on("GET", f"{API}{path}/logs", sse())
    )
    result = invoke(make_cli(server, tmp_path), "rollback", DEP_ID, "--follow")
    assert result.exit_code == 0, result.output
    assert "deployed: http://production.hello.localhost:8080" in result.stdout


@pytest.mark.parametrize("verb", ["cancel", "pause", "resume", "stop"])
def test_each_command_posts_its_verb_and_shows_the_new_status(tmp_path: Path, verb: str) -> None:
    status = {"cancel": "cancelled", "pause": "paused", "resume": "running", "stop": "stopped"}
    server = FakeServer().on(
        "POST", f"{GATEWAY}{DEP}/{verb}", httpx.Response(202, json=deployment(status[verb]))
    )
    result = invoke(make_cli(server, tmp_path), verb, DEP_ID)
    assert result.exit_code == 0, result.output
    assert f"{verb}: deployment {DEP_ID} is {status[verb]}" in result.stdout


def test_a_repeated_command_says_it_already_was(tmp_path: Path) -> None:
    server = FakeServer().on(
        "POST", f"{GATEWAY}{DEP}/cancel", httpx.Response(200, json=deployment("cancelled"))
    )
    result = invoke(make_cli(server, tmp_path), "cancel", DEP_ID)
    assert "(it already was)" in result.stdout


def test_an_illegal_transition_exits_1_with_the_servers_reason(tmp_path: Path) -> None:
    detail = "cannot cancel a completed deployment; stop it instead"
    server = FakeServer().on("POST", f"{GATEWAY}{DEP}/cancel", problem(409, detail))
    result = invoke(make_cli(server, tmp_path), "cancel", DEP_ID)
    assert result.exit_code == 1
    assert stderr_lines(result) == [f"error: {detail} (HTTP 409 from the gateway)"]
