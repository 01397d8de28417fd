"""The git adapter against real repositories and a real git HTTP server: submodules, the
full-fetch fallback, private repositories, cancellation, limits, and defence in depth."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from services.clone.adapters.cli_git import CliGitClient
from services.clone.git import CheckoutRequest, GitAuth, GitError
from services.clone.urls import RepoUrl, parse_repo_url
from tests.support.git_http import git_http_server
from tests.support.git_repos import GitRepo, Lines


def http_url(url: str) -> RepoUrl:
    """Plain http is refused by the URL check; the adapter itself is tested with it here."""
    host = url.split("/")[2]
    return RepoUrl(url, "http", host)


def git_processes_mentioning(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and b"git" in cmdline:
            found.append(int(pid))
    return found


async def test_submodules_are_checked_out_at_their_pinned_commit(tmp_path: Path) -> None:
    lib = GitRepo(tmp_path / "lib")
    pinned = lib.commit({"lib.txt": "v1\n"}, "lib v1")
    lib.commit({"lib.txt": "v2\n"}, "lib v2")
    app = GitRepo(tmp_path / "app")
    app.commit({"app.txt": "app\n"}, "app")
    app.add_submodule(lib, "vendor/lib")
    app.git("-C", "vendor/lib", "checkout", "-q", pinned)
    sha = app.commit({}, "pin lib v1")
    request = CheckoutRequest(
        url=parse_repo_url(app.url, allow_local=True), commit=sha, allow_local=True
    )
    await CliGitClient().checkout(request, tmp_path / "co", Lines())
    assert (tmp_path / "co" / "vendor/lib/lib.txt").read_text() == "v1\n"


async def test_a_server_that_cannot_fetch_one_commit_gets_a_full_fetch(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "src")
    old = repo.commit({"a.txt": "old\n"}, "old")
    repo.commit({"a.txt": "new\n"}, "new")
    with git_http_server(tmp_path / "srv", "dumb") as server:
        url = server.publish(repo.path, "app.git")
        log = Lines()
        info = await CliGitClient().checkout(
            CheckoutRequest(url=http_url(url), commit=old), tmp_path / "co", log
        )
    assert info.sha == old
    assert (tmp_path / "co" / "a.txt").read_text() == "old\n"
    assert "fetching all branches" in log.text


async def test_a_private_repository_is_read_with_the_token_which_is_never_kept(
    tmp_path: Path,
) -> None:
    token = "tok-" + os.urandom(8).hex()
    repo = GitRepo(tmp_path / "src")
    sha = repo.commit({"a.txt": "private\n"}, "private")
    with git_http_server(tmp_path / "srv", "smart", token=token) as server:
        url = server.publish(repo.path, "private.git")
        log = Lines()
        info = await CliGitClient().checkout(
            CheckoutRequest(url=http_url(url), commit=sha, auth=GitAuth(token=token)),
            tmp_path / "co",
            log,
        )
        assert any(a is not None for a in server.authorizations)
    assert info.sha == sha
    assert (tmp_path / "co" / "a.txt").read_text() == "private\n"
    assert token not in log.text
    kept = [p for p in (tmp_path / "co" / ".git").rglob("*") if p.is_file()]
    assert all(token.encode() not in p.read_bytes() for p in kept)


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_a_private_repository_without_the_right_token_fails_as_authentication(
    tmp_path: Path, token: str | None
) -> None:
    repo = GitRepo(tmp_path / "src")
    sha = repo.commit({"a.txt": "private\n"}, "private")
    with git_http_server(tmp_path / "srv", "smart", token="the-real-token") as server:
        url = server.publish(repo.path, "private.git")
        with pytest.raises(GitError) as err:
            await CliGitClient().checkout(
                CheckoutRequest(url=http_url(url), commit=sha, auth=GitAuth(token=token)),
                tmp_path / "co",
                Lines(),
            )
    assert err.value.code == "auth"
    assert "the-real-token" not in err.value.message


async def test_cancelling_a_checkout_kills_git_at_once(tmp_path: Path) -> None:
    with git_http_server(tmp_path / "srv", "hang") as server:
        url = f"{server.base}/hang-{os.urandom(4).hex()}.git"
        task = asyncio.create_task(
            CliGitClient().checkout(
                CheckoutRequest(url=http_url(url), commit="a" * 40), tmp_path / "co", Lines()
            )
        )
        for _ in range(100):
            if git_processes_mentioning(url) and server.authorizations:
                break
            await asyncio.sleep(0.05)
        assert git_processes_mentioning(url), "git never started"
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        assert git_processes_mentioning(url) == []


async def test_a_checkout_that_takes_too_long_stops_with_a_timeout(tmp_path: Path) -> None:
    with git_http_server(tmp_path / "srv", "hang") as server:
        url = f"{server.base}/slow-{os.urandom(4).hex()}.git"
        started = time.monotonic()
        with pytest.raises(GitError, match=r"did not finish within 0\.5 s") as err:
            await CliGitClient().checkout(
                CheckoutRequest(url=http_url(url), commit="a" * 40, timeout_s=0.5),
                tmp_path / "co",
                Lines(),
            )
        assert err.value.code == "timeout"
        assert time.monotonic() - started < 2.0
        assert git_processes_mentioning(url) == []


async def test_a_repository_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "src")
    sha = repo.commit({"big.bin": os.urandom(300_000)}, "big")
    request = CheckoutRequest(
        url=parse_repo_url(repo.url, allow_local=True),
        commit=sha,
        allow_local=True,
        max_bytes=100_000,
    )
    with pytest.raises(GitError, match="larger than the limit") as err:
        await CliGitClient().checkout(request, tmp_path / "co", Lines())
    assert err.value.code == "too_large"


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% {marker}",
        "--upload-pack=touch {marker};",
        "-u touch {marker}",
    ],
)
async def test_even_an_unchecked_hostile_url_executes_nothing(tmp_path: Path, url: str) -> None:
    """Defence in depth: the URL check refuses these first; the adapter must hold on its own."""
    marker = tmp_path / "marker"
    hostile = RepoUrl(url.format(marker=marker), "https", "example.com")
    with pytest.raises(GitError):
        await CliGitClient().checkout(
            CheckoutRequest(url=hostile, commit="a" * 40), tmp_path / "co", Lines()
        )
    assert not marker.exists()


async def test_an_unchecked_hostile_branch_executes_nothing(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "src")
    repo.commit({"a": "a"}, "a")
    marker = tmp_path / "marker"
    with pytest.raises(GitError):
        await CliGitClient().checkout(
            CheckoutRequest(
                url=parse_repo_url(repo.url, allow_local=True),
                ref=f"--upload-pack=touch {marker};",
                allow_local=True,
            ),
            tmp_path / "co",
            Lines(),
        )
    assert not marker.exists()
