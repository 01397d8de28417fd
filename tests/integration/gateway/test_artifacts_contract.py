"""One contract for the artifacts port, against the real object store and the fake."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from libs.events.subjects import OBJECT_STORE
from services.gateway.adapters.artifacts import (
    ArtifactNotFound,
    Artifacts,
    FakeArtifacts,
    JetStreamArtifacts,
)
from tests.support.names import unique


@pytest.fixture(params=["object-store", "fake"])
async def artifacts(request: pytest.FixtureRequest, nc: NATS) -> AsyncIterator[Artifacts]:
    if request.param == "fake":
        yield FakeArtifacts()
    else:
        yield JetStreamArtifacts(await nc.jetstream().object_store(OBJECT_STORE), chunk_bytes=4096)


async def test_a_file_is_stored_in_chunks_and_read_back_whole(artifacts: Artifacts) -> None:
    data = os.urandom(3 * 4096 + 17)
    name = f"uploads/{unique('a')}.tar"
    assert await artifacts.put_file(name, io.BytesIO(data)) == len(data)
    assert await artifacts.get_bytes(name) == data


async def test_a_missing_object_is_not_found(artifacts: Artifacts) -> None:
    with pytest.raises(ArtifactNotFound):
        await artifacts.get_bytes(f"bundles/{unique('missing')}")
