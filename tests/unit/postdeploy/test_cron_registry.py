from __future__ import annotations

import pytest

from libs.events.values import CronSpec
from services.postdeploy.adapters.fakes import FakeCronStore, key_matches
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.crons import (
    Superseded,
    register,
    remove_deployment,
    split_active,
)

CLOCK = CronClock(60.0)
NIGHTLY = CronSpec(schedule="0 3 * * *", path="/cron/nightly")
HOURLY = CronSpec(schedule="0 * * * *", path="/cron/hourly", method="POST")


async def reg(
    store: FakeCronStore,
    dep: str,
    admission: int,
    specs: tuple[CronSpec, ...],
    env: str = "prod",
    now: float = 1_750_000_000.0,
) -> object:
    return await register(
        store,
        project="shop",
        environment=env,
        deployment_id=dep,
        admission=admission,
        specs=specs,
        now=now,
        clock=CLOCK,
    )


async def test_both_crons_of_a_deployment_are_registered_with_their_owner() -> None:
    store = FakeCronStore()
    await reg(store, "d1", 1, (NIGHTLY, HOURLY))
    records = [e.record for e in await store.entries()]
    assert [r.key for r in records] == ["shop_prod.d1.0", "shop_prod.d1.1"]
    assert {r.deployment_id for r in records} == {"d1"}
    assert [(r.method, r.path) for r in records] == [
        ("GET", "/cron/nightly"),
        ("POST", "/cron/hourly"),
    ]


async def test_a_newer_deployment_replaces_the_environment_s_crons() -> None:
    store = FakeCronStore()
    await reg(store, "d1", 1, (NIGHTLY, HOURLY))
    await reg(store, "d1", 1, (NIGHTLY,), env="staging")
    registration = await reg(store, "d2", 2, (HOURLY,))
    keys = [e.record.key for e in await store.entries()]
    assert keys == ["shop_prod.d2.0", "shop_staging.d1.0"]  # staging is another environment
    assert registration.replaced == ("shop_prod.d1.0", "shop_prod.d1.1")  # type: ignore[attr-defined]


async def test_a_deployment_without_crons_removes_the_old_ones() -> None:
    store = FakeCronStore()
    await reg(store, "d1", 1, (NIGHTLY,))
    await reg(store, "d2", 2, ())
    assert await store.entries() == []


async def test_an_older_deployment_cannot_take_the_crons_back() -> None:
    store = FakeCronStore()
    await reg(store, "d2", 2, (HOURLY,))
    with pytest.raises(Superseded, match="d2"):
        await reg(store, "d1", 1, (NIGHTLY,))
    assert [e.record.deployment_id for e in await store.entries()] == ["d2"]


async def test_registering_again_keeps_the_runs_already_fired() -> None:
    store = FakeCronStore()
    await reg(store, "d1", 1, (NIGHTLY,))
    entry = (await store.entries())[0]
    fired = entry.record.model_copy(update={"last_slot": entry.record.last_slot + 600, "runs": 3})
    await store.update(fired, last=entry.revision)
    await reg(store, "d1", 1, (NIGHTLY,), now=1_750_000_999.0)  # a retried attempt
    again = (await store.entries())[0].record
    assert (again.last_slot, again.runs) == (fired.last_slot, 3)


async def test_stopping_removes_only_the_deployment_s_own_crons() -> None:
    store = FakeCronStore()
    await reg(store, "d1", 1, (NIGHTLY,))
    await reg(store, "d1", 1, (HOURLY,), env="staging")
    await reg(store, "d9", 9, (HOURLY,), env="preview")
    assert await remove_deployment(store, "shop", "prod", "d1") == 1
    keys = [e.record.key for e in await store.entries()]
    assert keys == ["shop_preview.d9.0", "shop_staging.d1.0"]


async def test_only_the_newest_admission_of_an_environment_is_active() -> None:
    store = FakeCronStore()
    await reg(store, "d2", 2, (HOURLY,))
    # A racing older registration that slipped in (written straight to the store).
    await reg(store, "d1", 1, (NIGHTLY,), env="staging")
    old = (await store.entries("shop_staging.>"))[0].record
    await store.create(
        old.model_copy(
            update={"key": "shop_prod.d1.0", "environment_id": "shop_prod", "environment": "prod"}
        )
    )
    active, stale = split_active(await store.entries())
    assert sorted(e.record.key for e in active) == ["shop_prod.d2.0", "shop_staging.d1.0"]
    assert [e.record.key for e in stale] == ["shop_prod.d1.0"]


@pytest.mark.parametrize(
    ("pattern", "key", "match"),
    [
        (">", "a_b.d1.0", True),
        ("a_b.>", "a_b.d1.0", True),
        ("a_b.>", "a_bc.d1.0", False),
        ("a_b.d1.*", "a_b.d1.3", True),
        ("a_b.d1.*", "a_b.d10.3", False),
        ("a_b.d1.0", "a_b.d1.0", True),
    ],
)
def test_the_fake_store_matches_keys_like_nats(pattern: str, key: str, match: bool) -> None:
    assert key_matches(pattern, key) is match


def test_cron_keys_and_filters_refuse_what_would_widen_them() -> None:
    from libs.events.subjects import cron_filter, cron_key

    assert cron_key("shop_prod", "d1", 2) == "shop_prod.d1.2"
    assert cron_filter() == ">"
    assert cron_filter("shop_prod") == "shop_prod.>"
    assert cron_filter("shop_prod", "d1") == "shop_prod.d1.*"
    for bad in ("a.b", "*", ">", ""):
        with pytest.raises(ValueError):
            cron_key("shop_prod", bad, 0)
    with pytest.raises(ValueError, match=">= 0"):
        cron_key("shop_prod", "d1", -1)
