"""Port and adapters for the `artifacts` object store: uploads and bundles go in as files."""

from __future__ import annotations

import io
from typing import BinaryIO, Protocol

from nats.js.api import ObjectMeta, ObjectMetaOptions
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore


class ArtifactNotFound(Exception):
    pass


class Artifacts(Protocol):
    """Port: named blobs shared by services on different hosts."""

    async def put_file(self, name: str, file: BinaryIO) -> int:
        """Stores the file's content (read in chunks, never whole); returns its size."""
        ...

    async def get_bytes(self, name: str) -> bytes:
        """The whole object (small objects and tests only); raises ArtifactNotFound."""
        ...


# Each chunk is one acknowledged publish: 512 KiB (under NATS's default 1 MiB max payload) makes
# a fourth of the round trips of nats-py's 128 KiB default.
CHUNK_BYTES = 512 * 1024


class JetStreamArtifacts:
    """The real adapter: a nats-py object store bucket."""

    def __init__(self, store: ObjectStore, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._store = store
        self._chunk_bytes = chunk_bytes

    async def put_file(self, name: str, file: BinaryIO) -> int:
        # nats-py reads a file object with `readinto` in a thread, one chunk at a time.
        meta = ObjectMeta(name=name, options=ObjectMetaOptions(max_chunk_size=self._chunk_bytes))
        info = await self._store.put(name, file, meta=meta)  # type: ignore[arg-type]
        return int(info.size or 0)

    async def get_bytes(self, name: str) -> bytes:
        try:
            result = await self._store.get(name)
        except NotFoundError:
            raise ArtifactNotFound(name) from None
        return bytes(result.data or b"")


class FakeArtifacts:
    """In-memory twin."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put_file(self, name: str, file: BinaryIO) -> int:
        buf = io.BytesIO()
        while chunk := file.read(128 * 1024):
            buf.write(chunk)
        self.objects[name] = buf.getvalue()
        return len(self.objects[name])

    async def get_bytes(self, name: str) -> bytes:
        try:
            return self.objects[name]
        except KeyError:
            raise ArtifactNotFound(name) from None
