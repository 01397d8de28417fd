"""`events show|export`, `audit verify`, `projections rebuild`."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.unit.cli.exports import export_lines, tamper_raw
from tests.unit.cli.fakes import API, FakeServer, invoke, make_cli, stderr_lines

DEP_ID = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b"


def events_answer(lines: list[str]) -> httpx.Response:
    return httpx.Response(200, content=("\n".join(lines) + "\n").encode())


def test_events_show_guesses_a_deployment_and_prints_its_events(tmp_path: Path) -> None:
    lines = export_lines(DEP_ID)[1:]
    server = FakeServer().on("GET", f"{API}/api/events", events_answer(lines))
    result = invoke(make_cli(server, tmp_path), "events", "show", DEP_ID)
    assert result.exit_code == 0, result.output
    params = server.requests[0].url.params
    assert (params["aggregate"], params["id"]) == ("deployment", DEP_ID)
    assert result.stdout.count("DeploymentPaused") == 2
    assert "SEQ" in result.stdout


@pytest.mark.parametrize(
    ("aggregate_id", "kind"), [("hello_production", "environment"), ("hello", "project")]
)
def test_events_show_guesses_environments_and_projects(
    tmp_path: Path, aggregate_id: str, kind: str
) -> None:
    server = FakeServer().on("GET", f"{API}/api/events", events_answer(export_lines()[:1]))
    invoke(make_cli(server, tmp_path), "events", "show", aggregate_id)
    assert server.requests[0].url.params["aggregate"] == kind


def test_events_show_of_an_aggregate_without_events_fails(tmp_path: Path) -> None:
    server = FakeServer().on("GET", f"{API}/api/events", httpx.Response(200, content=b""))
    result = invoke(make_cli(server, tmp_path), "events", "show", "nothing")
    assert result.exit_code == 1
    assert stderr_lines(result) == ["error: no events for project 'nothing'"]


def test_events_show_with_an_unknown_aggregate_kind_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(make_cli(FakeServer(), tmp_path), "events", "show", "x", "--aggregate", "user")
    assert result.exit_code == 2


def test_events_export_writes_the_lines_to_a_file(tmp_path: Path) -> None:
    lines = export_lines()
    server = FakeServer().on("GET", f"{API}/api/events", events_answer(lines))
    target = tmp_path / "may.jsonl"
    result = invoke(
        make_cli(server, tmp_path),
        *("events", "export", "--since", "2024-05-01T00:00:00Z", "--file", str(target)),
    )
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines() == lines
    assert server.requests[0].url.params["since"] == "2024-05-01T00:00:00Z"
    assert f"exported 5 events to {target}" in result.stderr


def test_events_export_to_stdout(tmp_path: Path) -> None:
    lines = export_lines()
    server = FakeServer().on("GET", f"{API}/api/events", events_answer(lines))
    result = invoke(make_cli(server, tmp_path), "events", "export")
    assert result.stdout.splitlines() == lines


def test_audit_verify_of_an_intact_log_through_the_api(tmp_path: Path) -> None:
    server = (
        FakeServer()
        .on("GET", f"{API}/healthz", httpx.Response(200, json={"status": "ok"}))
        .on("GET", f"{API}/api/events", events_answer(export_lines()))
    )
    result = invoke(make_cli(server, tmp_path), "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "verified 5 events of 2 aggregates" in result.stdout


def test_audit_verify_of_an_edited_event_names_it_and_exits_1(tmp_path: Path) -> None:
    lines = export_lines()
    lines[2] = tamper_raw(lines[2], '"by":"t1"', '"by":"t9"')
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(make_cli(FakeServer(), tmp_path), "audit", "verify", "--file", str(path))
    assert result.exit_code == 1
    [line] = stderr_lines(result)
    assert line.startswith("error: verification FAILED at seq 3")
    assert DEP_ID in line


def test_audit_verify_of_an_export_with_a_missing_event_names_the_gap(tmp_path: Path) -> None:
    lines = export_lines()
    del lines[1]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(make_cli(FakeServer(), tmp_path), "audit", "verify", "--file", str(path))
    assert result.exit_code == 1
    assert stderr_lines(result)[0].startswith("error: verification FAILED at seq 2")


def test_audit_verify_partial_trusts_the_first_link_of_each_aggregate(tmp_path: Path) -> None:
    path = tmp_path / "part.jsonl"
    path.write_text("\n".join(export_lines()[2:]) + "\n")
    strict = invoke(make_cli(FakeServer(), tmp_path), "audit", "verify", "--file", str(path))
    partial = invoke(
        make_cli(FakeServer(), tmp_path),
        *("audit", "verify", "--file", str(path), "--partial", "--json"),
    )
    assert strict.exit_code == 1
    assert partial.exit_code == 0, partial.output
    assert json.loads(partial.stdout)["ok"] is True


def test_audit_verify_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        make_cli(FakeServer(), tmp_path), "audit", "verify", "--file", str(tmp_path / "no")
    )
    assert result.exit_code == 2


def test_projections_rebuild_without_projector_support_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "services.projector.cli_support", None)
    result = invoke(make_cli(FakeServer(), tmp_path), "projections", "rebuild")
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        "error: projections rebuild is not available in this installation (no projector support)"
    ]


@dataclass
class FakeReport:
    events: int
    seq: int


def test_projections_rebuild_runs_the_projectors_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    support = types.ModuleType("services.projector.cli_support")

    async def rebuild(settings: object) -> FakeReport:
        return FakeReport(events=12, seq=12)

    support.rebuild = rebuild  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "services.projector.cli_support", support)
    result = invoke(make_cli(FakeServer(), tmp_path), "projections", "rebuild")
    assert result.exit_code == 0, result.output
    assert "rebuilt the read model: events=12, seq=12" in result.stdout


def test_projections_rebuild_failure_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    support = types.ModuleType("services.projector.cli_support")

    def rebuild(settings: object) -> None:
        raise OSError("connection refused\nmore detail")

    support.rebuild = rebuild  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "services.projector.cli_support", support)
    result = invoke(make_cli(FakeServer(), tmp_path), "projections", "rebuild")
    assert result.exit_code == 1
    assert stderr_lines(result) == [
        "error: projections rebuild failed: connection refused more detail"
    ]


def test_events_export_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "x.jsonl"
    result = invoke(make_cli(FakeServer(), tmp_path), "events", "export", "--file", str(target))
    assert result.exit_code == 1
    assert stderr_lines(result) == [f"error: cannot write {target}: No such file or directory"]
