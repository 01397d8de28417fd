"""GitClient in memory: repositories are dicts of commits; same contract as CliGitClient."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from services.clone.git import CheckoutRequest, CommitInfo, GitError, LineSink


@dataclass(frozen=True)
class FakeCommit:
    sha: str
    files: dict[str, bytes]
    message: str = "commit"
    author: str = "Dev <dev@example.com>"
    committed_at: str = "2024-01-01T00:00:00+00:00"


@dataclass
class FakeRepository:
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha
    head: str | None = None
    token: str | None = None  # when set, a checkout must present it


class FakeGitClient:
    def __init__(self, repositories: dict[str, FakeRepository] | None = None) -> None:
        self.repositories = repositories or {}
        self.requests: list[CheckoutRequest] = []

    async def checkout(self, request: CheckoutRequest, dest: Path, log: LineSink) -> CommitInfo:
        self.requests.append(request)
        repo = self.repositories.get(request.url.url)
        if repo is None or (repo.token is not None and request.auth.token != repo.token):
            raise GitError(
                f"cannot read {request.url}: authentication failed or no such repository", "auth"
            )
        sha = request.commit or repo.refs.get(request.ref or "", repo.head or "")
        if request.ref and not request.commit and request.ref not in repo.refs:
            raise GitError(f"git fetch failed: couldn't find remote ref {request.ref}")
        commit = repo.commits.get(sha)
        if commit is None:
            raise GitError(
                f"commit {sha} is not in the repository {request.url}", "commit_not_found"
            )
        log(f"$ git fetch --depth 1 -- origin {sha}", "system")
        await asyncio.to_thread(_write, dest, commit.files)
        return CommitInfo(
            sha=commit.sha,
            message=commit.message,
            author=commit.author,
            committed_at=commit.committed_at,
        )


def _write(dest: Path, files: dict[str, bytes]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"checkout target {dest} must be empty")
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
