"""Repository URLs, commits and refs: what may reach git, and the reason for every refusal."""

from __future__ import annotations

import pytest

from services.clone.urls import UnsafeRepoUrl, parse_commit, parse_ref, parse_repo_url


@pytest.mark.parametrize(
    ("url", "scheme", "host"),
    [
        ("https://github.com/acme/app.git", "https", "github.com"),
        ("https://git.example.com:8443/group/sub/app", "https", "git.example.com:8443"),
        ("https://deploy@gitlab.com/acme/app.git", "https", "gitlab.com"),
        ("ssh://git@github.com/acme/app.git", "ssh", "github.com"),
        ("ssh://git@[2001:db8::1]:2222/acme/app.git", "ssh", "2001:db8::1"),
        ("git@github.com:acme/app.git", "ssh", "github.com"),
        ("github.com:acme/app.git", "ssh", "github.com"),
    ],
)
def test_remote_urls_are_accepted(url: str, scheme: str, host: str) -> None:
    parsed = parse_repo_url(url)
    assert (parsed.url, parsed.scheme, parsed.host) == (url, scheme, host)


@pytest.mark.parametrize("url", ["/srv/git/app", "file:///srv/git/app"])
def test_local_repositories_are_accepted_only_when_allowed(url: str) -> None:
    assert parse_repo_url(url, allow_local=True).scheme == "file"
    with pytest.raises(UnsafeRepoUrl, match="SLIPWAY_ALLOW_LOCAL_REPOS"):
        parse_repo_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("--upload-pack=touch /tmp/marker;", "starts with '-'"),
        ("-oProxyCommand=touch%20/tmp/x", "starts with '-'"),
        ("--upload-pack=touch%20/tmp/x", "starts with '-'"),
        ("ext::sh -c touch% /tmp/marker", "'ext::' remote-helper transport"),
        ("https://github.com/acme/a pp", "spaces or control"),
        ("ext::sh%20-c%20touch", "'ext::' remote-helper transport"),
        ("file::/srv/git/app", "'file::' remote-helper transport"),
        ("fd::3", "'fd::' remote-helper transport"),
        ("https::https://github.com/acme/app", "'https::' remote-helper transport"),
        ("ssh://-oProxyCommand=touch/x/app", "host may not start with '-'"),
        ("ssh://-user@host/app", "user may not start with '-'"),
        ("-user@host:app", "starts with '-'"),
        ("git@-oProxyCommand=x:app", "host may not start with '-'"),
        ("git@host:-path", "path may not start with '-'"),
        ("https://user:s3cret@github.com/acme/app.git", "carries a password"),
        ("ssh://git:pw@github.com/acme/app.git", "carries a password"),
        ("http://github.com/acme/app.git", "plain http"),
        ("git://github.com/acme/app.git", "unauthenticated git://"),
        ("ftp://example.com/app.git", "unsupported scheme 'ftp'"),
        ("https://github.com/", "names no repository path"),
        ("https:///acme/app", "has no host"),
        ("https://github.com:99999/acme/app", "invalid port"),
        ("https://github.com/acme/app?x=1", "query or fragment"),
        ("https://github.com/acme/app\nmore", "control characters"),
        ("relative/path", "not a repository URL"),
        ("", "no repository URL"),
    ],
)
def test_unsafe_or_unsupported_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeRepoUrl, match=reason.replace("(", r"\(").replace("?", r"\?")):
        parse_repo_url(url, allow_local=True)


def test_a_refused_url_never_repeats_its_password() -> None:
    with pytest.raises(UnsafeRepoUrl) as err:
        parse_repo_url("https://user:s3cret@github.com/acme/app.git")
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize("url", ["file:///srv/../etc/app", "file://relative/app"])
def test_local_paths_must_be_absolute_and_plain(url: str) -> None:
    with pytest.raises(UnsafeRepoUrl):
        parse_repo_url(url, allow_local=True)


def test_a_very_long_url_is_refused() -> None:
    with pytest.raises(UnsafeRepoUrl, match="longer than"):
        parse_repo_url("https://github.com/" + "a" * 3000)


@pytest.mark.parametrize("sha", ["a" * 40, "0123456789ABCDEF0123456789abcdef01234567", "b" * 64])
def test_full_commit_ids_are_accepted_and_lower_cased(sha: str) -> None:
    assert parse_commit(sha) == sha.lower()


@pytest.mark.parametrize("sha", ["abc123", "--upload-pack=x", "g" * 40, "a" * 41, ""])
def test_anything_but_a_full_commit_id_is_refused(sha: str) -> None:
    with pytest.raises(UnsafeRepoUrl, match="not a full commit id"):
        parse_commit(sha)


@pytest.mark.parametrize("ref", ["main", "release/1.2", "refs/heads/feature-x", "v1.0.0"])
def test_branch_and_tag_names_are_accepted(ref: str) -> None:
    assert parse_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "--upload-pack=touch /tmp/x",
        "-b",
        "a..b",
        "a b",
        "a:b",
        "a~1",
        "a^",
        "x.lock",
        "a/",
        "/a",
        ".hidden",
        "a//b",
        "a@{1}",
        "@",
        "a\\b",
        "a*",
        "",
    ],
)
def test_refs_git_would_misread_are_refused(ref: str) -> None:
    with pytest.raises(UnsafeRepoUrl):
        parse_ref(ref)
