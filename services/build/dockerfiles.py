"""Generated Dockerfiles: multi-stage where it pays, non-root, ``PORT`` honoured.

Every build stage gets the site's CA bundle when one is configured (copied from
``CA_BUNDLE_NAME``, which the build job places in the context). A static result (Vite, a Next.js
export, a plain site) needs no image: its Dockerfile only builds the files, and its final stage is
``FROM scratch`` holding them under ``STATIC_EXPORT_PATH`` for the build job to copy out.
"""

from __future__ import annotations

import json
import re
import shlex

from services.build.types import (
    APP_UID,
    CA_BUNDLE_NAME,
    GENERATED_DOCKERFILE_NAME,
    STATIC_EXPORT_PATH,
    AppFacts,
    Detection,
    DockerfileSettings,
)

CA_PATH = "/etc/slipway/ca.crt"
CA_VARIABLES = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "CARGO_HTTP_CAINFO",
    "GIT_SSL_CAINFO",
)
_OWNER = f"{APP_UID}:{APP_UID}"
_SHELL = re.compile(r"[$&|;<>()`*?~\\]")


def start_cmd(command: str) -> str:
    """The CMD line: exec form when plain, else ``sh -c`` (so ``$PORT`` expands) with ``exec``
    when the command is a single one, so the app is PID 1 and stops on SIGTERM."""
    if not _SHELL.search(command):
        return "CMD " + json.dumps(shlex.split(command))
    simple = not re.search(r"&&|\|\||;|\|", command)
    return "CMD " + json.dumps(["sh", "-c", f"exec {command}" if simple else command])


def _ca(settings: DockerfileSettings) -> list[str]:
    if settings.ca_bundle is None:
        return []
    env = " \\\n    ".join(f"{name}={CA_PATH}" for name in CA_VARIABLES)
    return [f"COPY {CA_BUNDLE_NAME} {CA_PATH}", f"ENV {env}"]


def _stage(image: str, settings: DockerfileSettings, name: str = "build") -> list[str]:
    return [f"FROM {image} AS {name}", *_ca(settings)]


def _serve(port: int, start: str) -> list[str]:
    return [f"USER {_OWNER}", f"EXPOSE {port}", start_cmd(start)]


def _cd(base: str, workdir: str) -> list[str]:
    return [] if workdir == "." else [f"WORKDIR {base}/{workdir}"]


def _export(static_dir: str) -> list[str]:
    source = "/app" if static_dir in (".", "") else f"/app/{static_dir.strip('/')}"
    return ["", "FROM scratch", f"COPY --from=build {source} {STATIC_EXPORT_PATH}/"]


def _node(facts: AppFacts, settings: DockerfileSettings, port: int) -> list[str]:
    image = settings.base_image("bun" if facts.package_manager == "bun" else facts.preset)
    corepack = bool(facts.extra.get("corepack"))
    corepack_env = "ENV COREPACK_HOME=/opt/corepack COREPACK_ENABLE_DOWNLOAD_PROMPT=0"
    next_env = ["ENV NEXT_TELEMETRY_DISABLED=1"] if facts.preset == "nextjs" else []
    lines = [*_stage(image, settings), "WORKDIR /app", *next_env]
    if corepack:
        lines += [corepack_env, "RUN corepack enable"]
    if facts.manifests:
        lines += [
            f"COPY {' '.join(facts.manifests)} ./",
            f"RUN {facts.install_command}",
            "COPY . .",
        ]
    else:
        lines += ["COPY . .", f"RUN {facts.install_command}"]
    lines += _cd("/app", facts.workdir)
    if facts.build_command:
        lines.append(f"RUN {facts.build_command}")
    if facts.kind == "static":
        return [*lines, *_export(facts.static_output_dir or "dist")]
    lines += ["", f"FROM {image}", "WORKDIR /app", *next_env]
    lines.append(f"ENV NODE_ENV=production PORT={port} HOME=/tmp")
    if corepack:
        lines += [corepack_env, "COPY --from=build /opt/corepack /opt/corepack"]
        lines.append("RUN corepack enable")
    if facts.extra.get("mode") == "standalone":
        lines += [
            "ENV HOSTNAME=0.0.0.0",
            f"COPY --from=build --chown={_OWNER} /app/.next/standalone ./",
            f"COPY --from=build --chown={_OWNER} /app/.next/static ./.next/static",
        ]
        if facts.extra.get("public"):
            lines.append(f"COPY --from=build --chown={_OWNER} /app/public ./public")
    else:
        lines.append(f"COPY --from=build --chown={_OWNER} /app /app")
        lines += _cd("/app", facts.workdir)
    return [*lines, *_serve(port, facts.start_command or "npm start")]


