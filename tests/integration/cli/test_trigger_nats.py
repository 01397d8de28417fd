"""`slipway trigger` against a real NATS JetStream: the message lands in the work queue with the
trigger id as its Nats-Msg-Id, and the result comes back on the subject or from the KV.

A private server per module: the shared one may hold a gateway's work-queue consumer, which would
take these triggers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from typer.testing import CliRunner, Result

from libs.events.subjects import (
    KV_TRIGGER_RESULTS,
    TRIGGERS_DEPLOY,
    TRIGGERS_STREAM,
    trigger_result_subject,
)
from libs.eventstore import BootstrapOptions, bootstrap
from libs.infra import EmbeddedNats, free_port
from libs.settings import Settings
from libs.triggers import TriggerResult
from slipway.cli import app
from slipway.client import Cli
from tests.support.names import unique

DEP_ID = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b"


@pytest.fixture(scope="module")
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedNats(tmp_path_factory.mktemp("trigger-nats")) as server:
        yield server.url


@pytest.fixture
async def bootstrapped(private_nats: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(private_nats)
    await bootstrap(nc, BootstrapOptions())
    yield nc
    await nc.close()


def run_cli(url: str, *args: str, tmp_path: Path) -> Result:
    cli = Cli(settings=Settings(nats_url=url, data_dir=tmp_path))
    return CliRunner().invoke(app, list(args), obj=cli)


def result_for(trigger_id: str, **extra: object) -> bytes:
    fields: dict[str, object] = {
        "trigger_id": trigger_id,
        "accepted": True,
        "deployment_id": DEP_ID,
        "seq": 4,
        "created": True,
        "status": 202,
        "at": datetime.now(UTC),
    }
    fields.update(extra)
    return TriggerResult.model_validate(fields).model_dump_json().encode()


async def test_a_trigger_is_queued_once_and_its_published_result_is_printed(
    bootstrapped: NATS, private_nats: str, tmp_path: Path
) -> None:
    nc = bootstrapped
    trigger_id = unique("ci")
    seen: list[Msg] = []

    async def answer(msg: Msg) -> None:  # plays the gateway
        seen.append(msg)
        await nc.publish(trigger_result_subject(trigger_id), result_for(trigger_id))

    sub = await nc.subscribe(TRIGGERS_DEPLOY, cb=answer)
    result = await asyncio.to_thread(
        run_cli,
        private_nats,
        *("trigger", "hello", "production", "--branch", "main", "--trigger-id", trigger_id),
        tmp_path=tmp_path,
    )
    await sub.unsubscribe()
    assert result.exit_code == 0, result.output
    assert f"trigger {trigger_id}: deployment {DEP_ID}" in result.stdout
    assert seen[0].headers is not None and seen[0].headers["Nats-Msg-Id"] == trigger_id
    assert json.loads(seen[0].data) == {
        "trigger_id": trigger_id,
        "project": "hello",
        "environment": "production",
        "branch": "main",
    }
    js = nc.jetstream()
    stored = await js.get_last_msg(TRIGGERS_STREAM, TRIGGERS_DEPLOY)
    assert json.loads(stored.data or b"{}")["trigger_id"] == trigger_id


async def test_a_repeated_trigger_is_answered_from_the_results_bucket(
    bootstrapped: NATS, private_nats: str, tmp_path: Path
) -> None:
    trigger_id = unique("again")
    kv = await bootstrapped.jetstream().key_value(KV_TRIGGER_RESULTS)
    await kv.put(trigger_id, result_for(trigger_id, created=False, status=200))
    result = await asyncio.to_thread(
        run_cli,
        private_nats,
        *("trigger", "hello", "production", "--trigger-id", trigger_id, "--json"),
        tmp_path=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] is False


async def test_no_answer_within_the_timeout_exits_1(
    bootstrapped: NATS, private_nats: str, tmp_path: Path
) -> None:
    trigger_id = unique("late")
    result = await asyncio.to_thread(
        run_cli,
        private_nats,
        *("trigger", "hello", "production", "--trigger-id", trigger_id, "--timeout", "0.5"),
        tmp_path=tmp_path,
    )
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"error: no result for trigger {trigger_id} within")


def test_a_server_without_slipways_streams_is_named(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "bare") as bare:
        result = run_cli(bare.url, "trigger", "hello", "production", tmp_path=tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(
        f"error: no stream takes {TRIGGERS_DEPLOY} on {bare.url}"
    )


def test_an_unreachable_nats_is_one_line(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    result = run_cli(url, "trigger", "hello", "production", tmp_path=tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach NATS at {url}")
