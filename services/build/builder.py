"""The port to the image builder: build a context, copy files out of an image, remove an image.

`DockerImageBuilder` (adapters/docker_builder.py) drives the Docker engine's build API;
`FakeImageBuilder` (adapters/fake_builder.py) records builds in memory.
tests/integration/build/test_builder_contract.py holds both to the same contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Stream = Literal["stdout", "stderr", "system"]
LineSink = Callable[[str, Stream], None]


class BuildError(Exception):
    """The build failed; `message` carries the builder's own words."""

    def __init__(self, message: str, code: str = "build_failed") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class BuilderUnavailable(BuildError):
    """The engine cannot be reached (daemon down, wrong DOCKER_HOST, no permission)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "docker_unavailable")


@dataclass(frozen=True)
class BuildSpec:
    context: Path
    dockerfile: str  # relative to the context
    tag: str
    buildargs: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltImage:
    id: str
    tag: str
    exposed_ports: tuple[int, ...] = ()


class ImageBuilder(Protocol):
    async def build(self, spec: BuildSpec, log: LineSink) -> BuiltImage:
        """Build and tag; every output line goes to `log` as it comes. Raises BuildError.

        Cancelling the call stops the build on the engine at once.
        """
        ...

    async def export_path(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str]
    ) -> None:
        """Write `path` of `image` (a directory) to `dest` as a tar whose top entry is its
        base name. The container used for it carries `labels` and is removed."""
        ...

    async def remove_image(self, image: str, labels: Mapping[str, str] | None = None) -> bool:
        """Remove `image` (a tag or id) — when `labels` are given, only if it carries them all.
        True when removed; a missing image is not an error."""
        ...
