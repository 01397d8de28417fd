"""GitClient over the git binary (async subprocesses: streamed output, killed on cancel).

Hardening, on top of the URL checks of `services.clone.urls`:
- `--` before every positional argument, so nothing is ever read as an option;
- a minimal environment: no system or user git config, no terminal prompts, no ssh agent, no
  hooks, `GIT_ALLOW_PROTOCOL` (https and ssh; file only for allowed local repositories),
  `protocol.ext.allow=never`;
- credentials never on a command line, in a URL or in `.git/config`: an https token reaches git
  through a credential helper scoped to the repository's host that reads it from the environment
  of the git process; an ssh key through a 0600 file in a temporary directory and
  `GIT_SSH_COMMAND`. Both go with the temporary directory, and every logged line is scrubbed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import tempfile
from pathlib import Path

from services.clone.adapters.git_process import GitProcess, GitRun, last_lines, tree_size
from services.clone.git import CheckoutRequest, CommitInfo, GitError, LineSink

_INHERITED = (
    "PATH",
    "LANG",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)
_CREDENTIAL_VAR = "SLIPWAY_GIT_CREDENTIAL"
_HELPER = (
    f'!f() {{ test "$1" = get || return 0; echo username=x-access-token; '
    f'echo "password=${_CREDENTIAL_VAR}"; }}; f'
)
_AUTH_FAILURE = re.compile(
    r"Authentication failed|could not read Username|terminal prompts disabled|"
    r"Permission denied \(publickey|Repository not found|HTTP Basic: Access denied|"
    r"returned error: 40[134]|Host key verification failed",
    re.IGNORECASE,
)


def git_env(request: CheckoutRequest, home: Path) -> dict[str, str]:
    """The whole environment of every git process of one checkout (secrets included)."""
    env = {k: v for k in _INHERITED if (v := os.environ.get(k)) is not None}
    protocols = ["https", "ssh"]
    if request.allow_local or request.url.scheme == "file":
        protocols.append("file")
    if request.url.scheme not in protocols:
        protocols.append(request.url.scheme)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=":".join(protocols),
        GIT_PROTOCOL_FROM_USER="0",
        GIT_LFS_SKIP_SMUDGE="1",
        GIT_HTTP_LOW_SPEED_LIMIT="1000",
        GIT_HTTP_LOW_SPEED_TIME="60",
        GIT_SSH_COMMAND=_ssh_command(request, home),
    )
    config = [
        ("protocol.ext.allow", "never"),
        ("core.hooksPath", os.devnull),
        ("advice.detachedHead", "false"),
        ("init.defaultBranch", "main"),
        ("credential.helper", ""),  # an empty value drops every helper configured before
    ]
    if request.auth.token and request.url.host:
        config.append((f"credential.{request.url.scheme}://{request.url.host}.helper", _HELPER))
        env[_CREDENTIAL_VAR] = request.auth.token
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _ssh_command(request: CheckoutRequest, home: Path) -> str:
    args = [
        "ssh",
        "-F",
        os.devnull,
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={home / 'known_hosts'}",
    ]
    if request.auth.ssh_key:
        key = home / "id_deploy"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(request.auth.ssh_key.strip() + "\n")
        args += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
    return shlex.join(args)


class CliGitClient:
    def __init__(
        self,
        binary: str = "git",
        *,
        progress_every_s: float = 1.0,
        size_poll_s: float = 0.5,
    ) -> None:
        self.binary = binary
        self.progress_every_s = progress_every_s
        self.size_poll_s = size_poll_s

    async def checkout(self, request: CheckoutRequest, dest: Path, log: LineSink) -> CommitInfo:
        await asyncio.to_thread(_empty_dir, dest)
        with tempfile.TemporaryDirectory(prefix="slipway-git-") as home:
            env = git_env(request, Path(home))
            secrets = [s for s in (request.auth.token, request.auth.ssh_key) if s]
            git = GitProcess(self.binary, env, dest, log, secrets, self.progress_every_s)
            work = asyncio.create_task(self._checkout(git, request))
            guard = asyncio.create_task(_size_guard(dest, request.max_bytes, self.size_poll_s))
            try:
                async with asyncio.timeout(request.timeout_s):
                    done, _ = await asyncio.wait({work, guard}, return_when="FIRST_COMPLETED")
            except TimeoutError:
                raise GitError(
                    f"git did not finish within {request.timeout_s:g} s", "timeout"
                ) from None
            finally:
                for task in (work, guard):
                    task.cancel()
                # The tasks kill their git processes when cancelled; wait for that.
                await asyncio.gather(work, guard, return_exceptions=True)
            if work in done:
                return work.result()
            guard.result()  # raises the size error
            raise AssertionError("unreachable")

    async def _checkout(self, git: GitProcess, request: CheckoutRequest) -> CommitInfo:
        await git.run("init", "-q", "--", str(git.cwd), cwd=git.cwd.parent)
        await git.run("remote", "add", "--", "origin", request.url.url)
        sha = await self._fetch(git, request)
        await git.run("checkout", "-q", "--detach", sha, "--")
        if request.submodules and (git.cwd / ".gitmodules").is_file():
            shallow = await git.run(
                "submodule", "update", "--init", "--recursive", "--depth", "1", check=False
            )
            if shallow.rc != 0:
                git.log("submodules: shallow fetch refused, fetching their full history", "system")
                await git.run("submodule", "update", "--init", "--recursive")
        meta = await git.run(
            "log", "-1", "--format=%H%x00%an <%ae>%x00%cI%x00%B", sha, "--", quiet=True
        )
        full, author, date, message = [*meta.stdout.split("\x00", 3), "", "", ""][:4]
        if await asyncio.to_thread(tree_size, git.cwd) > request.max_bytes:
            raise _too_large(request.max_bytes)
        return CommitInfo(
            sha=full.strip(), author=author, committed_at=date, message=message.strip()
        )

    async def _fetch(self, git: GitProcess, request: CheckoutRequest) -> str:
        fetch = ("fetch", "--no-tags", "--progress")
        if request.commit:
            quick = await git.run(
                *fetch, "--depth", "1", "--", "origin", request.commit, check=False
            )
            if quick.rc == 0:
                return request.commit
            _raise_if_auth(quick, request)
            git.log(
                "the server refused a fetch of the single commit; fetching all branches", "system"
            )
            await git.run(
                *fetch,
                "--",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
                failure=lambda r: _raise_if_auth(r, request),
            )
            found = await git.run(
                "cat-file", "-e", f"{request.commit}^{{commit}}", check=False, quiet=True
            )
            if found.rc != 0:
                raise GitError(
                    f"commit {request.commit} is not in the repository {request.url}",
                    "commit_not_found",
                )
            return request.commit
        ref = request.ref or "HEAD"
        await git.run(
            *fetch, "--depth", "1", "--", "origin", ref,
            failure=lambda r: _raise_if_auth(r, request),
        )  # fmt: skip
        head = await git.run("rev-parse", "--verify", "FETCH_HEAD^{commit}", quiet=True)
        return head.stdout.strip()


def _empty_dir(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"checkout target {dest} must be empty")


def _raise_if_auth(result: GitRun, request: CheckoutRequest) -> None:
    text = "\n".join(result.stderr_tail)
    if not _AUTH_FAILURE.search(text):
        return
    if request.auth.token or request.auth.ssh_key:
        hint = "the configured " + ("token" if request.auth.token else "ssh key") + " was refused"
    else:
        hint = (
            "for a private repository set the SLIPWAY_GIT_TOKEN (https) or "
            "SLIPWAY_GIT_SSH_KEY (ssh) secret"
        )
    raise GitError(
        f"cannot read {request.url}: authentication failed or no such repository ({hint}): "
        + last_lines(result),
        "auth",
    )


async def _size_guard(dest: Path, max_bytes: int, every_s: float) -> None:
    """Returns never; raises GitError once the checkout grows past `max_bytes`."""
    while True:
        await asyncio.sleep(every_s)
        size = await asyncio.to_thread(tree_size, dest)
        if size > max_bytes:
            raise _too_large(max_bytes)


def _too_large(max_bytes: int) -> GitError:
    return GitError(
        f"the repository is larger than the limit of {max_bytes / (1024 * 1024):g} MiB "
        "(SLIPWAY_MAX_SOURCE_BYTES)",
        "too_large",
    )
