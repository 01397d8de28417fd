"""The post-deploy ports held to one contract: the fakes and the real NATS adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from nats.aio.client import Client as NATS

from libs.artifacts import ArtifactNotFound, Artifacts, FakeArtifactStore, NatsArtifactStore
from libs.events.subjects import KV_CRONS, KV_LOCKS, KV_SECRETS, cron_filter, cron_key
from libs.events.values import CronSpec
from services.postdeploy.adapters.cron_secret import CronSecretUnreadable, KvCronSecrets
from services.postdeploy.adapters.edge_http import HttpxEdgeCaller
from services.postdeploy.adapters.fakes import FakeCronStore
from services.postdeploy.adapters.kv_crons import KvCronStore
from services.postdeploy.adapters.runner_lock import KvRunnerLock
from services.postdeploy.cron_schedule import CronClock, CronRecord, new_record
from services.postdeploy.ports import CronConflict, CronStore
from tests.integration.postdeploy.conftest import LEASE_TTL_S
from tests.support.names import unique


def record(env: str, dep: str, index: int = 0) -> CronRecord:
    return new_record(
        cron_key(env, dep, index),
        project="p",
        environment="e",
        environment_id=env,
        deployment_id=dep,
        admission=1,
        index=index,
        spec=CronSpec(schedule="* * * * *", path="/x"),
        now=1_750_000_000.0,
        clock=CronClock(60.0),
    )


@pytest.fixture(params=["fake", "kv"])
async def cron_store(request: pytest.FixtureRequest, pnc: NATS) -> AsyncIterator[CronStore]:
    if request.param == "fake":
        yield FakeCronStore()
        return
    yield KvCronStore(await pnc.jetstream().key_value(KV_CRONS), pnc.jetstream())


async def test_cron_store_lists_by_environment_and_deployment(cron_store: CronStore) -> None:
    for env, dep, i in (("a_x", "d1", 0), ("a_x", "d1", 1), ("a_x", "d2", 0), ("a_y", "d1", 0)):
        await cron_store.create(record(env, dep, i))
    assert [e.record.key for e in await cron_store.entries(cron_filter("a_x", "d1"))] == [
        "a_x.d1.0",
        "a_x.d1.1",
    ]
    assert len(await cron_store.entries(cron_filter("a_x"))) == 3
    assert len(await cron_store.entries()) == 4
    assert await cron_store.entries(cron_filter("a_z")) == []


async def test_cron_store_updates_only_from_the_revision_read(cron_store: CronStore) -> None:
    rev = await cron_store.create(record("a_x", "d1"))
    with pytest.raises(CronConflict):
        await cron_store.create(record("a_x", "d1"))
    changed = record("a_x", "d1").model_copy(update={"runs": 1})
    new_rev = await cron_store.update(changed, last=rev)
    with pytest.raises(CronConflict):
        await cron_store.update(changed, last=rev)  # a second claimer of the same revision
    (entry,) = await cron_store.entries("a_x.d1.0")
    assert (entry.record.runs, entry.revision) == (1, new_rev)


async def test_cron_store_deletes_and_recreates(cron_store: CronStore) -> None:
    rev = await cron_store.create(record("a_x", "d1"))
    with pytest.raises(CronConflict):
        await cron_store.delete("a_x.d1.0", last=rev + 100)
    await cron_store.delete("a_x.d1.0", last=rev)
    await cron_store.delete("a_x.d1.0")  # already gone: fine
    assert await cron_store.entries() == []
    await cron_store.create(record("a_x", "d1"))  # a deleted key can be created again
    assert len(await cron_store.entries()) == 1


@pytest.fixture(params=["fake", "nats"])
async def artifacts(request: pytest.FixtureRequest, pnc: NATS) -> Artifacts:
    if request.param == "fake":
        return FakeArtifactStore()
    return NatsArtifactStore(pnc.jetstream())


async def test_artifacts_store_and_read_back_bytes(artifacts: Artifacts) -> None:
    assert await artifacts.size("screenshots/d1.png") is None
    with pytest.raises(ArtifactNotFound):
        await artifacts.get_bytes("screenshots/d1.png")
    assert await artifacts.put_bytes("screenshots/d1.png", b"\x89PNG" * 100) == 400
    assert await artifacts.get_bytes("screenshots/d1.png") == b"\x89PNG" * 100
    assert await artifacts.size("screenshots/d1.png") == 400
    await artifacts.put_bytes("screenshots/d1.png", b"new")
    assert await artifacts.get_bytes("screenshots/d1.png") == b"new"
    await artifacts.delete("screenshots/d1.png")
    assert await artifacts.size("screenshots/d1.png") is None


async def test_the_runner_lock_is_never_stolen_and_is_taken_over_after_its_ttl(
    pnc: NATS,
) -> None:
    kv = await pnc.jetstream().key_value(KV_LOCKS)
    key = unique("lock")
    a = KvRunnerLock(kv, "a", refresh_s=0.5, key=key)
    b = KvRunnerLock(kv, "b", refresh_s=0.5, key=key)
    assert await a.hold()
    assert not await b.hold()
    await asyncio.sleep(LEASE_TTL_S + 0.5)  # a keeps refreshing: still a's
    assert await a.hold() and not await b.hold()
    # a dies without releasing: its refresh stops, the TTL expires the lock.
    assert a._lease is not None and a._lease._task is not None
    a._lease._task.cancel()
    await asyncio.sleep(LEASE_TTL_S + 0.5)
    assert await b.hold()
    await b.release()
    c = KvRunnerLock(kv, "c", refresh_s=0.5, key=key)
    assert await c.hold()  # a released lock is free at once
    await c.release()


async def test_the_cron_secret_is_read_and_decrypted(pnc: NATS) -> None:
    kv = await pnc.jetstream().key_value(KV_SECRETS)
    key = Fernet.generate_key()
    await kv.put("shop.prod.CRON_SECRET", Fernet(key).encrypt(b"old"))
    await kv.put("shop.prod.CRON_SECRET", Fernet(key).encrypt(b"current"))
    assert await KvCronSecrets(kv, key).cron_secret("shop", "prod") == "current"
    assert await KvCronSecrets(kv, key).cron_secret("shop", "staging") is None
    with pytest.raises(CronSecretUnreadable, match="cannot be decrypted"):
        await KvCronSecrets(kv, Fernet.generate_key()).cron_secret("shop", "prod")
    with pytest.raises(CronSecretUnreadable, match="SLIPWAY_SECRET_KEY is not set"):
        await KvCronSecrets(kv, None).cron_secret("shop", "prod")
    await kv.delete("shop.prod.CRON_SECRET")
    assert await KvCronSecrets(kv, key).cron_secret("shop", "prod") is None


async def test_an_unreachable_edge_is_a_result_with_the_reason_not_an_error() -> None:
    from libs.infra import free_port

    caller = HttpxEdgeCaller(f"http://127.0.0.1:{free_port()}")
    try:
        result = await caller.call("GET", "prod.shop.localhost", "/x", {}, 2.0)
    finally:
        await caller.aclose()
    assert result.status is None
    assert result.error


async def test_cron_store_lists_every_record_every_time(cron_store: CronStore) -> None:
    # nats-py's KV watcher can report "no more values" before the first one arrives; the
    # listing must never see a busy bucket as empty or partial.
    for i in range(40):
        await cron_store.create(record("a_x", f"d{i % 4}", i))
    counts = [len(await cron_store.entries()) for _ in range(25)]
    assert set(counts) == {40}
