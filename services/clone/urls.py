"""What may be handed to git: repository URLs, commits and refs, checked before anything runs.

Git reads an argument that starts with `-` as an option (`--upload-pack=<command>` runs a
command), and `<transport>::<address>` as a remote helper (`ext::sh -c ...` runs a command). Both
are refused here, before git is started at all; the git adapter adds `--` and a protocol
allow-list on top (defence in depth).

Accepted: `https://host/path`, `ssh://[user@]host[:port]/path`, `[user@]host:path` (scp-like), and
— only with `SLIPWAY_ALLOW_LOCAL_REPOS` — absolute local paths and `file:///path`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048
MAX_REF = 255

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_TRANSPORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# git treats `[user@]host:path` as scp-like only when no slash comes before the first colon.
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>.+)$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class UnsafeRepoUrl(ValueError):
    """A repository URL, commit or ref that is refused; the message says why (never a secret)."""


@dataclass(frozen=True)
class RepoUrl:
    """A checked repository location. `url` is what git is given; it carries no credentials."""

    url: str
    scheme: str  # https | ssh | file (the git protocol name, for GIT_ALLOW_PROTOCOL)
    host: str | None = None

    def __str__(self) -> str:
        return self.url


def _shown(url: str) -> str:
    """The URL for an error message: a password in it is masked, a long one cut."""
    masked = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return repr(masked if len(masked) <= 200 else masked[:200] + "...")


def _check_chars(url: str) -> None:
    if not url:
        raise UnsafeRepoUrl("no repository URL")
    if len(url) > MAX_URL:
        raise UnsafeRepoUrl(f"repository URL is longer than {MAX_URL} characters")
    if url.startswith("-"):
        raise UnsafeRepoUrl(
            f"repository URL {_shown(url)} starts with '-': git would read it as an option"
        )
    if _TRANSPORT.match(url):
        transport = url.split("::", 1)[0]
        raise UnsafeRepoUrl(
            f"repository URL {_shown(url)} uses the '{transport}::' remote-helper transport, "
            "which is not allowed; use https://, ssh:// or user@host:path"
        )
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} contains spaces or control characters")


def _host_ok(host: str | None, url: str) -> str:
    if not host:
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} has no host")
    if host.startswith("-"):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)}: a host may not start with '-'")
    return host


def _path_ok(path: str, url: str) -> None:
    if not path.strip("/"):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} names no repository path")


def _https(url: str) -> RepoUrl:
    parts = urlsplit(url)
    if parts.password is not None:
        raise UnsafeRepoUrl(
            f"repository URL {_shown(url)} carries a password: store the token as the "
            "SLIPWAY_GIT_TOKEN secret instead"
        )
    try:
        port = parts.port
    except ValueError:
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} has an invalid port") from None
    host = _host_ok(parts.hostname, url)
    _path_ok(parts.path, url)
    if parts.query or parts.fragment:
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} may not have a query or fragment")
    return RepoUrl(url, "https", host if port is None else f"{host}:{port}")


def _ssh(url: str) -> RepoUrl:
    parts = urlsplit(url)
    if parts.username is not None and parts.username.startswith("-"):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)}: a user may not start with '-'")
    if parts.password is not None:
        raise UnsafeRepoUrl(
            f"repository URL {_shown(url)} carries a password: store a deploy key as the "
            "SLIPWAY_GIT_SSH_KEY secret instead"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise UnsafeRepoUrl(f"repository URL {_shown(url)} has an invalid port") from None
    host = _host_ok(parts.hostname, url)
    _path_ok(parts.path, url)
    return RepoUrl(url, "ssh", host)


def _scp(url: str) -> RepoUrl | None:
    found = _SCP.match(url)
    if found is None:
        return None
    user, host, path = found.group("user"), found.group("host"), found.group("path")
    if user is not None and user.startswith("-"):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)}: a user may not start with '-'")
    _host_ok(host, url)
    if path.startswith("-"):
        raise UnsafeRepoUrl(f"repository URL {_shown(url)}: the path may not start with '-'")
    _path_ok(path, url)
    return RepoUrl(url, "ssh", host.strip("[]"))


def _local(url: str, allow_local: bool) -> RepoUrl:
    if not allow_local:
        raise UnsafeRepoUrl(
            f"repository {_shown(url)} is a local path; local repositories are disabled "
            "(set SLIPWAY_ALLOW_LOCAL_REPOS=true to allow them)"
        )
    path = url[len("file://") :] if url.startswith("file://") else url
    if not path.startswith("/"):
        raise UnsafeRepoUrl(f"local repository {_shown(url)} must be an absolute path")
    if "/../" in path + "/" or path.endswith("/.."):
        raise UnsafeRepoUrl(f"local repository {_shown(url)} may not contain '..'")
    return RepoUrl(url, "file")


def parse_repo_url(url: str | None, *, allow_local: bool = False) -> RepoUrl:
    """Check a repository location; raises UnsafeRepoUrl with the reason."""
    url = url or ""
    _check_chars(url)
    scheme = _SCHEME.match(url)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name == "https":
            return _https(url)
        if name == "ssh":
            return _ssh(url)
        if name == "file":
            return _local(url, allow_local)
        if name == "http":
            raise UnsafeRepoUrl(
                f"repository URL {_shown(url)} uses plain http; use https:// or ssh://"
            )
        if name == "git":
            raise UnsafeRepoUrl(
                f"repository URL {_shown(url)} uses the unauthenticated git:// protocol; "
                "use https:// or ssh://"
            )
        raise UnsafeRepoUrl(
            f"repository URL {_shown(url)} has the unsupported scheme '{name}'; "
            "use https://, ssh:// or user@host:path"
        )
    if url.startswith("/"):
        return _local(url, allow_local)
    found = _scp(url)
    if found is not None:
        return found
    raise UnsafeRepoUrl(
        f"{_shown(url)} is not a repository URL; use https://host/path, ssh://host/path "
        "or user@host:path"
    )


def parse_commit(sha: str) -> str:
    """A full commit id (40 or 64 hex digits), lower-cased."""
    value = sha.strip().lower()
    if not _SHA.match(value):
        raise UnsafeRepoUrl(
            f"commit {sha[:80]!r} is not a full commit id (40 or 64 hexadecimal digits)"
        )
    return value


def parse_ref(ref: str) -> str:
    """A branch or tag name git accepts (`git check-ref-format` rules) that is no option."""
    if not ref or len(ref) > MAX_REF:
        raise UnsafeRepoUrl(f"branch name must have 1 to {MAX_REF} characters")
    bad = (
        ref.startswith(("-", "/", "."))
        or ref.endswith(("/", ".", ".lock"))
        or ".." in ref
        or "//" in ref
        or "@{" in ref
        or "/." in ref
        or ref == "@"
        or _REF_FORBIDDEN.search(ref) is not None
    )
    if bad:
        raise UnsafeRepoUrl(f"{ref[:80]!r} is not a valid branch or tag name")
    return ref