def _python(facts: AppFacts, settings: DockerfileSettings, port: int) -> list[str]:
    image = settings.base_image("python")
    runtime_env = f"ENV PYTHONUNBUFFERED=1 PORT={port} HOME=/tmp"
    app = [f"COPY --chown={_OWNER} . .", *_serve(port, facts.start_command or "python3 main.py")]
    if not facts.install_command:
        # Standard library only: nothing to install, so one stage and no pip at all.
        return [f"FROM {image}", "WORKDIR /app", runtime_env, *app]
    venv = "ENV VIRTUAL_ENV=/opt/venv UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH"
    lines = [
        *_stage(image, settings),
        "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        venv,
        "RUN python3 -m venv /opt/venv",
        "WORKDIR /app",
        f"COPY {' '.join(facts.manifests)} ./" if facts.manifests else "COPY . .",
        f"RUN {facts.install_command}",
        "",
        f"FROM {image}",
        "WORKDIR /app",
        venv,
        runtime_env,
        "COPY --from=build /opt/venv /opt/venv",
    ]
    return [*lines, *app]


def _compiled(facts: AppFacts, settings: DockerfileSettings, port: int) -> list[str]:
    lines = [*_stage(settings.base_image(facts.preset), settings), "WORKDIR /src"]
    if facts.preset == "go":
        lines.append("ENV CGO_ENABLED=0")
    if facts.manifests:
        lines += [
            f"COPY {' '.join(facts.manifests)} ./",
            f"RUN {facts.install_command}",
            "COPY . .",
        ]
    else:
        lines.append("COPY . .")
        if facts.install_command:
            lines.append(f"RUN {facts.install_command}")
    lines += [
        f"RUN mkdir -p /out && {facts.build_command}",
        "",
        f"FROM {settings.base_image('runtime')}",
    ]
    if facts.extra.get("openssl"):
        lines.append(
            "RUN apt-get update && apt-get install -y --no-install-recommends libssl3 "
            "ca-certificates && rm -rf /var/lib/apt/lists/*"
        )
    else:
        certs = "/etc/ssl/certs/ca-certificates.crt"
        lines.append(f"COPY --from=build {certs} {certs}")
    lines += [
        "COPY --from=build /out/app /usr/local/bin/app",
        # The sources ride along: apps read templates and assets relative to their directory.
        f"COPY --chown={_OWNER} . /app",
        "WORKDIR /app" if facts.workdir == "." else f"WORKDIR /app/{facts.workdir}",
        f"ENV PORT={port} HOME=/tmp",
    ]
    return [*lines, *_serve(port, facts.start_command or "/usr/local/bin/app")]


def _static(facts: AppFacts) -> list[str]:
    folder = facts.static_output_dir or "."
    return ["FROM scratch", f"COPY {folder} {STATIC_EXPORT_PATH}/"]


def render(facts: AppFacts, settings: DockerfileSettings, port: int) -> str:
    """The Dockerfile for an app without one (``facts.preset`` is never ``dockerfile``)."""
    if facts.preset in ("node", "nextjs", "vite"):
        body = _node(facts, settings, port)
    elif facts.preset == "python":
        body = _python(facts, settings, port)
    elif facts.preset in ("go", "rust"):
        body = _compiled(facts, settings, port)
    elif facts.preset == "static":
        body = _static(facts)
    else:
        raise ValueError(f"no generated Dockerfile for preset {facts.preset!r}")
    header = f"# Generated by Slipway: preset {facts.preset} (decided by {facts.signal})."
    return "\n".join([header, *body]) + "\n"


_IGNORE = {
    "node": ("node_modules", "npm-debug.log*", "yarn-error.log"),
    "nextjs": ("node_modules", ".next", "out"),
    "vite": ("node_modules", "dist"),
    "python": ("__pycache__", "*.pyc", ".venv", "venv", ".pytest_cache", ".mypy_cache"),
    "go": (),
    "rust": ("target",),
    "static": (),
}


def dockerignore_for(detection: Detection) -> str:
    """A ``.dockerignore`` for a context that has none (Docker honours the repository's own).

    Nothing is ignored for a repository's own Dockerfile: it may rely on any file, ``.git``
    included. Never lists the CA bundle or the generated Dockerfile, which the build needs.
    """
    if detection.preset == "dockerfile":
        return ""
    # Listing the generated Dockerfile keeps it out of COPY; Docker still reads it for the build.
    patterns = [".git", "**/.DS_Store", GENERATED_DOCKERFILE_NAME, ".dockerignore"]
    patterns += _IGNORE.get(detection.preset, ())
    if detection.preset in ("node", "nextjs", "vite"):
        patterns.append("**/node_modules")
    return "\n".join(patterns) + "\n"
