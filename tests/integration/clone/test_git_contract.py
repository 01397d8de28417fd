"""The GitClient contract, held by the real git adapter and by the fake alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from services.clone.adapters.cli_git import CliGitClient
from services.clone.adapters.fake_git import FakeCommit, FakeGitClient, FakeRepository
from services.clone.git import CheckoutRequest, GitClient, GitError
from services.clone.urls import RepoUrl, parse_repo_url
from tests.support.git_repos import AUTHOR, EMAIL, GitRepo

OLD_FILES = {"app.py": "print('old')\n", "docs/readme.md": "old docs\n"}
NEW_FILES = {"app.py": "print('new')\n", "extra.txt": "added\n"}


@dataclass
class World:
    client: GitClient
    url: RepoUrl
    old: str
    new: str


@pytest.fixture(params=["cli", "fake"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "cli":
        repo = GitRepo(tmp_path / "origin")
        old = repo.commit(OLD_FILES, "first commit\n\nwith a body")
        new = repo.commit(NEW_FILES, "second commit", remove=("docs/readme.md",))
        return World(CliGitClient(), parse_repo_url(repo.url, allow_local=True), old, new)
    old, new = "1" * 40, "2" * 40
    url = parse_repo_url("/srv/fake/origin", allow_local=True)
    author = f"{AUTHOR} <{EMAIL}>"
    fake = FakeRepository(
        commits={
            old: FakeCommit(
                old,
                {k: v.encode() for k, v in OLD_FILES.items()},
                "first commit\n\nwith a body",
                author,
            ),
            new: FakeCommit(
                new,
                {"app.py": b"print('new')\n", "extra.txt": b"added\n"},
                "second commit",
                author,
            ),
        },
        refs={"main": new},
        head=new,
    )
    return World(FakeGitClient({url.url: fake}), url, old, new)


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def request(world: World, **fields: object) -> CheckoutRequest:
    return CheckoutRequest(url=world.url, allow_local=True, **fields)  # type: ignore[arg-type]


def ignore(line: str, stream: str) -> None:
    pass


async def test_a_checkout_at_an_older_commit_has_exactly_that_commit_s_files(
    world: World, tmp_path: Path
) -> None:
    info = await world.client.checkout(request(world, commit=world.old), tmp_path / "co", ignore)
    assert files(tmp_path / "co") == OLD_FILES
    assert info.sha == world.old
    assert info.message == "first commit\n\nwith a body"
    assert info.author == f"{AUTHOR} <{EMAIL}>"
    assert info.committed_at


async def test_a_checkout_of_a_branch_has_its_head(world: World, tmp_path: Path) -> None:
    info = await world.client.checkout(request(world, ref="main"), tmp_path / "co", ignore)
    assert info.sha == world.new
    assert files(tmp_path / "co") == NEW_FILES


async def test_a_checkout_of_nothing_in_particular_has_the_default_branch_head(
    world: World, tmp_path: Path
) -> None:
    info = await world.client.checkout(request(world), tmp_path / "co", ignore)
    assert info.sha == world.new


async def test_an_unknown_commit_is_a_git_error(world: World, tmp_path: Path) -> None:
    with pytest.raises(GitError) as err:
        await world.client.checkout(request(world, commit="f" * 40), tmp_path / "co", ignore)
    assert err.value.code == "commit_not_found"


async def test_an_unknown_branch_is_a_git_error(world: World, tmp_path: Path) -> None:
    with pytest.raises(GitError):
        await world.client.checkout(request(world, ref="no-such-branch"), tmp_path / "co", ignore)


async def test_the_target_must_be_empty(world: World, tmp_path: Path) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "co" / "x").write_text("x")
    with pytest.raises(ValueError, match="must be empty"):
        await world.client.checkout(request(world, commit=world.old), tmp_path / "co", ignore)
