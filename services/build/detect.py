"""Which preset builds a repository, and why (§6): first match wins, never a guess."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from libs.events.config import SlipwayToml
from services.build.dockerfiles import render
from services.build.presets.common import Ask
from services.build.presets.files import exposed_port, match_dockerfile, match_static
from services.build.presets.native import match_go, match_rust
from services.build.presets.node import match_nextjs, match_node, match_vite
from services.build.presets.python import match_python, match_python_script
from services.build.repo import Repo
from services.build.types import (
    DEFAULT_PORT,
    PRESETS,
    AppFacts,
    Detection,
    DetectionError,
    DockerfileSettings,
    PresetName,
)

Matcher = Callable[[Repo, Ask], AppFacts | None]

# (matcher, what it looks for) in precedence order. The lone-script Python check comes after Go
# and Rust: a helper main.py next to a go.mod does not make a Python app.
ORDER: tuple[tuple[Matcher, str], ...] = (
    (match_dockerfile, "Dockerfile"),
    (match_nextjs, "next.config.{js,mjs,ts}"),
    (match_vite, "vite.config.*"),
    (match_node, "package.json (start script, main, index.js/server.js)"),
    (match_python, "requirements.txt/pyproject.toml/Pipfile/setup.py"),
    (match_go, "go.mod (or main.go)"),
    (match_rust, "Cargo.toml"),
    (match_python_script, "main.py/app.py"),
    (match_static, "index.html"),
)
LOOKED_FOR = tuple(what for _, what in ORDER)

FORCED: dict[str, Matcher] = {
    "dockerfile": match_dockerfile,
    "nextjs": match_nextjs,
    "vite": match_vite,
    "node": match_node,
    "python": match_python,
    "go": match_go,
    "rust": match_rust,
    "static": match_static,
}

UNSUPPORTED = (
    ("composer.json", "PHP"),
    ("index.php", "PHP"),
    ("Gemfile", "Ruby"),
    ("config.ru", "Ruby"),
    ("pom.xml", "Java (Maven)"),
    ("build.gradle", "Java (Gradle)"),
    ("build.gradle.kts", "Kotlin (Gradle)"),
    ("mix.exs", "Elixir"),
    ("deno.json", "Deno"),
    ("Package.swift", "Swift"),
    ("pubspec.yaml", "Dart"),
    ("stack.yaml", "Haskell"),
)
_APP_MARKERS = (
    "Dockerfile",
    "package.json",
    "requirements.txt",
    "pyproject.toml",
    "go.mod",
    "Cargo.toml",
    "index.html",
)
_MONOREPO_DIRS = ("apps", "packages", "services")


def _app_dir(root: Path, app_dir: str | None) -> str:
    if not app_dir:
        return "."
    base = posixpath.normpath(app_dir.strip().replace("\\", "/"))
    if posixpath.isabs(base) or base == ".." or base.startswith("../"):
        raise DetectionError(f"app_dir {app_dir!r} must be a path inside the repository")
    if not Repo(root).is_dir(base):
        raise DetectionError(f"app_dir {app_dir!r} is not a directory of the repository")
    return base


def _hint(repo: Repo) -> str | None:
    for marker, stack in UNSUPPORTED:
        if repo.is_file(marker):
            return f"found {marker}: {stack} has no preset, add a Dockerfile"
    if any(n.endswith((".csproj", ".fsproj")) for n in repo.listdir()):
        return "found a .NET project: it has no preset, add a Dockerfile"
    folders = [*repo.subdirs()]
    for group in _MONOREPO_DIRS:
        folders += repo.subdirs(group)
    apps = [d for d in folders if any(repo.is_file(f"{d}/{m}") for m in _APP_MARKERS)]
    if apps:
        return "looks like a monorepo: set app_dir to one of " + ", ".join(apps[:8])
    return None


def _forced(preset: str | None, toml: SlipwayToml | None) -> tuple[PresetName, str] | None:
    chosen, source = preset, "environment preset"
    if not chosen and toml is not None and toml.build.preset:
        chosen, source = toml.build.preset, "slipway.toml [build] preset"
    if not chosen:
        return None
    name = chosen.strip().lower()
    for known in PRESETS:
        if known == name:
            return known, source
    raise DetectionError(f"unknown preset {chosen!r} ({source}); use one of " + ", ".join(PRESETS))


def _match(repo: Repo, forced: tuple[PresetName, str] | None, ask: Ask) -> AppFacts:
    if forced is not None:
        name, source = forced
        facts = FORCED[name](repo, ask)
        if facts is None:
            raise DetectionError(f"preset {name} ({source}) does not apply to this directory")
        return replace(facts, signal=f"{source} ({facts.signal})")
    for matcher, _ in ORDER:
        facts = matcher(repo, ask)
        if facts is not None:
            return facts
    where = "the repository" if repo.base == "." else f"app_dir {repo.base}"
    raise DetectionError(f"no build preset matches {where}", LOOKED_FOR, _hint(repo))


def detect(
    path: Path,
    *,
    preset: str | None = None,
    app_dir: str | None = None,
    toml: SlipwayToml | None = None,
    settings: DockerfileSettings,
) -> Detection:
    """Decide how the checkout at ``path`` builds.

    Precedence: ``preset`` (the environment's setting) > ``toml.build.preset`` > detection in
    ``ORDER``. ``toml.build.start`` and ``static_dir`` override what is detected, and
    ``toml.deploy.port`` the port hint. Raises ``DetectionError`` listing what was looked for.
    """
    root = Path(path)
    if not root.is_dir():
        raise DetectionError(f"{path} is not a directory")
    repo = Repo(root, _app_dir(root, app_dir))
    build = toml.build if toml is not None else None
    ask = Ask(
        start=build.start if build else None,
        static_dir=build.static_dir if build else None,
    )
    forced = _forced(preset, toml)
    facts = _match(repo, forced, replace(ask, forced=forced is not None))
    context = facts.context_dir if facts.context_dir is not None else repo.base
    facts = replace(facts, context_dir=context, workdir=posixpath.relpath(repo.base, context))
    toml_port = toml.deploy.port if toml is not None else None
    if facts.preset == "dockerfile":
        name = facts.extra["path"]
        text = repo.text(name) or ""
        return Detection(
            preset="dockerfile",
            kind="container",
            signal=facts.signal,
            start_command=facts.start_command,
            static_output_dir=None,
            dockerfile=text,
            package_manager=None,
            port=toml_port or exposed_port(text),
            context_dir=context,
            generated=False,
            dockerfile_path=name,
        )
    port = toml_port or DEFAULT_PORT
    return Detection(
        preset=facts.preset,
        kind=facts.kind,
        signal=facts.signal,
        start_command=facts.start_command if facts.kind == "container" else None,
        static_output_dir=facts.static_output_dir,
        dockerfile=render(facts, settings, port),
        package_manager=facts.package_manager,
        port=port if facts.kind == "container" else None,
        context_dir=context,
    )
