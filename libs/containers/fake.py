"""`FakeContainerRuntime`: an in-memory engine for unit tests, held to the same contract.

Tests drive what a real engine would do on its own: `crash`, `write_logs`, `publish` (a registry
image), `add_image`.
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import json
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from libs.containers.runtime import (
    PORT_LABEL,
    PUBLISH_IP,
    REPLICA_LABEL,
    ContainerNotFound,
    ContainerSpec,
    ContainerState,
    DockerUnavailable,
    ImageInfo,
    ImageInUse,
    ImageNotFound,
    InvalidImageArchive,
    ManagedContainer,
    RegistryAuth,
    RegistryError,
)
from libs.events.values import ContainerInfo


@dataclass
class FakeContainer:
    spec: ContainerSpec
    info: ContainerInfo
    image_id: str
    state: ContainerState = field(default_factory=lambda: ContainerState("running", True))
    output: builtins.list[str] = field(default_factory=builtins.list)
    stopped_with_grace: float | None = None


def _normalize(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in ref) else f"{ref}:latest"


class FakeContainerRuntime:
    """Implements `ContainerRuntime` and `ImageStore` in memory."""

    def __init__(self, *, available: bool = True, reach_host: str = PUBLISH_IP) -> None:
        self.available = available
        self.reach_host = reach_host
        self.containers: dict[str, FakeContainer] = {}
        self.removed: builtins.list[FakeContainer] = []
        self.images: dict[str, ImageInfo] = {}
        self.registry: dict[str, ImageInfo] = {}
        self.registry_auth: dict[str, RegistryAuth] = {}
        self._ids = itertools.count(1)
        self._ports = itertools.count(40000)

    # ------------------------------------------------------------------ test controls

    def _check(self) -> None:
        if not self.available:
            raise DockerUnavailable("Docker Engine unreachable at fake://: engine stopped")

    def add_image(
        self, image_id: str, *, tags: tuple[str, ...] = (), exposed_ports: tuple[int, ...] = ()
    ) -> ImageInfo:
        info = ImageInfo(id=image_id, size=1024, exposed_ports=exposed_ports, tags=tags)
        self.images[image_id] = info
        return info

    def publish(
        self, ref: str, *, exposed_ports: tuple[int, ...] = (), auth: RegistryAuth | None = None
    ) -> ImageInfo:
        """Put an image in the fake registry."""
        digest = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
        image_id = "sha256:" + hashlib.sha256(f"image {ref}".encode()).hexdigest()
        info = ImageInfo(
            id=image_id,
            size=2048,
            exposed_ports=exposed_ports,
            tags=(_normalize(ref),),
            digest=digest,
        )
        self.registry[_normalize(ref)] = info
        if auth is not None:
            self.registry_auth[_normalize(ref)] = auth
        return info

    def crash(
        self, container_id: str, *, exit_code: int = 1, oom: bool = False, restarts: int = 1
    ) -> None:
        c = self.containers[container_id]
        status = "restarting" if restarts else "exited"
        c.state = ContainerState(status, False, exit_code, oom, restarts)

    def write_logs(self, container_id: str, *lines: str) -> None:
        self.containers[container_id].output.extend(lines)

    def by_name(self, name: str) -> FakeContainer | None:
        return next((c for c in self.containers.values() if c.spec.name == name), None)

    # ------------------------------------------------------------------ containers

    def _resolve(self, ref: str) -> ImageInfo | None:
        if ref in self.images:
            return self.images[ref]
        wanted = _normalize(ref)
        return next((i for i in self.images.values() if wanted in i.tags), None)

    async def run(self, spec: ContainerSpec) -> ContainerInfo:
        self._check()
        existing = self.by_name(spec.name)
        if existing is not None:
            return existing.info
        image = self._resolve(spec.image)
        if image is None:
            raise ImageNotFound(f"image {spec.image} is not present on this host")
        cid = f"{next(self._ids):064x}"
        if spec.network:
            info = ContainerInfo(
                id=cid, name=spec.name, host=spec.name, port=spec.port, replica=spec.replica
            )
        else:
            info = ContainerInfo(
                id=cid,
                name=spec.name,
                host=self.reach_host,
                port=next(self._ports),
                replica=spec.replica,
            )
        labels = {**spec.labels, REPLICA_LABEL: str(spec.replica), PORT_LABEL: str(spec.port)}
        self.containers[cid] = FakeContainer(replace(spec, labels=labels), info, image.id)
        return info

    async def stop_and_remove(self, container_id: str, grace_s: float) -> None:
        self._check()
        c = self.containers.pop(container_id, None)
        if c is not None:
            c.stopped_with_grace = grace_s
            c.state = ContainerState("removed", False, 0)
            self.removed.append(c)

    async def list(self, labels: dict[str, str]) -> builtins.list[ManagedContainer]:
        self._check()
        found = [
            ManagedContainer(info=c.info, labels=dict(c.spec.labels), state=c.state.status)
            for c in self.containers.values()
            if all(c.spec.labels.get(k) == v for k, v in labels.items())
        ]
        return sorted(found, key=lambda m: m.info.name)

    def _container(self, container_id: str) -> FakeContainer:
        self._check()
        c = self.containers.get(container_id)
        if c is None:
            raise ContainerNotFound(f"container {container_id} not found")
        return c

    async def logs(self, container_id: str, tail: int = 100) -> str:
        lines = self._container(container_id).output[-tail:] if tail > 0 else []
        return "".join(f"{line}\n" for line in lines)

    async def inspect_state(self, container_id: str) -> ContainerState:
        return self._container(container_id).state

    # ------------------------------------------------------------------ images

    async def image_info(self, ref: str) -> ImageInfo:
        self._check()
        info = self._resolve(ref)
        if info is None:
            raise ImageNotFound(f"image {ref} is not present on this host")
        return info

    async def image_exists(self, image_id: str) -> bool:
        self._check()
        return self._resolve(image_id) is not None

    async def remove_image(self, image_id: str) -> None:
        self._check()
        info = self._resolve(image_id)
        if info is None:
            return
        if any(c.image_id == info.id for c in self.containers.values()):
            raise ImageInUse(f"image {image_id} is in use by a container")
        del self.images[info.id]

    async def load_image(self, tar_path: Path) -> tuple[str, ...]:
        self._check()
        loaded = _read_docker_save(tar_path)
        for info in loaded:
            self.images[info.id] = info
        return tuple(dict.fromkeys(i.id for i in loaded))

    async def pull(self, ref: str, auth: RegistryAuth | None = None) -> ImageInfo:
        self._check()
        key = _normalize(ref)
        info = self.registry.get(key)
        if info is None:
            raise RegistryError(f"pull {ref} failed: manifest unknown: {key} not in registry")
        needed = self.registry_auth.get(key)
        if needed is not None and needed != auth:
            raise RegistryError(f"pull {ref} failed: unauthorized: authentication required")
        self.images[info.id] = info
        return info


def _read_docker_save(tar_path: Path) -> builtins.list[ImageInfo]:
    """The images of a `docker save` archive: id = sha256 of its config, as Docker computes it."""
    if not tar_path.is_file():
        raise InvalidImageArchive(f"image archive {tar_path} does not exist")
    try:
        with tarfile.open(tar_path) as tar:
            manifest = _json_member(tar, "manifest.json")
            images = []
            for entry in manifest:
                raw = _member_bytes(tar, entry["Config"])
                config: dict[str, Any] = json.loads(raw)
                ports = (config.get("config") or {}).get("ExposedPorts") or {}
                size = sum(tar.getmember(layer).size for layer in entry.get("Layers", []))
                images.append(
                    ImageInfo(
                        id="sha256:" + hashlib.sha256(raw).hexdigest(),
                        size=size,
                        exposed_ports=tuple(sorted(int(p.split("/")[0]) for p in ports)),
                        tags=tuple(entry.get("RepoTags") or ()),
                    )
                )
    except (tarfile.TarError, KeyError, ValueError, TypeError) as exc:
        raise InvalidImageArchive(f"not a docker image archive: {exc}") from None
    if not images:
        raise InvalidImageArchive("the archive holds no image")
    return images


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    if f is None:
        raise KeyError(name)
    return f.read()


def _json_member(tar: tarfile.TarFile, name: str) -> Any:
    return json.loads(_member_bytes(tar, name))
