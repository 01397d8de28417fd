"""Fixtures of the post-deploy integration tests: a NATS server per test (the job consumers and
the cron lock are its own), the session's Caddy with its config restored afterwards, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS

from libs.eventstore import JetStreamEventStore, Repository
from libs.infra import EmbeddedCaddy
from libs.settings import Settings
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from tests.integration.jobs.toy import TEST_SETTINGS
from tests.support.nats_conn import bootstrapped

LEASE_TTL_S = 3.0


@pytest.fixture
def pd_nats_url(own_nats_url: str) -> str:
    return own_nats_url


@pytest.fixture
async def pnc(pd_nats_url: str) -> AsyncIterator[NATS]:
    async with bootstrapped(pd_nats_url, LEASE_TTL_S) as conn:
        yield conn


@pytest.fixture
def prepo(pnc: NATS) -> Repository:
    return Repository(JetStreamEventStore(pnc))


@pytest.fixture
async def edge(caddy: EmbeddedCaddy, tmp_path: Path) -> AsyncIterator[CaddyAdminProxy]:
    """A proxy on the session's Caddy; the config it had is put back after the test."""
    assert caddy.edge_listen is not None
    async with httpx.AsyncClient() as client:
        before = (await client.get(f"{caddy.admin_url}/config/")).json()
    proxy = CaddyAdminProxy(
        caddy.admin, caddy.edge_listen, routes_dir=tmp_path / "routes", try_duration="2s"
    )
    yield proxy
    await proxy.aclose()
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{caddy.admin_url}/load", json=before)
        response.raise_for_status()


@pytest.fixture
def pd_settings(pd_nats_url: str, caddy: EmbeddedCaddy, tmp_path: Path) -> Settings:
    return Settings(
        **{**TEST_SETTINGS, "lease_ttl_s": LEASE_TTL_S, "lease_refresh_s": 0.5},  # type: ignore[arg-type]
        nats_url=pd_nats_url,
        edge_port=caddy.edge_port,
        base_domain="localhost",
        secret_key=Fernet.generate_key().decode(),
        static_root=tmp_path / "static",
        cron_tick_s=0.2,
        cron_minute_s=1.0,
        screenshot_timeout_s=60.0,
    )
