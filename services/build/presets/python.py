"""Python: how dependencies install and what serves the app."""

from __future__ import annotations

import re
import shlex
import sys
from typing import Any

from services.build.presets.common import Ask
from services.build.repo import Repo, array, table
from services.build.types import AppFacts, DetectionError

SCRIPTS = ("main.py", "app.py", "server.py", "run.py")
_APP_FILES = ("main.py", "app.py", "server.py", "asgi.py", "wsgi.py", "application.py", "api.py")
_APP_DIRS = (".", "app", "src", "api")
_ASGI = {"FastAPI", "Starlette", "Quart", "Litestar"}
_APP_VAR = re.compile(
    r"^(\w+)\s*(?::\s*[\w.]+\s*)?=\s*(FastAPI|Starlette|Quart|Litestar|Flask|create_app)\(",
    re.MULTILINE,
)
_IMPORT = re.compile(r"^\s*(?:from\s+([\w]+)[\w.]*\s+import|import\s+([\w]+))", re.MULTILINE)
_LOCAL_REQUIREMENT = re.compile(r"^\s*(-r|-c|-e|--requirement|--constraint|\.|/|file:)", re.M)
_PROCFILE_WEB = re.compile(r"^web\s*:\s*(.+)$", re.MULTILINE)


def _deps_text(repo: Repo) -> str:
    names = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "setup.cfg")
    return "\n".join(repo.text(n) or "" for n in names).lower()


def _has_dep(deps: str, name: str) -> bool:
    return (
        re.search(rf"(^|[\s\"'\[,]){re.escape(name)}($|[\s\"'\],<>=~!;\[])", deps, re.M) is not None
    )


def _pyproject_install(pyproject: dict[str, Any], repo: Repo) -> str:
    if repo.is_file("uv.lock"):
        return "pip install uv && uv sync --frozen --no-dev --no-install-project"
    if "poetry" in table(pyproject, "tool"):
        return (
            "pip install poetry && poetry config virtualenvs.create false"
            " && poetry install --only main --no-root --no-interaction"
        )
    if "build-system" in pyproject:
        return "pip install ."
    deps = array(table(pyproject, "project"), "dependencies")
    if not deps:
        return ""
    # A PEP 621 file without a build backend is an app, not a package: install only what it lists.
    return "pip install " + " ".join(shlex.quote(str(d)) for d in deps)


def _is_python_pyproject(data: dict[str, Any]) -> bool:
    """A pyproject.toml that only configures tools (ruff, black) does not make a Python app."""
    return "project" in data or "build-system" in data or "poetry" in table(data, "tool")


def _dependencies(repo: Repo) -> tuple[str, str, tuple[str, ...]] | None:
    """The deciding signal, the install command and the manifests it reads."""
    requirements = repo.text("requirements.txt")
    if requirements is not None:
        # Lines pointing at other files (-r, -e ., ./pkg) need the whole tree before installing.
        local = _LOCAL_REQUIREMENT.search(requirements)
        manifests: tuple[str, ...] = () if local else ("requirements.txt",)
        return "requirements.txt", "pip install -r requirements.txt", manifests
    pyproject = repo.toml("pyproject.toml")
    if pyproject is not None and _is_python_pyproject(pyproject):
        install = _pyproject_install(pyproject, repo)
        lock = tuple(n for n in ("uv.lock", "poetry.lock") if repo.is_file(n))
        # `pip install .` builds the package itself, so it needs the whole tree.
        manifests = () if install == "pip install ." else ("pyproject.toml", *lock)
        return "pyproject.toml", install, manifests
    if repo.is_file("Pipfile"):
        locked = repo.is_file("Pipfile.lock")
        install = (
            "pip install pipenv && "
            + ("" if locked else "pipenv lock && ")
            + "pipenv requirements > /tmp/requirements.txt && pip install -r /tmp/requirements.txt"
        )
        return "Pipfile", install, ("Pipfile", *(("Pipfile.lock",) if locked else ()))
    if repo.is_file("setup.py"):
        return "setup.py", "pip install .", ()
    return None


def _django(repo: Repo) -> str | None:
    if not repo.is_file("manage.py"):
        return None
    for folder in repo.subdirs("."):
        wsgi = repo.text(f"{folder}/wsgi.py")
        if wsgi and "get_wsgi_application" in wsgi:
            return f"{folder.replace('/', '.')}.wsgi:application"
    return None


