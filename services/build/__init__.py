"""The build service (§6): BuildImageJob.

Detection and Dockerfile generation (`detect`, `render`) are pure; the job (`build_job.py`)
drives an `ImageBuilder` (`builder.py`; Docker in `adapters/`) under a per-host build limit.
"""

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
