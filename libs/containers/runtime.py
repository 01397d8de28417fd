"""Ports of the deploy service to a container engine: containers and images (§7).

`DockerContainerRuntime` (adapters/docker_runtime.py) is the real adapter, `FakeContainerRuntime`
(adapters/fake_runtime.py) the in-memory twin; tests/integration/deploy/test_runtime_contract.py
holds both to the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from libs.events.values import ContainerInfo

RESTART_POLICY = "unless-stopped"
PUBLISH_IP = "127.0.0.1"
# Set by the adapters on every container so `list` can rebuild its ContainerInfo.
REPLICA_LABEL = "slipway.replica"
PORT_LABEL = "slipway.port"


class ContainerRuntimeError(Exception):
    """Base of every error the runtime raises; the message is meant for the user."""


class DockerUnavailable(ContainerRuntimeError):
    """The engine cannot be reached (daemon down, wrong DOCKER_HOST, no permission)."""


class ImageNotFound(ContainerRuntimeError):
    """No local image with that id or reference."""


class ImageInUse(ContainerRuntimeError):
    """The image is still used by a container, so it was not removed."""


class InvalidImageArchive(ContainerRuntimeError):
    """An uploaded tarball is not a `docker save` archive."""


class RegistryError(ContainerRuntimeError):
    """A pull failed; the message carries the registry's own words."""


class ContainerNotFound(ContainerRuntimeError, LookupError):
    """No container with that id (already removed)."""


@dataclass(frozen=True)
class ContainerSpec:
    """One replica to run. `name` is unique per (deployment, attempt, replica): `run` is idempotent
    by name, so a retried attempt finds its own containers instead of starting twins."""

    name: str
    image: str
    port: int  # the container port the app listens on
    replica: int = 0
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    cpu: float | None = None  # cores
    memory: str | None = None  # docker syntax: 512m, 1g
    # None: publish on 127.0.0.1 with a random host port (single host). A network name: join it
    # and be reached by container name on `port` (compose).
    network: str | None = None


@dataclass(frozen=True)
class ContainerState:
    """What crash detection needs to know about one container."""

    status: str  # created, running, restarting, paused, exited, dead
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    error: str = ""

    @property
    def crashed(self) -> bool:
        """Exited, dead, OOM-killed or restarted by the restart policy: it will not get healthy."""
        return (
            self.status in ("exited", "dead", "restarting")
            or self.oom_killed
            or self.restart_count > 0
        )

    def describe(self) -> str:
        if self.oom_killed:
            return "container was killed: out of memory (raise the memory limit)"
        if self.status == "restarting" or self.restart_count > 0:
            code = f" (last exit code {self.exit_code})" if self.exit_code is not None else ""
            return f"container keeps crashing: restarted {self.restart_count} time(s){code}"
        if self.status in ("exited", "dead"):
            extra = f": {self.error}" if self.error else ""
            return f"container exited with code {self.exit_code}{extra}"
        return f"container is {self.status}"


@dataclass(frozen=True)
class ManagedContainer:
    """A container found by label, with what the reconciler needs to judge it."""

    info: ContainerInfo
    labels: dict[str, str]
    state: str


@dataclass(frozen=True)
class ImageInfo:
    id: str  # sha256:...
    size: int
    exposed_ports: tuple[int, ...]
    tags: tuple[str, ...] = ()
    digest: str | None = None  # repo@sha256:... when pulled from a registry


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str


class ContainerRuntime(Protocol):
    """Containers on one engine. Blocking engines are driven off the event loop by the adapter."""

    async def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start, or return the existing container of that name (started if needed)."""
        ...

    async def stop_and_remove(self, container_id: str, grace_s: float) -> None:
        """`docker stop` with a grace period, then remove; a missing container is not an error."""
        ...

    async def list(self, labels: dict[str, str]) -> list[ManagedContainer]:
        """Every container (any state) carrying all these labels."""
        ...

    async def logs(self, container_id: str, tail: int = 100) -> str:
        """The last `tail` lines of stdout and stderr."""
        ...

    async def inspect_state(self, container_id: str) -> ContainerState:
        """Running, exited, exit code, OOM; raises ContainerNotFound."""
        ...


class ImageStore(Protocol):
    """Local images of one engine, and pulls into it."""

    async def image_info(self, ref: str) -> ImageInfo:
        """Id, size and exposed ports of a local image (id or tag); raises ImageNotFound."""
        ...

    async def remove_image(self, image_id: str) -> None:
        """Remove; a missing image is not an error; raises ImageInUse if a container uses it."""
        ...

    async def load_image(self, tar_path: Path) -> tuple[str, ...]:
        """`docker load` a tarball; returns the loaded image ids; raises InvalidImageArchive."""
        ...

    async def pull(self, ref: str, auth: RegistryAuth | None = None) -> ImageInfo:
        """Pull `ref` (tag `latest` when none); raises RegistryError with the registry's message."""
        ...

    async def image_exists(self, image_id: str) -> bool: ...
