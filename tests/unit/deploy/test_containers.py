"""Container specs: names, labels, env and the precedence of §5."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events import catalog as ev
from libs.events.config import parse_slipway_toml
from libs.events.envelope import EventData, new_event
from libs.events.fold import fold_deployment
from libs.events.plans import initial_plan
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.events.values import ConfigSnapshot, DeploymentType, JobType, Source, TriggerInfo
from services.deploy.containers import (
    DEFAULT_PORT,
    DeployInput,
    DeployInputError,
    attempt_labels,
    container_name,
    container_specs,
    deploy_input,
    resolve_port,
    resolve_replicas,
    start_command,
)

DEP = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


def _input(**changes: object) -> DeployInput:
    base: dict[str, object] = {
        "deployment_id": DEP,
        "project": "shop",
        "environment": "production",
        "job_id": "deploy",
        "attempt": 2,
        "image": "sha256:abc",
        "config": ConfigSnapshot(),
        "variables": {"DATABASE_URL": "postgres://x"},
        "cron_secret": "s3cret",
        "commit_sha": "c0ffee",
    }
    base.update(changes)
    return DeployInput(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "toml", "exposed", "expected"),
    [
        (8000, 5000, (4000,), 8000),
        (None, 5000, (4000,), 5000),
        (None, None, (9000, 4000), 4000),
        (None, None, (), DEFAULT_PORT),
    ],
)
def test_port_precedence_is_setting_then_toml_then_expose_then_3000(
    setting: int | None, toml: int | None, exposed: tuple[int, ...], expected: int
) -> None:
    assert resolve_port(setting, toml, exposed) == expected


def test_replicas_from_toml_apply_only_when_the_environment_keeps_the_default() -> None:
    assert resolve_replicas(1, 3) == 3
    assert resolve_replicas(2, 3) == 2
    assert resolve_replicas(1, None) == 1


def test_container_name_carries_project_env_short_id_attempt_and_replica() -> None:
    assert container_name("shop", "staging", DEP, 3, 1) == "slipway-shop-staging-0f1e2d3c-a3-r1"


def test_specs_have_one_per_replica_with_env_labels_and_limits() -> None:
    specs = container_specs(
        _input(config=ConfigSnapshot(replicas=2, cpu=0.5, memory="256m", port=8000))
    )
    assert [s.name for s in specs] == [
        "slipway-shop-production-0f1e2d3c-a2-r0",
        "slipway-shop-production-0f1e2d3c-a2-r1",
    ]
    first = specs[0]
    assert first.port == 8000
    assert first.cpu == 0.5 and first.memory == "256m"
    assert first.env == {
        "DATABASE_URL": "postgres://x",
        "PORT": "8000",
        "HOST": "0.0.0.0",
        "SLIPWAY_DEPLOYMENT_ID": DEP,
        "SLIPWAY_ENVIRONMENT": "production",
        "SLIPWAY_COMMIT_SHA": "c0ffee",
        "CRON_SECRET": "s3cret",
    }
    assert first.labels == {
        "slipway.managed": "true",
        "slipway.project": "shop",
        "slipway.environment": "production",
        "slipway.deployment": DEP,
        "slipway.job": "deploy",
        "slipway.attempt": "2",
        "slipway.replica": "0",
    }
    assert specs[1].labels["slipway.replica"] == "1"


def test_user_variables_cannot_override_port_or_see_credentials() -> None:
    specs = container_specs(
        _input(
            variables={"PORT": "1", "HOST": "x", "SLIPWAY_GIT_TOKEN": "t", "OK": "yes"},
            exposed_ports=(5000,),
        )
    )
    env = specs[0].env
    assert env["PORT"] == "5000" and env["HOST"] == "0.0.0.0"
    assert "SLIPWAY_GIT_TOKEN" not in env
    assert env["OK"] == "yes"


def test_toml_port_replicas_and_start_command_apply_below_the_environment() -> None:
    toml = parse_slipway_toml('[deploy]\nport = 5000\nreplicas = 3\n[build]\nstart = "node a.js"\n')
    specs = container_specs(_input(toml=toml, exposed_ports=(4000,)))
    assert len(specs) == 3
    assert specs[0].port == 5000
    assert specs[0].command == ("node", "a.js")
    forced = container_specs(_input(toml=toml, config=ConfigSnapshot(command="python app.py")))
    assert forced[0].command == ("python", "app.py")


def test_start_command_with_shell_syntax_runs_through_sh() -> None:
    assert start_command("npm run migrate && npm start") == (
        "/bin/sh",
        "-c",
        "npm run migrate && npm start",
    )
    assert start_command("  ") is None
    assert start_command(None) is None


def test_unbalanced_quotes_in_a_start_command_are_a_clear_error() -> None:
    with pytest.raises(DeployInputError, match="start command"):
        start_command('node "app.js')


def test_attempt_below_one_is_refused() -> None:
    with pytest.raises(DeployInputError, match="attempt"):
        container_specs(_input(attempt=0))


def test_attempt_labels_select_exactly_one_attempt() -> None:
    labels = attempt_labels("shop", "production", DEP, "deploy", 1)
    assert labels["slipway.attempt"] == "1" and labels["slipway.job"] == "deploy"


def _state(events: list[EventData]) -> DeploymentState:
    envelopes = [
        new_event(
            e,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=DEP,
            occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
            causation_id=f"c{n}",
            actor="test",
        )
        for n, e in enumerate(events)
    ]
    return fold_deployment(envelopes, DEP)


def test_deploy_input_takes_the_image_and_ports_of_the_pull_output() -> None:
    requested = ev.DeploymentRequested(
        deployment_id=DEP,
        project="shop",
        environment="production",
        deployment_type=DeploymentType.IMAGE,
        source=Source(image_ref="nginx:1"),
        plan=initial_plan(DeploymentType.IMAGE),
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )
    pulled = ev.JobSucceeded(
        job_id="pull",
        attempt=1,
        output={"image_id": "sha256:feed", "exposed_ports": [80]},
    )
    state = _state(
        [
            requested,
            ev.DeploymentAdmitted(deployment_id=DEP),
            ev.JobStarted(
                job_id="pull", job_type=JobType.PULL_EXTERNAL_IMAGE, attempt=1, executor="x"
            ),
            pulled,
        ]
    )
    inp = deploy_input(state, "deploy", 1, variables={}, cron_secret="c")
    assert inp.image == "sha256:feed"
    assert container_specs(inp)[0].port == 80


def test_deploy_input_without_an_image_is_a_clear_error() -> None:
    requested = ev.DeploymentRequested(
        deployment_id=DEP,
        project="shop",
        environment="production",
        deployment_type=DeploymentType.IMAGE,
        source=Source(image_ref="nginx:1"),
        plan=initial_plan(DeploymentType.IMAGE),
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )
    state = _state([requested])
    with pytest.raises(DeployInputError, match="no image"):
        deploy_input(state, "deploy", 1, variables={}, cron_secret="c")
