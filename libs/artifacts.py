"""Files shared between services on different hosts: the `artifacts` object store (§2).

Object names come from `libs.events.subjects.object_name`. `put_file`/`get_file` stream from and
to disk (sources, bundles, static files); the small post-deploy artifacts (screenshots, SBOMs,
source maps) go through `put_bytes`/`get_bytes`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from nats.js.api import ObjectMeta, ObjectMetaOptions
from nats.js.client import JetStreamContext
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from libs.events.subjects import OBJECT_STORE


class ArtifactNotFound(LookupError):
    """No object of that name is stored."""


class ArtifactStore(Protocol):
    """Named files in the object store."""

    async def put_file(self, name: str, path: Path) -> int:
        """Store the file at `path` as `name` (replacing an older one); returns its size."""
        ...

    async def get_file(self, name: str, path: Path) -> int:
        """Write object `name` to `path`; returns its size. Raises ArtifactNotFound."""
        ...

    async def delete(self, name: str) -> None:
        """Remove `name`; a missing object is not an error."""
        ...


class ArtifactBytes(Protocol):
    """Small objects held in memory (screenshots, SBOMs, source maps)."""

    async def put_bytes(self, name: str, data: bytes) -> int:
        """Store `data` as `name` (replacing an older one); returns its size."""
        ...

    async def get_bytes(self, name: str) -> bytes:
        """The content of `name`. Raises ArtifactNotFound."""
        ...

    async def size(self, name: str) -> int | None:
        """Size of `name`, None when it is not stored."""
        ...


class Artifacts(ArtifactStore, ArtifactBytes, Protocol):
    """Both: what the post-deploy jobs and the artifacts API use."""


class NatsArtifactStore:
    """Implements `ArtifactStore` and `ArtifactBytes` on the JetStream object store."""

    def __init__(
        self, js: JetStreamContext, bucket: str = OBJECT_STORE, *, chunk_bytes: int | None = None
    ) -> None:
        """`chunk_bytes`: each chunk is one acknowledged publish; larger chunks (below the
        server's max payload) mean fewer round trips than nats-py's 128 KiB default."""
        self.js = js
        self.bucket = bucket
        self.chunk_bytes = chunk_bytes
        self._store: ObjectStore | None = None

    async def _obj(self) -> ObjectStore:
        if self._store is None:
            self._store = await self.js.object_store(self.bucket)
        return self._store

    async def put_file(self, name: str, path: Path) -> int:
        store = await self._obj()
        meta = None
        if self.chunk_bytes:
            meta = ObjectMeta(name=name, options=ObjectMetaOptions(max_chunk_size=self.chunk_bytes))
        with path.open("rb") as f:
            info = await store.put(name, f, meta=meta)
        return int(info.size or 0)

    async def get_file(self, name: str, path: Path) -> int:
        store = await self._obj()
        try:
            with path.open("wb") as f:
                result = await store.get(name, writeinto=f)
        except ObjectNotFoundError:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise ArtifactNotFound(name) from None
        return int(result.info.size or 0)

    async def delete(self, name: str) -> None:
        store = await self._obj()
        try:
            await store.delete(name)
        except ObjectNotFoundError:
            pass

    async def put_bytes(self, name: str, data: bytes) -> int:
        store = await self._obj()
        info = await store.put(name, data)
        return int(info.size or 0)

    async def get_bytes(self, name: str) -> bytes:
        store = await self._obj()
        try:
            result = await store.get(name)
        except ObjectNotFoundError:
            raise ArtifactNotFound(name) from None
        return bytes(result.data or b"")

    async def size(self, name: str) -> int | None:
        store = await self._obj()
        try:
            info = await store.get_info(name)
        except ObjectNotFoundError:
            return None
        return int(info.size or 0)


class FakeArtifactStore:
    """In memory, for unit tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put_file(self, name: str, path: Path) -> int:
        self.objects[name] = await asyncio.to_thread(path.read_bytes)
        return len(self.objects[name])

    async def get_file(self, name: str, path: Path) -> int:
        if name not in self.objects:
            raise ArtifactNotFound(name)
        await asyncio.to_thread(path.write_bytes, self.objects[name])
        return len(self.objects[name])

    async def delete(self, name: str) -> None:
        self.objects.pop(name, None)

    async def put_bytes(self, name: str, data: bytes) -> int:
        self.objects[name] = bytes(data)
        return len(data)

    async def get_bytes(self, name: str) -> bytes:
        if name not in self.objects:
            raise ArtifactNotFound(name)
        return self.objects[name]

    async def size(self, name: str) -> int | None:
        data = self.objects.get(name)
        return None if data is None else len(data)
