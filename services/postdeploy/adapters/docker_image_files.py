"""`DockerImageFiles`: reads files out of a local image without running it.

`docker create` (never started; labelled with the job attempt so cleanup finds leftovers), then
the container's filesystem export is read as a tar *stream*: only the wanted regular files are
kept, so memory stays at their size whatever the image's.
"""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from libs.containers.runtime import ContainerRuntimeError, DockerUnavailable, ImageNotFound

NEVER_RUN = ["/.slipway-never-started"]


class _ChunkReader(io.RawIOBase):
    """A file object over the export's chunk iterator (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def normalize(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


class DockerImageFiles:
    def __init__(self, base_url: str | None = None, *, timeout_s: float = 300.0) -> None:
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def _docker(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                try:
                    if self._base_url:
                        self._client = docker.DockerClient(
                            base_url=self._base_url, timeout=int(self._timeout_s)
                        )
                    else:
                        self._client = docker.from_env(timeout=int(self._timeout_s))
                except docker.errors.DockerException as exc:
                    raise DockerUnavailable(f"Docker Engine unreachable: {exc}") from None
            return self._client

    async def read(
        self,
        image: str,
        wanted: Callable[[str], bool],
        *,
        labels: Mapping[str, str],
        max_file_bytes: int,
    ) -> dict[str, bytes]:
        return await asyncio.to_thread(self._read, image, wanted, dict(labels), max_file_bytes)

    def _read(
        self, image: str, wanted: Callable[[str], bool], labels: dict[str, str], max_bytes: int
    ) -> dict[str, bytes]:
        try:
            client = self._docker()
            try:
                container = client.containers.create(
                    image, entrypoint=NEVER_RUN, command=[], labels=labels, network_disabled=True
                )
            except docker.errors.ImageNotFound:
                raise ImageNotFound(f"image {image} is not present on this host") from None
            except docker.errors.APIError as exc:
                raise ContainerRuntimeError(
                    f"cannot read image {image}: {exc.explanation}"
                ) from None
            try:
                return _wanted_files(container.export(chunk_size=256 * 1024), wanted, max_bytes)
            finally:
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise DockerUnavailable(f"Docker Engine unreachable: {exc}") from None

    async def remove_leftovers(self, labels: Mapping[str, str]) -> None:
        """Cleanup of a stopped attempt: its own never-started containers, found by label."""

        def remove() -> None:
            wanted = [f"{k}={v}" for k, v in labels.items()]
            for c in self._docker().containers.list(all=True, filters={"label": wanted}):
                try:
                    c.remove(force=True)
                except docker.errors.NotFound:
                    pass

        await asyncio.to_thread(remove)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _wanted_files(
    chunks: Iterator[bytes], wanted: Callable[[str], bool], max_bytes: int
) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    raw = io.BufferedReader(_ChunkReader(chunks), buffer_size=256 * 1024)
    with tarfile.open(fileobj=raw, mode="r|") as tar:
        for member in tar:
            name = os.path.normpath(normalize(member.name))
            if not member.isreg() or member.size > max_bytes or not wanted(name):
                continue
            reader = tar.extractfile(member)
            if reader is not None:
                found[name] = reader.read()
    return found
