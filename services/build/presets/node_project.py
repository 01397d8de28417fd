"""A Node package as the build sees it: scripts, dependencies, package manager, workspace root."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from services.build.repo import Repo, table

LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
PACKAGE_MANAGERS = ("npm", "yarn", "pnpm", "bun")
# Scripts npm runs during install: they may need any file, so the whole tree goes in first.
_INSTALL_HOOKS = ("preinstall", "install", "postinstall", "prepare")


@dataclass(frozen=True)
class NodeProject:
    pkg: dict[str, Any]
    scripts: dict[str, str]
    deps: frozenset[str]
    package_manager: str
    lockfile: str | None
    berry: bool
    context_dir: str
    workdir: str
    manifests: tuple[str, ...]

    def run(self, script: str) -> str:
        if self.package_manager == "npm":
            return f"npm run {script}"
        return f"{self.package_manager} run {script}"

    @property
    def start(self) -> str:
        return "bun run start" if self.package_manager == "bun" else f"{self.package_manager} start"

    def node(self, file: str) -> str:
        return f"bun {file}" if self.package_manager == "bun" else f"node {file}"

    @property
    def install(self) -> str:
        pm, locked = self.package_manager, self.lockfile is not None
        if pm == "npm":
            return ("npm ci" if locked else "npm install") + " --no-audit --no-fund"
        if pm == "pnpm":
            return "pnpm install" + (" --frozen-lockfile" if locked else "")
        if pm == "yarn" and self.berry:
            return "yarn install" + (" --immutable" if locked else "")
        if pm == "yarn":
            return "yarn install" + (" --frozen-lockfile" if locked else "")
        return "bun install" + (" --frozen-lockfile" if locked else "")

    @property
    def corepack(self) -> bool:
        """pnpm and Yarn 2+ are not in the Node image; corepack fetches the pinned version."""
        return self.package_manager == "pnpm" or (self.package_manager == "yarn" and self.berry)


def _lockfile(repo: Repo) -> tuple[str, str] | None:
    return next(((name, pm) for name, pm in LOCKFILES if repo.is_file(name)), None)


def _workspace_root(repo: Repo) -> str:
    """The directory whose install covers the app: the app itself or the monorepo root above it."""
    if _lockfile(repo) is not None:
        return repo.base
    for ancestor in repo.ancestors():
        view = repo.at(ancestor)
        if _lockfile(view) is not None or view.is_file("pnpm-workspace.yaml"):
            return ancestor
        pkg = view.json("package.json")
        if pkg is not None and "workspaces" in pkg:
            return ancestor
    return repo.base


def _declared_manager(*pkgs: dict[str, Any] | None) -> tuple[str, str] | None:
    """The corepack ``packageManager`` field (``pnpm@9.1.0``): name and version."""
    for pkg in pkgs:
        field = pkg.get("packageManager") if pkg else None
        if isinstance(field, str):
            name, _, version = field.partition("@")
            if name in PACKAGE_MANAGERS:
                return name, version
    return None


def load(repo: Repo) -> NodeProject | None:
    pkg = repo.json("package.json")
    if pkg is None:
        return None
    context = _workspace_root(repo)
    ctx = repo.at(context)
    root_pkg = ctx.json("package.json") if context != repo.base else None
    lock = _lockfile(ctx)
    declared = _declared_manager(pkg, root_pkg)
    pm = declared[0] if declared else (lock[1] if lock else "npm")
    major = declared[1].split(".")[0] if declared else ""
    berry = pm == "yarn" and ((major.isdigit() and int(major) >= 2) or ctx.is_file(".yarnrc.yml"))
    scripts = {k: v for k, v in table(pkg, "scripts").items() if isinstance(v, str)}
    deps: set[str] = set()
    for section in ("dependencies", "devDependencies"):
        deps.update(table(pkg, section))
    workdir = posixpath.relpath(repo.base, context)
    manifests: tuple[str, ...] = ()
    # Manifests first keeps the dependency layer cached, but only when the install needs nothing
    # else: a single package, no install hooks, no Yarn 2+ (its release lives under .yarn/).
    if workdir == "." and not berry and not any(h in scripts for h in _INSTALL_HOOKS):
        extra = [n for n in (".npmrc", ".yarnrc", "bunfig.toml") if repo.is_file(n)]
        manifests = ("package.json", *([lock[0]] if lock else []), *extra)
    return NodeProject(
        pkg=pkg,
        scripts=scripts,
        deps=frozenset(deps),
        package_manager=pm,
        lockfile=lock[0] if lock else None,
        berry=berry,
        context_dir=context,
        workdir=workdir,
        manifests=manifests,
    )
