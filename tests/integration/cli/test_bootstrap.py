"""`slipway bootstrap` (the compose stack's one-shot step): streams, buckets and the schema."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import nats
from typer.testing import CliRunner

from libs.events.subjects import EVENTS_STREAM, KV_TRIGGER_RESULTS, LOGS_STREAM, TRIGGERS_STREAM
from libs.infra import EmbeddedNats, free_port
from slipway.cli import app


def test_bootstrap_prepares_nats_and_the_read_model_and_can_run_again(tmp_path: Path) -> None:
    db = tmp_path / "read.db"
    with EmbeddedNats(tmp_path / "nats") as server:
        env = {"SLIPWAY_NATS_URL": server.url, "DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
        first = CliRunner().invoke(app, ["bootstrap"], env=env)
        again = CliRunner().invoke(app, ["bootstrap"], env=env)

        async def streams() -> list[str]:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            names = [(await js.stream_info(n)).config.name or "" for n in
                     (EVENTS_STREAM, LOGS_STREAM, TRIGGERS_STREAM)]  # fmt: skip
            await js.key_value(KV_TRIGGER_RESULTS)
            await nc.close()
            return names

        names = asyncio.run(streams())
    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert names == [EVENTS_STREAM, LOGS_STREAM, TRIGGERS_STREAM]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert "alembic_version" in tables


def test_bootstrap_without_its_urls_is_one_line() -> None:
    result = CliRunner().invoke(
        app, ["bootstrap"], env={"SLIPWAY_NATS_URL": None, "DATABASE_URL": None}
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: SLIPWAY_NATS_URL is not set (bootstrap needs the NATS to prepare)"
    ]


def test_bootstrap_gives_up_on_an_unreachable_nats_in_one_line(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    env = {"SLIPWAY_NATS_URL": url, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    result = CliRunner().invoke(app, ["bootstrap", "--wait", "0.2"], env=env)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach NATS at {url}")
