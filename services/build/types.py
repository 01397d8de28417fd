"""The build side's pure contracts: what detection decides, what Dockerfiles are made from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from libs.settings import Settings

PresetName = Literal["dockerfile", "nextjs", "vite", "node", "python", "go", "rust", "static"]
Kind = Literal["container", "static"]

PRESETS: tuple[PresetName, ...] = (
    "dockerfile",
    "nextjs",
    "vite",
    "node",
    "python",
    "go",
    "rust",
    "static",
)

#: File name, in the build context, where the build job places the CA bundle it was configured with.
CA_BUNDLE_NAME = ".slipway-ca.crt"
#: File name, in the build context, under which the build job writes a generated Dockerfile.
GENERATED_DOCKERFILE_NAME = ".slipway.Dockerfile"
#: Where a static build leaves its files in the final image (FROM scratch: nothing else is there).
STATIC_EXPORT_PATH = "/site"
#: Never publish these from a static output: the build job drops them when it copies the files out
#: (the repository's own .dockerignore may not exclude them).
STATIC_SKIP = (".git", GENERATED_DOCKERFILE_NAME, CA_BUNDLE_NAME, ".dockerignore")
#: Numeric so it works on any base image, even one without useradd or a passwd entry.
APP_UID = 10001
DEFAULT_PORT = 3000

DEFAULT_BASE_IMAGES: Mapping[str, str] = MappingProxyType(
    {
        "node": "node:20-bookworm-slim",
        "bun": "oven/bun:1-slim",
        "python": "python:3.12-slim",
        "go": "golang:1.22",
        "rust": "rust:1.79",
        # The final stage of compiled languages: glibc, matching the bookworm toolchains above.
        "runtime": "debian:bookworm-slim",
    }
)
# Next.js and Vite build with Node: pointing SLIPWAY_BASE_IMAGE_NODE elsewhere moves them too.
_FALLBACK = {"nextjs": "node", "vite": "node"}


class DetectionError(ValueError):
    """The repository cannot be built by any preset (or by the one that was forced).

    ``looked_for`` lists every signal that was checked, in order, so the message tells the user
    what to add; ``hint`` names a recognised-but-unsupported stack or a monorepo's candidate apps.
    """

    def __init__(self, message: str, looked_for: tuple[str, ...] = (), hint: str | None = None):
        self.looked_for = looked_for
        self.hint = hint
        parts = [message]
        if looked_for:
            parts.append("looked for: " + ", ".join(looked_for))
        if hint:
            parts.append(hint)
        super().__init__("; ".join(parts))


@dataclass(frozen=True)
class DockerfileSettings:
    """What a generated Dockerfile takes from the site: base images and the CA bundle.

    ``base_images`` holds the overrides (``SLIPWAY_BASE_IMAGE_<PRESET>``); keys are presets plus
    ``bun`` and ``runtime`` (the final stage of Go and Rust images).
    """

    base_images: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None

    def base_image(self, preset: str) -> str:
        key = preset.lower()
        for candidate in (key, _FALLBACK.get(key)):
            if candidate is not None and self.base_images.get(candidate):
                return self.base_images[candidate]
        default = DEFAULT_BASE_IMAGES.get(_FALLBACK.get(key, key))
        if default is None:
            raise ValueError(f"no base image for preset {preset!r}")
        return default

    @classmethod
    def from_settings(cls, settings: Settings) -> DockerfileSettings:
        keys = (*DEFAULT_BASE_IMAGES, *_FALLBACK)
        overrides = {k: image for k in keys if (image := settings.base_image(k))}
        return cls(base_images=overrides, ca_bundle=settings.build_ca_bundle)


@dataclass(frozen=True)
class AppFacts:
    """What a preset learnt about an app: everything a Dockerfile is generated from.

    Paths are POSIX and relative: ``context_dir`` to the repository, ``workdir`` (the app itself)
    and ``static_output_dir`` to the build context.
    """

    preset: PresetName
    signal: str
    kind: Kind = "container"
    start_command: str | None = None
    static_output_dir: str | None = None
    package_manager: str | None = None
    install_command: str | None = None
    build_command: str | None = None
    # None: the app directory itself (detect fills it in).
    context_dir: str | None = None
    workdir: str = "."
    # Copied before the install step so dependencies stay cached while the code changes.
    manifests: tuple[str, ...] = ()
    # Extra per-preset facts (go build target, rust binary, next output mode, ...).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """What the build job will do with a repository, and why.

    ``dockerfile`` is the text that is used: the repository's own, or the generated one (which the
    build job writes as ``GENERATED_DOCKERFILE_NAME`` into ``context_dir``). With ``kind=static``
    no image is deployed: the Dockerfile only builds the files, its final stage is ``FROM scratch``
    holding them under ``STATIC_EXPORT_PATH``, and the build job copies them out.
    """

    preset: PresetName
    kind: Kind
    signal: str
    start_command: str | None
    static_output_dir: str | None
    dockerfile: str
    package_manager: str | None
    port: int | None
    context_dir: str = "."
    generated: bool = True
    dockerfile_path: str = GENERATED_DOCKERFILE_NAME
