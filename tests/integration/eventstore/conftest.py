from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore, Repository, bootstrap


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
