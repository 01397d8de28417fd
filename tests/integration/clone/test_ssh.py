"""git over ssh against a real OpenSSH server: the deploy key reaches ssh only for the checkout,
never stays on disk and never appears in the log; a key the server refuses is a clear error."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.clone.adapters.cli_git import CliGitClient
from services.clone.git import CheckoutRequest, GitAuth, GitError
from services.clone.urls import parse_repo_url
from tests.support.git_repos import GitRepo, Lines
from tests.support.sshd import SshServer, find_sshd, ssh_server


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    binary = find_sshd()
    if binary is None:
        pytest.skip("no sshd (Debian: apt-get install openssh-server)")
    with ssh_server(tmp_path / "sshd", binary) as server:
        yield server


def key_lines(key: str) -> list[str]:
    return [line for line in key.splitlines() if line and not line.startswith("-----")]


async def test_a_repository_over_ssh_is_read_with_the_deploy_key_which_is_never_kept(
    tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = GitRepo(tmp_path / "src")
    sha = repo.commit({"a.txt": "over ssh\n"}, "over ssh")
    homes: list[Path] = []  # the adapter's private git homes, where the key file is written
    real = tempfile.TemporaryDirectory

    def spy(*args: Any, **kwargs: Any) -> tempfile.TemporaryDirectory[str]:
        made = real(*args, **kwargs)
        homes.append(Path(made.name))
        return made

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    log = Lines()
    url = parse_repo_url(sshd.url(repo.path))
    assert url.scheme == "ssh"
    info = await CliGitClient().checkout(
        CheckoutRequest(url=url, commit=sha, auth=GitAuth(ssh_key=sshd.client_key)),
        tmp_path / "co",
        log,
    )
    assert info.sha == sha
    assert (tmp_path / "co" / "a.txt").read_text() == "over ssh\n"
    assert not any(part in log.text for part in key_lines(sshd.client_key))
    # The key file went with the private home; nothing of it is in the checkout.
    assert homes and not any(home.exists() for home in homes)
    for path in (tmp_path / "co").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(part.encode() in content for part in key_lines(sshd.client_key))


async def test_a_key_the_server_refuses_is_a_clear_error(tmp_path: Path, sshd: SshServer) -> None:
    repo = GitRepo(tmp_path / "src")
    sha = repo.commit({"a.txt": "x\n"}, "x")
    log = Lines()
    with pytest.raises(GitError) as failed:
        await CliGitClient().checkout(
            CheckoutRequest(
                url=parse_repo_url(sshd.url(repo.path)),
                commit=sha,
                auth=GitAuth(ssh_key=sshd.other_key),
                timeout_s=60,
            ),
            tmp_path / "co",
            log,
        )
    message = str(failed.value).lower()
    assert "permission denied" in message or "could not read from remote" in message
    assert not any(part in message for part in key_lines(sshd.other_key))