def _web_app(repo: Repo, deps: str) -> tuple[str, str] | None:
    """(server, start command) for the first FastAPI/Starlette/Flask app object found."""
    for folder in _APP_DIRS:
        for name in _APP_FILES:
            path = name if folder == "." else f"{folder}/{name}"
            text = repo.text(path)
            found = _APP_VAR.search(text or "")
            if found is None:
                continue
            var, cls = found.groups()
            if cls == "create_app":
                # `app = create_app()`: the framework is whichever one the app depends on.
                lowered = (text or "").lower()
                cls = next(
                    (
                        c
                        for c in ("FastAPI", "Flask")
                        if c.lower() in lowered or _has_dep(deps, c.lower())
                    ),
                    "",
                )
                if not cls:
                    continue
            module = name[:-3] if folder in (".", "src") else f"{folder}/{name[:-3]}"
            module = module.replace("/", ".")
            chdir = folder == "src"
            if cls in _ASGI:
                app_dir = " --app-dir src" if chdir else ""
                return "uvicorn", (
                    f"uvicorn {module}:{var}{app_dir} --host 0.0.0.0 --port ${{PORT}}"
                )
            src = " --chdir src" if chdir else ""
            return "gunicorn", f"gunicorn{src} --bind 0.0.0.0:${{PORT}} {module}:{var}"
    return None


def _start(repo: Repo, deps: str) -> tuple[str | None, str | None]:
    """(start command, server package it needs)."""
    procfile = _PROCFILE_WEB.search(repo.text("Procfile") or "")
    if procfile:
        return procfile.group(1).strip(), None
    wsgi = _django(repo)
    if wsgi:
        return f"gunicorn --bind 0.0.0.0:${{PORT}} {wsgi}", "gunicorn"
    web = _web_app(repo, deps)
    if web:
        return web[1], web[0]
    script = repo.first(*SCRIPTS, "streamlit_app.py")
    if script and _has_dep(deps, "streamlit"):
        return f"streamlit run {script} --server.port ${{PORT}} --server.address 0.0.0.0", None
    # python3, not python: a Debian-based base image has no `python` outside a venv.
    return (f"python3 {script}" if script else None), None


def _third_party_imports(repo: Repo) -> list[str]:
    """Third-party modules the app's top-level .py files import (empty: stdlib only)."""
    local = {f[:-3] for f in repo.files(".", ".py")} | set(repo.subdirs("."))
    missing: set[str] = set()
    for path in repo.files(".", ".py")[:50]:
        for a, b in _IMPORT.findall(repo.text(path) or ""):
            module = a or b
            if module not in sys.stdlib_module_names and module not in local:
                missing.add(module)
    return sorted(missing)


def match_python(repo: Repo, ask: Ask) -> AppFacts | None:
    deps = _dependencies(repo)
    if deps is None:
        if ask.forced:
            return match_python_script(repo, ask)
        return None
    signal, install, manifests = deps
    text = _deps_text(repo)
    start, server = (ask.start, None) if ask.start else _start(repo, text)
    if start is None:
        raise DetectionError(
            f"Python app ({signal}) with no way to start it: add a Procfile `web:` line, "
            "[build] start in slipway.toml, or one of " + "/".join(SCRIPTS)
        )
    if server and not _has_dep(text, server):
        install = f"{install} && pip install {server}" if install else f"pip install {server}"
    return AppFacts(
        preset="python",
        signal=signal,
        start_command=start,
        install_command=install or None,
        manifests=manifests,
        package_manager="pip",
    )


def match_python_script(repo: Repo, ask: Ask) -> AppFacts | None:
    """A lone main.py/app.py with no dependency file: it must use the standard library only."""
    script = repo.first(*SCRIPTS)
    if script is None:
        if ask.forced:
            raise DetectionError(
                "preset python needs requirements.txt, pyproject.toml, Pipfile, setup.py or one of "
                + "/".join(SCRIPTS)
            )
        return None
    missing = _third_party_imports(repo)
    if missing:
        raise DetectionError(
            f"{script} imports {', '.join(missing)} but no requirements.txt, pyproject.toml or "
            "Pipfile declares dependencies"
        )
    return AppFacts(preset="python", signal=script, start_command=ask.start or f"python3 {script}")
