"""The repository's own Dockerfile, and plain static sites."""

from __future__ import annotations

import re

from services.build.presets.common import Ask
from services.build.repo import Repo
from services.build.types import AppFacts, DetectionError

DOCKERFILES = ("Dockerfile", "Containerfile")
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.MULTILINE | re.IGNORECASE)


def exposed_port(dockerfile: str) -> int | None:
    found = _EXPOSE.search(dockerfile)
    return int(found.group(1)) if found else None


def match_dockerfile(repo: Repo, ask: Ask) -> AppFacts | None:
    name = repo.first(*DOCKERFILES)
    if name is None:
        if ask.forced:
            raise DetectionError("preset dockerfile needs a Dockerfile")
        return None
    return AppFacts(
        preset="dockerfile",
        signal=name,
        context_dir=repo.base,
        start_command=ask.start,
        extra={"path": name},
    )


def match_static(repo: Repo, ask: Ask) -> AppFacts | None:
    if ask.static_dir and (ask.forced or repo.is_dir(ask.static_dir)):
        if not repo.is_dir(ask.static_dir):
            raise DetectionError(f"static_dir {ask.static_dir!r} is not a directory")
        signal, folder = f"static_dir {ask.static_dir}", ask.static_dir
    elif repo.is_file("index.html"):
        signal, folder = "index.html", "."
    elif repo.is_file("public/index.html"):
        signal, folder = "public/index.html", "public"
    elif ask.forced:
        raise DetectionError("preset static needs an index.html (or [build] static_dir)")
    else:
        return None
    return AppFacts(
        preset="static",
        signal=signal,
        kind="static",
        context_dir=repo.base,
        static_output_dir=ask.static_dir or folder,
    )
