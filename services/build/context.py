"""The build context on disk: what the build job adds to a checkout before `docker build`.

The checkout is untrusted: a file we write replaces whatever the repository had under that name
(a link included — it is never followed), and only inside the context directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from services.build.dockerfiles import dockerignore_for
from services.build.types import CA_BUNDLE_NAME, GENERATED_DOCKERFILE_NAME, Detection

_REPO_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE | re.IGNORECASE)
# Docker's predefined build args: passed when set here, whether or not the Dockerfile asks.
PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")


class BuildContextError(ValueError):
    """The context cannot be prepared; the message is for the user."""


def image_tag(project: str, environment: str, deployment_id: str) -> str:
    """`slipway/<project>/<env>:<deployment>` (§6)."""
    if not (_REPO_PART.match(project) and _REPO_PART.match(environment)):
        raise BuildContextError(
            f"project {project!r} / environment {environment!r} cannot name a Docker image"
        )
    if not _TAG.match(deployment_id):
        raise BuildContextError(f"deployment id {deployment_id!r} cannot be a Docker tag")
    return f"slipway/{project}/{environment}:{deployment_id}"


def build_args(dockerfile: str, available: Mapping[str, str]) -> dict[str, str]:
    """The build args to pass: those of `available` the Dockerfile declares with ARG (so the
    build log carries no "build-args were not consumed" warning), plus the proxy settings."""
    declared = set(_ARG.findall(dockerfile))
    args = {k: v for k, v in available.items() if k in declared}
    for name in PROXY_ARGS:
        for key in (name, name.lower()):
            if value := os.environ.get(key):
                args[key] = value
    return args


def prepare_context(root: Path, detection: Detection, ca_bundle: Path | None) -> Path:
    """Write the generated Dockerfile, a `.dockerignore` when the context has none, and the CA
    bundle when one is configured; returns the context directory."""
    base = root.resolve()
    context = (base / detection.context_dir).resolve()
    if not (context == base or context.is_relative_to(base)) or not context.is_dir():
        raise BuildContextError(f"build context {detection.context_dir!r} is not in the checkout")
    if detection.generated:
        _write(context, GENERATED_DOCKERFILE_NAME, detection.dockerfile.encode())
    ignore = context / ".dockerignore"
    if not (ignore.exists() or ignore.is_symlink()):
        text = dockerignore_for(detection)
        if text:
            _write(context, ".dockerignore", text.encode())
    if ca_bundle is not None:
        try:
            data = ca_bundle.read_bytes()
        except OSError as exc:
            raise BuildContextError(
                f"SLIPWAY_BUILD_CA_BUNDLE {ca_bundle} cannot be read: {exc.strerror}"
            ) from None
        _write(context, CA_BUNDLE_NAME, data)
    return context


def _write(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        raise BuildContextError(f"the repository has a directory named {name}; rename it")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
