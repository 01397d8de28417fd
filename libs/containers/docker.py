"""`DockerContainerRuntime`: the container and image ports on a Docker Engine (docker SDK).

The SDK blocks, so every call runs in a worker thread. The client is made on first use, so a
process starts even while the engine is down and reports `DockerUnavailable` when it is needed.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.utils import parse_repository_tag

from libs.containers.runtime import (
    PORT_LABEL,
    PUBLISH_IP,
    REPLICA_LABEL,
    RESTART_POLICY,
    ContainerNotFound,
    ContainerRuntimeError,
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

T = TypeVar("T")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _exposed(config: dict[str, Any] | None) -> tuple[int, ...]:
    ports = (config or {}).get("ExposedPorts") or {}
    found = {int(p.split("/")[0]) for p in ports if p.endswith("/tcp") or "/" not in p}
    return tuple(sorted(found))


class DockerContainerRuntime:
    """Implements `ContainerRuntime` and `ImageStore` on one engine."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        reach_host: str = PUBLISH_IP,
        timeout_s: float = 120.0,
    ) -> None:
        self._base_url = base_url
        self._reach_host = reach_host
        self._timeout_s = timeout_s
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    @property
    def where(self) -> str:
        return self._base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    def _unavailable(self, exc: BaseException) -> DockerUnavailable:
        found = _ERRNO.search(str(exc))
        reason = found.group(0).strip() if found else str(exc)[:200]
        return DockerUnavailable(
            f"Docker Engine unreachable at {self.where}: {reason}. "
            "Is the daemon running, and is DOCKER_HOST right?"
        )

    def _docker(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                try:
                    if self._base_url:
                        client = docker.DockerClient(
                            base_url=self._base_url, timeout=int(self._timeout_s)
                        )
                    else:
                        client = docker.from_env(timeout=int(self._timeout_s))
                except docker.errors.DockerException as exc:
                    raise self._unavailable(exc) from None
                self._client = client
            return self._client

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        def guarded() -> T:
            try:
                return fn(*args)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                raise self._unavailable(exc) from None

        return await asyncio.to_thread(guarded)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ containers

    def _get(self, container_id: str) -> Container | None:
        try:
            return self._docker().containers.get(container_id)
        except docker.errors.NotFound:
            return None

    def _info(self, c: Container) -> ContainerInfo:
        labels: dict[str, str] = c.labels or {}
        replica = int(labels.get(REPLICA_LABEL, "0") or 0)
        networks = c.attrs.get("HostConfig", {}).get("NetworkMode", "")
        container_port = int(labels.get(PORT_LABEL, "0") or 0)
        ports: dict[str, Any] = c.attrs.get("NetworkSettings", {}).get("Ports") or {}
        key = f"{container_port}/tcp" if f"{container_port}/tcp" in ports else None
        key = key or next((k for k, v in ports.items() if v and k.endswith("/tcp")), None)
        bindings = ports.get(key) if key else None
        if bindings:
            return ContainerInfo(
                id=c.id or "",
                name=c.name or "",
                host=self._reach_host,
                port=int(bindings[0]["HostPort"]),
                replica=replica,
            )
        if networks not in ("", "default", "bridge", "host", "none"):
            # Compose: reached on the shared network by name, on the container port.
            return ContainerInfo(
                id=c.id or "",
                name=c.name or "",
                host=c.name or "",
                port=container_port,
                replica=replica,
            )
        # Not running (yet, or any more): no published port; health will see the crash.
        return ContainerInfo(
            id=c.id or "", name=c.name or "", host=self._reach_host, port=0, replica=replica
        )

    def _run(self, spec: ContainerSpec) -> ContainerInfo:
        client = self._docker()
        labels = {**spec.labels, REPLICA_LABEL: str(spec.replica), PORT_LABEL: str(spec.port)}
        c = self._get(spec.name)
        if c is None:
            kwargs: dict[str, Any] = {
                "name": spec.name,
                "environment": spec.env,
                "labels": labels,
                "restart_policy": {"Name": RESTART_POLICY},
                "detach": True,
            }
            if spec.command is not None:
                kwargs["command"] = list(spec.command)
            if spec.cpu is not None:
                kwargs["nano_cpus"] = int(spec.cpu * 1e9)
            if spec.memory is not None:
                kwargs["mem_limit"] = spec.memory
            if spec.network:
                kwargs["network"] = spec.network
            else:
                kwargs["ports"] = {f"{spec.port}/tcp": (PUBLISH_IP, None)}
            try:
                c = client.containers.create(spec.image, **kwargs)
            except docker.errors.ImageNotFound:
                raise ImageNotFound(f"image {spec.image} is not present on this host") from None
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise ContainerRuntimeError(
                        f"cannot create container {spec.name}: {exc.explanation}"
                    ) from None
                c = self._get(spec.name)  # another call created it meanwhile: same container
                if c is None:
                    raise ContainerRuntimeError(f"container {spec.name} vanished") from None
        if c.status in ("created", "exited"):
            try:
                c.start()
            except docker.errors.APIError as exc:
                raise ContainerRuntimeError(
                    f"cannot start container {spec.name}: {exc.explanation}"
                ) from None
        c.reload()
        return self._info(c)

    async def run(self, spec: ContainerSpec) -> ContainerInfo:
        return await self._call(self._run, spec)

    def _stop_and_remove(self, container_id: str, grace_s: float) -> None:
        c = self._get(container_id)
        if c is None:
            return
        try:
            if c.status in ("running", "restarting", "paused"):
                c.stop(timeout=max(0, math.ceil(grace_s)))
            c.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "in progress" in (exc.explanation or ""):
                return
            raise ContainerRuntimeError(
                f"cannot remove container {container_id}: {exc.explanation}"
            ) from None

    async def stop_and_remove(self, container_id: str, grace_s: float) -> None:
        await self._call(self._stop_and_remove, container_id, grace_s)

    def _list(self, labels: dict[str, str]) -> list[ManagedContainer]:
        wanted = [f"{k}={v}" for k, v in labels.items()]
        found: list[ManagedContainer] = []
        for c in self._docker().containers.list(all=True, filters={"label": wanted}):
            found.append(
                ManagedContainer(info=self._info(c), labels=dict(c.labels or {}), state=c.status)
            )
        return sorted(found, key=lambda m: m.info.name)

    async def list(self, labels: dict[str, str]) -> list[ManagedContainer]:
        return await self._call(self._list, labels)

    def _logs(self, container_id: str, tail: int) -> str:
        c = self._get(container_id)
        if c is None:
            raise ContainerNotFound(f"container {container_id} not found")
        raw: bytes = c.logs(stdout=True, stderr=True, tail=tail)
        return raw.decode("utf-8", errors="replace")

    async def logs(self, container_id: str, tail: int = 100) -> str:
        return await self._call(self._logs, container_id, tail)

    def _inspect_state(self, container_id: str) -> ContainerState:
        c = self._get(container_id)
        if c is None:
            raise ContainerNotFound(f"container {container_id} not found")
        s = c.attrs.get("State", {})
        running = bool(s.get("Running"))
        return ContainerState(
            status=str(s.get("Status", c.status)),
            running=running,
            exit_code=None if running else s.get("ExitCode"),
            oom_killed=bool(s.get("OOMKilled")),
            restart_count=int(c.attrs.get("RestartCount", 0) or 0),
            error=str(s.get("Error") or ""),
        )

    async def inspect_state(self, container_id: str) -> ContainerState:
        return await self._call(self._inspect_state, container_id)

    # ------------------------------------------------------------------ images

    def _image_info(self, ref: str) -> ImageInfo:
        try:
            img = self._docker().images.get(ref)
        except docker.errors.NotFound:
            raise ImageNotFound(f"image {ref} is not present on this host") from None
        except docker.errors.APIError as exc:
            raise ImageNotFound(f"image {ref}: {exc.explanation}") from None
        attrs = img.attrs
        digests: list[str] = attrs.get("RepoDigests") or []
        return ImageInfo(
            id=str(attrs["Id"]),
            size=int(attrs.get("Size") or 0),
            exposed_ports=_exposed(attrs.get("Config")),
            tags=tuple(attrs.get("RepoTags") or ()),
            digest=digests[0].split("@", 1)[1] if digests else None,
        )

    async def image_info(self, ref: str) -> ImageInfo:
        return await self._call(self._image_info, ref)

    async def image_exists(self, image_id: str) -> bool:
        try:
            await self.image_info(image_id)
        except ImageNotFound:
            return False
        return True

    def _remove_image(self, image_id: str) -> None:
        images = self._docker().images
        try:
            images.remove(image_id)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            text = exc.explanation or ""
            if exc.status_code == 409 and "multiple repositories" in text:
                # Several tags on one image; no container uses it, so untag them all.
                try:
                    images.remove(image_id, force=True)
                    return
                except docker.errors.NotFound:
                    return
                except docker.errors.APIError as again:
                    text = again.explanation or text
            if exc.status_code == 409:
                raise ImageInUse(f"image {image_id} is in use: {text}") from None
            raise ContainerRuntimeError(f"cannot remove image {image_id}: {text}") from None

    async def remove_image(self, image_id: str) -> None:
        await self._call(self._remove_image, image_id)

    def _load_image(self, tar_path: Path) -> tuple[str, ...]:
        if not tar_path.is_file():
            raise InvalidImageArchive(f"image archive {tar_path} does not exist")
        try:
            with tar_path.open("rb") as f:
                loaded = self._docker().images.load(f)
        except docker.errors.ImageLoadError as exc:
            raise InvalidImageArchive(f"not a docker image archive: {exc}") from None
        except docker.errors.APIError as exc:
            raise InvalidImageArchive(f"not a docker image archive: {exc.explanation}") from None
        ids = tuple(dict.fromkeys(str(img.id) for img in loaded))
        if not ids:
            raise InvalidImageArchive("the archive holds no image")
        return ids

    async def load_image(self, tar_path: Path) -> tuple[str, ...]:
        return await self._call(self._load_image, tar_path)

    def _pull(self, ref: str, auth: RegistryAuth | None) -> ImageInfo:
        repository, tag = parse_repository_tag(ref)
        tag = tag or "latest"
        auth_config = {"username": auth.username, "password": auth.password} if auth else None
        try:
            stream = self._docker().api.pull(
                repository, tag=tag, stream=True, decode=True, auth_config=auth_config
            )
            for chunk in stream:
                if "error" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    raise RegistryError(f"pull {ref} failed: {detail}")
        except docker.errors.APIError as exc:
            raise RegistryError(f"pull {ref} failed: {exc.explanation}") from None
        sep = "@" if tag.startswith("sha256:") else ":"
        info = self._image_info(f"{repository}{sep}{tag}")
        digests = self._docker().images.get(info.id).attrs.get("RepoDigests") or []
        mine = [d for d in digests if d.split("@", 1)[0] == repository]
        digest = (mine or digests or [None])[0]
        return ImageInfo(
            id=info.id,
            size=info.size,
            exposed_ports=info.exposed_ports,
            tags=info.tags,
            digest=digest.split("@", 1)[1] if digest else None,
        )

    async def pull(self, ref: str, auth: RegistryAuth | None = None) -> ImageInfo:
        return await self._call(self._pull, ref, auth)
