from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import BootstrapOptions, JetStreamEventStore, Repository, bootstrap
from libs.infra import EmbeddedNats
from tests.integration.jobs.toy import TEST_SETTINGS


@pytest.fixture
def jobs_nats_url(tmp_path: Path) -> Iterator[str]:
    """A server per test: durable job consumers and the short lease TTL are its own."""
    with EmbeddedNats(tmp_path / "nats") as server:
        yield server.url


@pytest.fixture
async def jnc(jobs_nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(jobs_nats_url)
    await bootstrap(conn, BootstrapOptions(lease_ttl_s=TEST_SETTINGS["lease_ttl_s"]))
    yield conn
    await conn.close()


@pytest.fixture
def jrepo(jnc: NATS) -> Repository:
    return Repository(JetStreamEventStore(jnc))
