"""Two real projector processes: one applies, the other stands by; SIGKILL hands over."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore
from libs.infra import free_port
from services.projector.db import make_engine, sessions
from tests.integration.projector.conftest import LOCK_TTL_S
from tests.integration.projector.helpers import assert_projection_is_the_fold, seed, wait_until

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-admin-token"
APPLIED = re.compile(r"applied (\d+)\.\.(\d+)")


@contextmanager
def projector_process(
    nats_url: str, database_url: str, log_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        SLIPWAY_NATS_URL=nats_url,
        DATABASE_URL=database_url,
        SLIPWAY_API_PORT=str(port),
        SLIPWAY_ADMIN_TOKEN=TOKEN,
        SLIPWAY_DATA_DIR=str(log_path.parent),
        SLIPWAY_LEASE_REFRESH_S="0.3",
        SLIPWAY_ACK_WAIT_S="2",
        SLIPWAY_PROJECTOR_FETCH_WAIT_S="0.2",
        SLIPWAY_PROJECTOR_STANDBY_POLL_S="0.2",
        SLIPWAY_PROJECTOR_BATCH_SIZE="50",
        SLIPWAY_LOG_LEVEL="DEBUG",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.projector.main"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def health(client: httpx.AsyncClient, url: str) -> dict[str, object] | None:
    try:
        resp = await client.get(f"{url}/healthz", timeout=2)
    except httpx.TransportError:
        return None
    projector: dict[str, object] = resp.json().get("projector", {})
    return projector if resp.status_code == 200 else None


def applied_ranges(log_path: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in APPLIED.findall(log_path.read_text(errors="replace"))]


async def test_killing_the_active_projector_hands_over_with_nothing_lost_or_doubled(
    projector_nats: str, pnc: NATS, pstore: JetStreamEventStore, postgres_database: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    logs = [tmp_path / "a" / "projector.log", tmp_path / "b" / "projector.log"]
    for path in logs:
        path.parent.mkdir()
    await seed(pnc, deployments=10, seed=1)
    with (
        projector_process(projector_nats, postgres_database, logs[0]) as (proc_a, url_a),
        projector_process(projector_nats, postgres_database, logs[1]) as (proc_b, url_b),
    ):
        async with httpx.AsyncClient() as client:
            await _hand_over(client, pnc, pstore, (proc_a, url_a), (proc_b, url_b))
    ranges = sorted(applied_ranges(logs[0]) + applied_ranges(logs[1]))
    assert ranges, "the DEBUG log names every applied range"
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start > end, f"a range was applied twice: {ranges}"
    engine = make_engine(postgres_database)
    try:
        await assert_projection_is_the_fold(pstore, sessions(engine))
    finally:
        await engine.dispose()


async def _hand_over(
    client: httpx.AsyncClient,
    pnc: NATS,
    pstore: JetStreamEventStore,
    a: tuple[subprocess.Popen[bytes], str],
    b: tuple[subprocess.Popen[bytes], str],
) -> None:
    (proc_a, url_a), (proc_b, url_b) = a, b
    roles: dict[str, object] = {}

    async def both_up() -> bool:
        for url in (url_a, url_b):
            status = await health(client, url)
            if status is None:
                return False
            roles[url] = status["role"]
        return sorted(map(str, roles.values())) == ["active", "standby"]

    await wait_until(both_up, timeout=60, what="one active, one standing by")
    active, standby = (url_a, url_b) if roles[url_a] == "active" else (url_b, url_a)
    victim = proc_a if active == url_a else proc_b
    for n in range(2, 6):  # events keep coming while the active one dies
        await seed(pnc, deployments=8, seed=n)
        await asyncio.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    for n in range(6, 10):
        await seed(pnc, deployments=8, seed=n)
        await asyncio.sleep(0.3)
    last = await pstore.last_seq()

    async def survivor_caught_up() -> bool:
        status = await health(client, standby)
        return (
            status is not None
            and status["role"] == "active"
            and status["lag"] == 0
            and (status["checkpoint"] == last)
        )

    await wait_until(survivor_caught_up, timeout=10 * LOCK_TTL_S + 30, what="takeover")
