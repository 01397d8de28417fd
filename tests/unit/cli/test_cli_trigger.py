"""`slipway trigger` with a fake trigger bus (the NATS one has an integration test)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.triggers import DeployTrigger, TriggerResult
from slipway.client import CliError
from tests.unit.cli.fakes import FakeServer, invoke, make_cli, stderr_lines

DEP_ID = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b"


@dataclass
class FakeTriggerBus:
    answer: TriggerResult | CliError | None = None
    published: list[DeployTrigger] = field(default_factory=list)

    async def publish_and_wait(self, trigger: DeployTrigger, timeout_s: float) -> TriggerResult:
        self.published.append(trigger)
        if isinstance(self.answer, CliError):
            raise self.answer
        if self.answer is not None:
            return self.answer.model_copy(update={"trigger_id": trigger.trigger_id})
        return TriggerResult(
            trigger_id=trigger.trigger_id,
            accepted=True,
            deployment_id=DEP_ID,
            seq=3,
            created=True,
            status=202,
            at=datetime.now(UTC),
        )


def test_trigger_publishes_the_request_and_prints_the_deployment(tmp_path: Path) -> None:
    bus = FakeTriggerBus()
    result = invoke(
        make_cli(FakeServer(), tmp_path, trigger_bus=bus),
        *("trigger", "hello", "production", "--commit", "3f2a9c1", "--trigger-id", "ci-812"),
    )
    assert result.exit_code == 0, result.output
    assert bus.published[0].model_dump(exclude_none=True) == {
        "trigger_id": "ci-812",
        "project": "hello",
        "environment": "production",
        "commit": "3f2a9c1",
    }
    assert f"trigger ci-812: deployment {DEP_ID}" in result.stdout


def test_trigger_json_prints_the_result(tmp_path: Path) -> None:
    result = invoke(
        make_cli(FakeServer(), tmp_path, trigger_bus=FakeTriggerBus()),
        *("trigger", "hello", "production", "--json"),
    )
    assert json.loads(result.stdout)["deployment_id"] == DEP_ID


def test_a_refused_trigger_exits_1_with_the_reason(tmp_path: Path) -> None:
    refused = TriggerResult(
        trigger_id="x", accepted=False, status=404, reason="no project 'nope'", at=datetime.now(UTC)
    )
    result = invoke(
        make_cli(FakeServer(), tmp_path, trigger_bus=FakeTriggerBus(refused)),
        *("trigger", "nope", "production", "--trigger-id", "t-1"),
    )
    assert result.exit_code == 1
    assert stderr_lines(result) == ["error: trigger t-1 refused (404): no project 'nope'"]


def test_no_nats_is_one_line(tmp_path: Path) -> None:
    bus = FakeTriggerBus(CliError("cannot reach NATS at nats://127.0.0.1:4222"))
    result = invoke(make_cli(FakeServer(), tmp_path, trigger_bus=bus), "trigger", "a", "b")
    assert result.exit_code == 1
    assert stderr_lines(result) == ["error: cannot reach NATS at nats://127.0.0.1:4222"]


@pytest.mark.parametrize(
    "args",
    [
        ["--trigger-id", "has space"],
        ["--image", "nginx", "--branch", "main"],
        ["--image", "nginx", "--pull", "sometimes"],
    ],
)
def test_a_bad_trigger_is_a_usage_error_and_is_never_published(
    tmp_path: Path, args: list[str]
) -> None:
    bus = FakeTriggerBus()
    result = invoke(make_cli(FakeServer(), tmp_path, trigger_bus=bus), "trigger", "a", "b", *args)
    assert result.exit_code == 2, result.output
    assert bus.published == []
