"""The Variables port: FakeVariables and KvVariables (KV `secrets`, Fernet) hold one contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats
import pytest
from cryptography.fernet import Fernet

from libs.events import subjects
from libs.eventstore import bootstrap
from services.deploy.adapters.kv_variables import KvVariables
from services.deploy.variables import FakeVariables, VariableError, Variables
from tests.support.names import unique


@dataclass
class Backend:
    variables: Variables
    put: Callable[[str, str, str], Awaitable[int]]  # name, value, environment -> revision
    delete: Callable[[str, str], Awaitable[None]]
    project: str


@pytest.fixture(params=["fake", "kv"])
async def backend(request: pytest.FixtureRequest, nats_url: str) -> AsyncIterator[Backend]:
    project = unique("vars")
    if request.param == "fake":
        fake = FakeVariables()

        async def fput(name: str, value: str, env: str) -> int:
            return fake.put(project, env, name, value)

        async def fdelete(name: str, env: str) -> None:
            fake.delete(project, env, name)

        yield Backend(fake, fput, fdelete, project)
        return
    nc = await nats.connect(nats_url)
    await bootstrap(nc)
    kv = await nc.jetstream().key_value(subjects.KV_SECRETS)
    key = Fernet.generate_key()
    fernet = Fernet(key)

    async def kput(name: str, value: str, env: str) -> int:
        return await kv.put(subjects.secret_key(project, env, name), fernet.encrypt(value.encode()))

    async def kdelete(name: str, env: str) -> None:
        await kv.delete(subjects.secret_key(project, env, name))

    try:
        yield Backend(KvVariables(kv, key), kput, kdelete, project)
    finally:
        await nc.close()


async def test_values_are_read_at_exactly_the_snapshot_revisions(backend: Backend) -> None:
    first = await backend.put("GREETING", "one", "prod")
    await backend.put("GREETING", "two", "prod")
    token = await backend.put("API_TOKEN", "t0k3n", "prod")
    values = await backend.variables.resolve(
        backend.project, "prod", {"GREETING": first, "API_TOKEN": token}
    )
    assert values == {"GREETING": "one", "API_TOKEN": "t0k3n"}
    assert await backend.variables.resolve(backend.project, "prod", {}) == {}


async def test_a_revision_of_another_variable_or_environment_is_not_found(backend: Backend) -> None:
    other = await backend.put("OTHER", "x", "prod")
    staging = await backend.put("GREETING", "staging value", "staging")
    for name, revision, env in [("GREETING", other, "prod"), ("GREETING", staging, "prod")]:
        with pytest.raises(VariableError, match=f"variable {name} of .* at revision {revision}"):
            await backend.variables.resolve(backend.project, env, {name: revision})
    with pytest.raises(VariableError, match="revision 0"):
        await backend.variables.resolve(backend.project, "prod", {"GREETING": 0})


async def test_the_cron_secret_is_the_environments_latest(backend: Backend) -> None:
    with pytest.raises(VariableError, match="has no CRON_SECRET"):
        await backend.variables.cron_secret(backend.project, "prod")
    await backend.put("CRON_SECRET", "old", "prod")
    await backend.put("CRON_SECRET", "new", "prod")
    await backend.put("CRON_SECRET", "staging", "staging")
    assert await backend.variables.cron_secret(backend.project, "prod") == "new"
    await backend.delete("CRON_SECRET", "prod")
    with pytest.raises(VariableError, match="has no CRON_SECRET"):
        await backend.variables.cron_secret(backend.project, "prod")


async def test_kv_values_need_the_right_secret_key(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await bootstrap(nc)
        kv = await nc.jetstream().key_value(subjects.KV_SECRETS)
        project = unique("vars")
        token = Fernet(Fernet.generate_key()).encrypt(b"secret")
        revision = await kv.put(subjects.secret_key(project, "prod", "A"), token)
        wrong = KvVariables(kv, Fernet.generate_key())
        with pytest.raises(VariableError, match="cannot be decrypted with this SLIPWAY_SECRET_KEY"):
            await wrong.resolve(project, "prod", {"A": revision})
        with pytest.raises(VariableError, match="SLIPWAY_SECRET_KEY is not set"):
            await KvVariables(kv, None).resolve(project, "prod", {"A": revision})
        with pytest.raises(VariableError, match="not a valid Fernet key"):
            await KvVariables(kv, "short").resolve(project, "prod", {"A": revision})
    finally:
        await nc.close()
