"""The environment every git process runs in: hardened, credentials scoped and off the command
line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from services.clone.adapters.cli_git import git_env
from services.clone.git import CheckoutRequest, GitAuth
from services.clone.urls import parse_repo_url

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"


def config(env: dict[str, str]) -> dict[str, str]:
    count = int(env["GIT_CONFIG_COUNT"])
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


def test_git_runs_without_user_config_prompts_or_dangerous_transports(tmp_path: Path) -> None:
    env = git_env(CheckoutRequest(url=parse_repo_url("https://h.io/a/b")), tmp_path)
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert env["HOME"] == str(tmp_path)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert env["GIT_PROTOCOL_FROM_USER"] == "0"
    cfg = config(env)
    assert cfg["protocol.ext.allow"] == "never"
    assert cfg["core.hooksPath"] == os.devnull
    assert cfg["credential.helper"] == ""
    assert "SSH_AUTH_SOCK" not in env


def test_the_file_protocol_is_allowed_only_for_allowed_local_repositories(tmp_path: Path) -> None:
    local = CheckoutRequest(url=parse_repo_url("/srv/app", allow_local=True), allow_local=True)
    assert git_env(local, tmp_path)["GIT_ALLOW_PROTOCOL"] == "https:ssh:file"
    remote = CheckoutRequest(url=parse_repo_url("https://h.io/a/b"))
    assert "file" not in git_env(remote, tmp_path)["GIT_ALLOW_PROTOCOL"]


def test_a_token_reaches_only_a_helper_scoped_to_the_repository_host(tmp_path: Path) -> None:
    request = CheckoutRequest(
        url=parse_repo_url("https://git.example.com:8443/a/b"), auth=GitAuth(token="tok-secret")
    )
    env = git_env(request, tmp_path)
    helpers = {k: v for k, v in config(env).items() if k.startswith("credential.")}
    assert set(helpers) == {"credential.helper", "credential.https://git.example.com:8443.helper"}
    assert "tok-secret" not in "".join(helpers.values())
    assert [k for k, v in env.items() if v == "tok-secret"] == ["SLIPWAY_GIT_CREDENTIAL"]
    assert "tok-secret" not in env["GIT_SSH_COMMAND"]


def test_an_ssh_key_goes_to_a_private_file_named_in_the_ssh_command(tmp_path: Path) -> None:
    request = CheckoutRequest(url=parse_repo_url("git@h.io:a/b.git"), auth=GitAuth(ssh_key=KEY))
    env = git_env(request, tmp_path)
    key = tmp_path / "id_deploy"
    assert key.read_text() == KEY + "\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"-i {key}" in env["GIT_SSH_COMMAND"]
    assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]
    assert "IdentityAgent=none" in env["GIT_SSH_COMMAND"]
    assert all(KEY not in v for v in env.values())


def test_credentials_are_never_shown_by_repr() -> None:
    assert "s3cr3t" not in repr(GitAuth(token="s3cr3t", ssh_key=KEY))
    assert "PRIVATE" not in repr(
        CheckoutRequest(url=parse_repo_url("git@h.io:a/b"), auth=GitAuth(ssh_key=KEY))
    )
