"""Node family matchers: Next.js, Vite (static output) and plain Node servers."""

from __future__ import annotations

import re
from dataclasses import replace

from services.build.presets.common import Ask
from services.build.presets.node_project import NodeProject, load
from services.build.repo import Repo
from services.build.types import AppFacts, DetectionError

NEXT_CONFIGS = ("next.config.js", "next.config.mjs", "next.config.ts", "next.config.cjs")
VITE_CONFIGS = tuple(f"vite.config.{e}" for e in ("js", "mjs", "cjs", "ts", "mts", "cts"))
ENTRY_FILES = ("server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs")
# A start script that only serves the built files (or runs the dev server) is not an app server.
_STATIC_SERVER = re.compile(r"(^|[\s;&|/])(vite|serve|http-server|live-server|sirv)(\s|$)")
_OUT_DIR = re.compile(r"""outDir\s*:\s*['"]([^'"]+)['"]""")
_NEXT_OUTPUT = re.compile(r"""output\s*:\s*['"](standalone|export)['"]""")
_NEXT_DIST = re.compile(r"""distDir\s*:\s*['"]([^'"]+)['"]""")


def _facts(app: NodeProject, facts: AppFacts) -> AppFacts:
    return replace(
        facts,
        package_manager=app.package_manager,
        install_command=app.install,
        context_dir=app.context_dir,
        workdir=app.workdir,
        manifests=app.manifests,
        extra={**facts.extra, "corepack": "yes" if app.corepack else ""},
    )


def _in_context(app: NodeProject, path: str) -> str:
    return path if app.workdir == "." else f"{app.workdir}/{path}"


def _serves(app: NodeProject) -> bool:
    start = app.scripts.get("start")
    return bool(start) and not _STATIC_SERVER.search(start or "")


def _needs_package_json(preset: str, found: str) -> DetectionError:
    return DetectionError(f"{found} found but no package.json: preset {preset} needs one")


def match_nextjs(repo: Repo, ask: Ask) -> AppFacts | None:
    config = repo.first(*NEXT_CONFIGS)
    app = load(repo)
    if app is None:
        if config or ask.forced:
            raise _needs_package_json("nextjs", config or "preset nextjs")
        return None
    if config:
        signal = config
    elif "next" in app.deps:
        signal = "package.json dependency next"
    elif ask.forced:
        signal = "package.json"
    else:
        return None
    text = repo.text(config) if config else ""
    mode_match = _NEXT_OUTPUT.search(text or "")
    mode = mode_match.group(1) if mode_match else "server"
    if "next export" in app.scripts.get("build", ""):
        mode = "export"
    build = app.run("build") if "build" in app.scripts else "npx --no-install next build"
    if mode == "export":
        dist = _NEXT_DIST.search(text or "")
        out = ask.static_dir or (dist.group(1) if dist else "out")
        return _facts(
            app,
            AppFacts(
                preset="nextjs",
                signal=signal,
                kind="static",
                build_command=build,
                static_output_dir=_in_context(app, out),
                extra={"mode": mode},
            ),
        )
    # The standalone server sits at a nested path in a workspace; there the whole tree ships.
    if mode == "standalone" and app.workdir != ".":
        mode = "server"
    if ask.start:
        start = ask.start
    elif mode == "standalone":
        start = "node server.js"
    else:
        start = app.start if "start" in app.scripts else "npx --no-install next start"
    return _facts(
        app,
        AppFacts(
            preset="nextjs",
            signal=signal,
            start_command=start,
            build_command=build,
            extra={"mode": mode, "public": "yes" if repo.is_dir("public") else ""},
        ),
    )


def _sveltekit_adapter(app: NodeProject) -> str | None:
    if "@sveltejs/kit" not in app.deps:
        return None
    for adapter in ("node", "static"):
        if f"@sveltejs/adapter-{adapter}" in app.deps:
            return adapter
    return "other"


def match_vite(repo: Repo, ask: Ask) -> AppFacts | None:
    config = repo.first(*VITE_CONFIGS)
    app = load(repo)
    if app is None:
        if config or ask.forced:
            raise _needs_package_json("vite", config or "preset vite")
        return None
    build_script = app.scripts.get("build", "")
    adapter = _sveltekit_adapter(app)
    if adapter == "other" and not ask.forced:
        raise DetectionError(
            "SvelteKit app without a deployable adapter: add @sveltejs/adapter-node (a server) "
            "or @sveltejs/adapter-static (static files)"
        )
    if config:
        signal = config
    elif "vite" in app.deps and "vite build" in build_script:
        signal = "package.json build script (vite build)"
    elif ask.forced:
        if not build_script:
            raise DetectionError("preset vite needs a build script in package.json")
        signal = "package.json build script"
    else:
        return None
    # A server next to the Vite config (SSR, SvelteKit's node adapter) is a Node app.
    if not ask.forced and (_serves(app) or adapter == "node"):
        return None
    default_out = "build" if adapter == "static" else "dist"
    found = _OUT_DIR.search(repo.text(config) or "") if config else None
    out = ask.static_dir or (found.group(1) if found else default_out)
    return _facts(
        app,
        AppFacts(
            preset="vite",
            signal=signal,
            kind="static",
            build_command=app.run("build") if build_script else "npx --no-install vite build",
            static_output_dir=_in_context(app, out),
        ),
    )


def match_node(repo: Repo, ask: Ask) -> AppFacts | None:
    app = load(repo)
    if app is None:
        if ask.forced:
            raise DetectionError("preset node needs a package.json")
        return None
    main = app.pkg.get("main")
    has_build = "build" in app.scripts
    entry = repo.first(*ENTRY_FILES)
    if "start" in app.scripts:
        signal, start = "package.json start script", app.start
    elif _sveltekit_adapter(app) == "node":
        signal, start = "package.json dependency @sveltejs/adapter-node", app.node("build")
    elif isinstance(main, str) and main and (repo.is_file(main) or has_build):
        signal, start = "package.json main", app.node(main)
    elif entry:
        signal, start = entry, app.node(entry)
    elif ask.forced and ask.start:
        signal, start = "package.json", ask.start
    else:
        if ask.forced:
            raise DetectionError(
                "preset node needs a start script, a main file or one of "
                + "/".join(ENTRY_FILES)
                + " (or a start command in slipway.toml)"
            )
        return None
    return _facts(
        app,
        AppFacts(
            preset="node",
            signal=signal,
            start_command=ask.start or start,
            build_command=app.run("build") if has_build else None,
        ),
    )
