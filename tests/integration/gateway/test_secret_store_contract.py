"""One contract for the secrets port, run against the real KV adapter and the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS

from libs.events.subjects import KV_SECRETS
from libs.secrets import (
    FakeSecretStore,
    InvalidSecretKey,
    InvalidSecretName,
    SecretNotFound,
    Secrets,
    SecretStore,
    UndecryptableSecret,
)
from tests.support.names import unique


@pytest.fixture(params=["kv", "fake"])
async def secrets(request: pytest.FixtureRequest, nc: NATS) -> AsyncIterator[Secrets]:
    if request.param == "fake":
        yield FakeSecretStore()
    else:
        yield SecretStore(await nc.jetstream().key_value(KV_SECRETS), Fernet.generate_key())


async def test_each_put_gets_a_new_revision_and_each_revision_keeps_its_value(
    secrets: Secrets,
) -> None:
    project = unique("p")
    first = await secrets.put(project, "prod", "API_KEY", "one")
    second = await secrets.put(project, "prod", "API_KEY", "two")
    assert second > first
    assert await secrets.get(project, "prod", "API_KEY", first) == "one"
    assert await secrets.get(project, "prod", "API_KEY", second) == "two"


async def test_a_deleted_key_keeps_its_old_revisions(secrets: Secrets) -> None:
    project = unique("p")
    revision = await secrets.put(project, "prod", "TOKEN", "kept")
    await secrets.delete(project, "prod", "TOKEN")
    assert await secrets.get(project, "prod", "TOKEN", revision) == "kept"


async def test_a_revision_of_another_key_or_none_at_all_is_not_found(secrets: Secrets) -> None:
    project = unique("p")
    revision = await secrets.put(project, "prod", "A", "a")
    with pytest.raises(SecretNotFound):
        await secrets.get(project, "prod", "B", revision)
    with pytest.raises(SecretNotFound):
        await secrets.get(project, "staging", "A", revision)
    with pytest.raises(SecretNotFound):
        await secrets.get(project, "prod", "A", revision + 10_000_000)


async def test_names_that_are_not_environment_variables_are_refused(secrets: Secrets) -> None:
    for bad in ("1ABC", "A-B", "A.B", "", "A B"):
        with pytest.raises(InvalidSecretName):
            await secrets.put(unique("p"), "prod", bad, "x")


async def test_values_are_encrypted_at_rest_and_need_the_same_key(nc: NATS) -> None:
    kv = await nc.jetstream().key_value(KV_SECRETS)
    project = unique("p")
    store = SecretStore(kv, Fernet.generate_key())
    revision = await store.put(project, "prod", "PASSWORD", "hunter2-" + project)
    raw = await kv.get(f"{project}.prod.PASSWORD", revision=revision)
    assert raw.value is not None and project.encode() not in raw.value
    with pytest.raises(UndecryptableSecret):
        await SecretStore(kv, Fernet.generate_key()).get(project, "prod", "PASSWORD", revision)
    with pytest.raises(InvalidSecretKey):
        SecretStore(kv, "not-a-key")
    with pytest.raises(InvalidSecretKey):
        SecretStore(kv, None)
