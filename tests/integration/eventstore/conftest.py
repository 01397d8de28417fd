from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore, Repository, bootstrap
from libs.infra import EmbeddedNats


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    await bootstrap(conn)
    yield conn
    await conn.close()


@pytest.fixture
def store(nc: NATS) -> JetStreamEventStore:
    return JetStreamEventStore(nc)


@pytest.fixture
def repo(store: JetStreamEventStore) -> Repository:
    return Repository(store)


@pytest.fixture
async def fresh_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A server of this test alone, with an empty store (nothing bootstrapped yet)."""
    async with EmbeddedNats(tmp_path / "nats") as server:
        yield server
