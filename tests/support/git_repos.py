"""Real git repositories made by tests (the git binary, a fixed author, no user config)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from services.clone.git import Stream

AUTHOR = "Test Author"
EMAIL = "author@example.com"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=AUTHOR,
        GIT_AUTHOR_EMAIL=EMAIL,
        GIT_COMMITTER_NAME=AUTHOR,
        GIT_COMMITTER_EMAIL=EMAIL,
        GIT_ALLOW_PROTOCOL="file",
    )
    return env


class GitRepo:
    """A non-bare repository on branch `main`; `commit` writes files and returns the sha."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=_env(),
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def commit(
        self, files: Mapping[str, str | bytes], message: str, *, remove: tuple[str, ...] = ()
    ) -> str:
        for rel, content in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        for rel in remove:
            self.git("rm", "-q", "--", rel)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def add_submodule(self, other: GitRepo, path: str) -> None:
        self.git(
            "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(other.path), path
        )

    @property
    def url(self) -> str:
        return str(self.path)


class Lines:
    """A clone log sink that keeps every line (and its stream) for assertions."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, Stream]] = []

    def __call__(self, line: str, stream: Stream) -> None:
        self.lines.append((line, stream))

    @property
    def text(self) -> str:
        return "\n".join(line for line, _ in self.lines)
