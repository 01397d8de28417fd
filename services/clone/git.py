"""The port to git: check a repository out at one exact commit.

`CliGitClient` (adapters/cli_git.py) runs the git binary; `FakeGitClient` (adapters/fake_git.py)
serves commits from memory. tests/integration/clone/test_git_contract.py holds both to the same
contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from services.clone.urls import RepoUrl

Stream = Literal["stdout", "stderr", "system"]
LineSink = Callable[[str, Stream], None]


class GitError(Exception):
    """git could not produce the checkout; the message is for the user (never a secret)."""

    def __init__(self, message: str, code: str = "git") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, repr=False)
class GitAuth:
    """Credentials for one checkout. `repr` never shows them."""

    token: str | None = None  # https: sent only to the repository's own host
    ssh_key: str | None = None  # ssh and scp-like URLs: a private key (OpenSSH or PEM)

    def __repr__(self) -> str:
        token = "***" if self.token else None
        key = "***" if self.ssh_key else None
        return f"GitAuth(token={token}, ssh_key={key})"


@dataclass(frozen=True)
class CheckoutRequest:
    """What to check out. Exactly one of `commit` (preferred) or `ref` is usually set; with
    neither, the remote's default branch head is used."""

    url: RepoUrl
    commit: str | None = None
    ref: str | None = None
    auth: GitAuth = GitAuth()
    submodules: bool = True
    allow_local: bool = False  # may submodules use the file protocol too
    timeout_s: float = 600.0
    max_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author: str  # "Name <email>"
    committed_at: str  # ISO 8601


class GitClient(Protocol):
    async def checkout(self, request: CheckoutRequest, dest: Path, log: LineSink) -> CommitInfo:
        """Make `dest` (absent or empty) a working tree of `request.commit` with its submodules.

        Raises GitError (unknown commit, authentication, timeout, size limit, ...). Cancelling
        the call stops git at once.
        """
        ...
