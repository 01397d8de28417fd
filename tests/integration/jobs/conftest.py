from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore, Repository
from tests.integration.jobs.toy import TEST_SETTINGS
from tests.support.nats_conn import bootstrapped


@pytest.fixture
def jobs_nats_url(own_nats_url: str) -> str:
    return own_nats_url


@pytest.fixture
async def jnc(jobs_nats_url: str) -> AsyncIterator[NATS]:
    async with bootstrapped(jobs_nats_url, TEST_SETTINGS["lease_ttl_s"]) as conn:
        yield conn


@pytest.fixture
def jrepo(jnc: NATS) -> Repository:
    return Repository(JetStreamEventStore(jnc))
