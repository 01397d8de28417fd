"""Every failure is one `error:` line on stderr and exit 1; where the CLI looks for its servers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from libs.settings import Settings
from slipway.client import Cli
from tests.unit.cli.fakes import API, GATEWAY, FakeServer, invoke, make_cli, problem, stderr_lines
from tests.unit.cli.records import DEP_ID

GATEWAY_COMMANDS = [
    ["projects", "create", "hello"],
    ["vars", "set", "hello", "production", "A=1"],
    ["deploy", "hello", "production"],
    ["deploy", "hello", "production", "--image", "nginx"],
    ["rollback", DEP_ID],
    ["cancel", DEP_ID],
    ["pause", DEP_ID],
    ["resume", DEP_ID],
    ["stop", DEP_ID],
]
API_COMMANDS = [
    ["projects", "list"],
    ["env", "set", "hello", "production", "--port", "3000"],
    ["deployments", "list"],
    ["deployments", "show", DEP_ID],
    ["logs", DEP_ID],
    ["logs", DEP_ID, "--follow"],
    ["state", DEP_ID],
    ["events", "show", DEP_ID],
    ["events", "export"],
    ["audit", "verify"],
]


def refuse_connections(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


@pytest.mark.parametrize("args", GATEWAY_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_gateway_is_one_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    result = invoke(make_cli(refuse_connections, tmp_path), *args)
    assert result.exit_code == 1, result.output
    assert stderr_lines(result) == [
        f"error: cannot reach the gateway at {GATEWAY} — is `slipway up` running?"
    ]


@pytest.mark.parametrize("args", API_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_query_api_is_one_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    result = invoke(make_cli(refuse_connections, tmp_path), *args)
    assert result.exit_code == 1, result.output
    assert stderr_lines(result) == [
        f"error: cannot reach the query API at {API} — is `slipway up` running?"
    ]


def test_a_server_error_without_json_is_still_one_line(tmp_path: Path) -> None:
    server = FakeServer().on(
        "GET", f"{API}/api/deployments", httpx.Response(502, text="Bad Gateway\n<html>…</html>")
    )
    result = invoke(make_cli(server, tmp_path), "deployments", "list")
    assert result.exit_code == 1
    assert stderr_lines(result) == ["error: Bad Gateway (HTTP 502 from the query API)"]


def test_a_validation_error_names_the_field(tmp_path: Path) -> None:
    body = {"detail": [{"loc": ["body", "name"], "msg": "not a DNS label", "type": "value_error"}]}
    server = FakeServer().on("POST", f"{GATEWAY}/api/projects", httpx.Response(422, json=body))
    result = invoke(make_cli(server, tmp_path), "projects", "create", "Bad_Name")
    assert stderr_lines(result) == ["error: name: not a DNS label (HTTP 422 from the gateway)"]


def test_a_multi_line_detail_is_flattened_to_one_line(tmp_path: Path) -> None:
    server = FakeServer().on("GET", f"{API}/api/deployments", problem(400, "bad\nstatus\n  value"))
    result = invoke(make_cli(server, tmp_path), "deployments", "list")
    assert stderr_lines(result) == ["error: bad status value (HTTP 400 from the query API)"]


def test_a_timeout_says_the_server_did_not_answer(tmp_path: Path) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    result = invoke(make_cli(slow, tmp_path), "deployments", "list")
    assert result.exit_code == 1
    assert stderr_lines(result) == [f"error: the query API at {API} did not answer: timed out"]


def test_401_without_a_token_explains_where_the_token_comes_from(tmp_path: Path) -> None:
    server = FakeServer().on("GET", f"{API}/api/projects", problem(401, "missing bearer token"))
    result = invoke(make_cli(server, tmp_path, token=None), "projects", "list")
    assert result.exit_code == 1
    [line] = stderr_lines(result)
    assert line.startswith("error: missing bearer token (no admin token: set SLIPWAY_ADMIN_TOKEN")
    assert str(tmp_path / "data" / "token") in line
    assert "authorization" not in server.requests[0].headers


def test_the_token_is_read_from_the_data_dir_when_not_in_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "token").write_text("from-file\n")
    server = FakeServer().on("GET", f"{API}/api/projects", httpx.Response(200, json={"items": []}))
    invoke(make_cli(server, tmp_path, token=None), "projects", "list")
    assert server.requests[0].headers["authorization"] == "Bearer from-file"


def test_default_urls_come_from_the_port_settings() -> None:
    cli = Cli(settings=Settings(gateway_port=9100, api_port=9101))
    assert (cli.url("gateway"), cli.url("api")) == (
        "http://127.0.0.1:9100",
        "http://127.0.0.1:9101",
    )


def test_gateway_and_api_options_override_the_defaults(tmp_path: Path) -> None:
    server = FakeServer().on(
        "GET", "http://other-api:9/api/projects", httpx.Response(200, json={"items": []})
    )
    cli = make_cli(server, tmp_path)
    cli.api_url = None
    result = invoke(cli, "--api", "http://other-api:9/", "projects", "list")
    assert result.exit_code == 0, result.output
    assert str(server.requests[0].url) == "http://other-api:9/api/projects"


def test_urls_can_come_from_the_environment(tmp_path: Path) -> None:
    server = FakeServer().on(
        "POST", "http://gw-env:7/api/deployments/x/stop", problem(404, "no deployment 'x'")
    )
    cli = make_cli(server, tmp_path)
    cli.gateway_url = None
    result = invoke(cli, "stop", "x", env={"SLIPWAY_GATEWAY_URL": "http://gw-env:7"})
    assert stderr_lines(result) == ["error: no deployment 'x' (HTTP 404 from the gateway)"]


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    assert invoke(make_cli(FakeServer(), tmp_path), "deploi").exit_code == 2


def test_a_missing_argument_is_a_usage_error(tmp_path: Path) -> None:
    assert invoke(make_cli(FakeServer(), tmp_path), "rollback").exit_code == 2
