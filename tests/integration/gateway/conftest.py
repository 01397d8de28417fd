"""A gateway per test (in-process ASGI) on the session NATS, streams bootstrapped once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS

from libs.events.subjects import KV_SECRETS
from libs.eventstore import JetStreamEventStore, Repository, bootstrap
from libs.secrets import SecretStore
from libs.settings import Settings
from services.gateway.main import Gateway, build_gateway
from tests.integration.gateway.helpers import TOKEN

# One key for the whole run: every test's values live in the same `secrets` bucket.
SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    await bootstrap(conn)
    yield conn
    await conn.close()


@pytest.fixture
def settings(nats_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        nats_url=nats_url,
        admin_token=TOKEN,
        secret_key=SECRET_KEY,
        max_webhook_bytes=256 * 1024,
        max_image_upload_bytes=4 * 1024 * 1024,
        max_static_bundle_bytes=4 * 1024 * 1024,
        max_archive_expanded_bytes=8 * 1024 * 1024,
    )


@pytest.fixture
async def gateway(nc: NATS, settings: Settings) -> AsyncIterator[Gateway]:
    gw = await build_gateway(settings, with_admission=False, nc=nc)
    yield gw
    await gw.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as c:
        yield c


@pytest.fixture
def store(nc: NATS) -> JetStreamEventStore:
    return JetStreamEventStore(nc)


@pytest.fixture
def repo(store: JetStreamEventStore) -> Repository:
    return Repository(store)


@pytest.fixture
async def secret_store(nc: NATS) -> SecretStore:
    return SecretStore(await nc.jetstream().key_value(KV_SECRETS), SECRET_KEY)
