"""The build side (§6). Pure detection and Dockerfile generation live here; Docker does not."""

from services.build.detect import LOOKED_FOR, detect
from services.build.dockerfiles import dockerignore_for, render
from services.build.types import (
    CA_BUNDLE_NAME,
    GENERATED_DOCKERFILE_NAME,
    PRESETS,
    STATIC_EXPORT_PATH,
    STATIC_SKIP,
    Detection,
    DetectionError,
    DockerfileSettings,
)

__all__ = [
    "CA_BUNDLE_NAME",
    "GENERATED_DOCKERFILE_NAME",
    "LOOKED_FOR",
    "PRESETS",
    "STATIC_EXPORT_PATH",
    "STATIC_SKIP",
    "Detection",
    "DetectionError",
    "DockerfileSettings",
    "detect",
    "dockerignore_for",
    "render",
]
