"""Real servers for the projector tests: the session PostgreSQL (a database per test), SQLite
files, and a NATS server per test — the projector consumes the whole event stream with a durable
consumer and a lock key of fixed names, so tests cannot share one stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore
from tests.support.nats_conn import bootstrapped
from tests.unit.projector.support import Db, open_db

LOCK_TTL_S = 2.0


@pytest.fixture
async def db(postgres_database: str) -> AsyncIterator[Db]:
    """A migrated, empty read model in a PostgreSQL database of its own."""
    database = await open_db(postgres_database)
    try:
        yield database
    finally:
        await database.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def read_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty read model URL: a PostgreSQL database of its own, or a SQLite file."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'readmodel.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def projector_nats(own_nats_url: str) -> str:
    return own_nats_url


@pytest.fixture
async def pnc(projector_nats: str) -> AsyncIterator[NATS]:
    async with bootstrapped(projector_nats, LOCK_TTL_S) as conn:
        yield conn


@pytest.fixture
def pstore(pnc: NATS) -> JetStreamEventStore:
    return JetStreamEventStore(pnc)
