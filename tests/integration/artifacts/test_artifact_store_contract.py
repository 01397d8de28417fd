"""The ArtifactStore contract, held by the NATS object store adapter and by the fake alike."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ObjectStoreConfig

from libs.artifacts import ArtifactNotFound, ArtifactStore, FakeArtifactStore, NatsArtifactStore
from tests.support.names import unique


@pytest.fixture(params=["nats", "fake"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ArtifactStore]:
    if request.param == "fake":
        yield FakeArtifactStore()
        return
    nc = await nats.connect(request.getfixturevalue("nats_url"))
    js = nc.jetstream()
    bucket = unique("artifacts")
    await js.create_object_store(bucket, config=ObjectStoreConfig(bucket=bucket))
    try:
        yield NatsArtifactStore(js, bucket)
    finally:
        await js.delete_object_store(bucket)
        await nc.close()


async def test_a_stored_file_comes_back_byte_for_byte(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(700_000)  # several chunks
    (tmp_path / "in").write_bytes(data)
    assert await store.put_file("sources/d1.tar.gz", tmp_path / "in") == len(data)
    assert await store.get_file("sources/d1.tar.gz", tmp_path / "out") == len(data)
    assert (tmp_path / "out").read_bytes() == data


async def test_putting_a_name_again_replaces_it(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    (tmp_path / "b").write_bytes(b"second")
    await store.put_file("static/d1.tar.gz", tmp_path / "a")
    await store.put_file("static/d1.tar.gz", tmp_path / "b")
    await store.get_file("static/d1.tar.gz", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"second"


async def test_a_missing_object_is_artifact_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound):
        await store.get_file("sources/none.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


async def test_a_deleted_object_is_gone_and_deleting_twice_is_fine(
    store: ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "a").write_bytes(b"x")
    await store.put_file("sources/d2.tar.gz", tmp_path / "a")
    await store.delete("sources/d2.tar.gz")
    await store.delete("sources/d2.tar.gz")
    with pytest.raises(ArtifactNotFound):
        await store.get_file("sources/d2.tar.gz", tmp_path / "out")
