"""Compiled languages: Go and Rust build a binary that ships alone on a slim runtime image."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from services.build.presets.common import Ask
from services.build.repo import Repo, array, table
from services.build.types import AppFacts, DetectionError

_PACKAGE_MAIN = re.compile(r"^package\s+main\b", re.MULTILINE)
_MODULE = re.compile(r"^module\s+(\S+)", re.MULTILINE)
_LOCAL_REPLACE = re.compile(r"=>\s*\.{1,2}/")


def _has_main(repo: Repo, folder: str) -> bool:
    return any(
        _PACKAGE_MAIN.search(repo.text(f) or "")
        for f in repo.files(folder, ".go")
        if not f.endswith("_test.go")
    )


def _go_target(repo: Repo, module: str) -> str:
    """The package to build, relative to the module root (which is repo.base here)."""
    if _has_main(repo, "."):
        return "."
    commands = [d for d in repo.subdirs("cmd") if _has_main(repo, d)]
    if len(commands) == 1:
        return f"./{commands[0]}"
    named = [d for d in commands if posixpath.basename(d) == posixpath.basename(module)]
    if len(named) == 1:
        return f"./{named[0]}"
    if commands:
        raise DetectionError(
            "Go module with several commands: set app_dir to the one to deploy",
            hint="candidates: " + ", ".join(commands),
        )
    raise DetectionError("go.mod found but no main package (package main in . or cmd/*)")


def match_go(repo: Repo, ask: Ask) -> AppFacts | None:
    module_root = next(
        (d for d in (repo.base, *repo.ancestors()) if repo.at(d).is_file("go.mod")), None
    )
    if module_root is None:
        if repo.is_file("main.go") and _has_main(repo, "."):
            return AppFacts(
                preset="go",
                signal="main.go",
                context_dir=repo.base,
                install_command="go mod init app && go mod tidy",
                build_command="go build -trimpath -ldflags='-s -w' -o /out/app .",
                start_command=ask.start or "/usr/local/bin/app",
                package_manager="go",
            )
        if ask.forced:
            raise DetectionError("preset go needs go.mod or a main.go with package main")
        return None
    root = repo.at(module_root)
    gomod = root.text("go.mod") or ""
    found = _MODULE.search(gomod)
    module = found.group(1) if found else "app"
    if module_root == repo.base:
        signal, target = "go.mod", _go_target(repo, module)
    elif _has_main(repo, "."):
        signal, target = (
            f"go.mod in {module_root}",
            "./" + posixpath.relpath(repo.base, module_root),
        )
    else:
        return None
    manifests: tuple[str, ...] = ()
    install = None
    if root.is_file("go.sum") and not _LOCAL_REPLACE.search(gomod):
        manifests, install = ("go.mod", "go.sum"), "go mod download"
    return AppFacts(
        preset="go",
        signal=signal,
        context_dir=module_root,
        manifests=manifests,
        install_command=install,
        build_command=f"go build -trimpath -ldflags='-s -w' -o /out/app {target}",
        start_command=ask.start or "/usr/local/bin/app",
        package_manager="go",
    )


def _name(package: dict[str, Any]) -> str:
    name = package.get("name")
    if not isinstance(name, str) or not name:
        raise DetectionError("Cargo.toml: [package] has no name")
    return name


def _binary(repo: Repo, cargo: dict[str, Any]) -> str:
    package = table(cargo, "package")
    bins = [b["name"] for b in array(cargo, "bin") if isinstance(b, dict) and "name" in b]
    default = package.get("default-run")
    if isinstance(default, str):
        return default
    if bins:
        return str(bins[0])
    if repo.is_file("src/main.rs"):
        return _name(package)
    raise DetectionError("Cargo.toml describes a library: no src/main.rs and no [[bin]]")


def match_rust(repo: Repo, ask: Ask) -> AppFacts | None:
    cargo = repo.toml("Cargo.toml")
    if cargo is None:
        if ask.forced:
            raise DetectionError("preset rust needs a Cargo.toml")
        return None
    if not isinstance(cargo.get("package"), dict):
        members = array(table(cargo, "workspace"), "members")
        raise DetectionError(
            "Cargo.toml is a workspace: set app_dir to the member to deploy",
            hint="members: " + ", ".join(str(m) for m in members) if members else None,
        )
    binary = _binary(repo, cargo)
    context = next(
        (d for d in repo.ancestors() if "workspace" in (repo.at(d).toml("Cargo.toml") or {})),
        repo.base,
    )
    ctx = repo.at(context)
    locked = " --locked" if ctx.is_file("Cargo.lock") else ""
    select = "" if context == repo.base else f" -p {_name(table(cargo, 'package'))}"
    return AppFacts(
        preset="rust",
        signal="Cargo.toml",
        context_dir=context,
        build_command=(
            f"cargo build --release{locked}{select} && cp target/release/{binary} /out/app"
        ),
        start_command=ask.start or "/usr/local/bin/app",
        package_manager="cargo",
        extra={"openssl": "yes" if "openssl-sys" in (ctx.text("Cargo.lock") or "") else ""},
    )
