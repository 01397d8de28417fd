"""DownloadRepoJob with a fake git, a fake object store and fake credentials."""

from __future__ import annotations

import io
import tarfile

import pytest

from libs.artifacts import FakeArtifactStore
from libs.events.outputs import DownloadRepoOutput
from libs.events.values import ConfigSnapshot, JobType, Source
from libs.jobs import JobError, JobResult
from libs.settings import Settings
from services.clone.adapters.fake_credentials import FakeCredentials
from services.clone.adapters.fake_git import FakeCommit, FakeGitClient, FakeRepository
from services.clone.credentials import GIT_SSH_KEY, GIT_TOKEN, Credentials
from services.clone.download import download_repo
from tests.support.job_context import git_state, job_context

URL = "https://git.example.com/acme/app.git"
OLD, NEW = "a" * 40, "b" * 40
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"


def repository(**files_at_old: bytes) -> FakeRepository:
    old_files = files_at_old or {"index.html": b"old"}
    return FakeRepository(
        commits={
            OLD: FakeCommit(OLD, old_files, message="first\n\nbody", author="Ann <ann@x.io>"),
            NEW: FakeCommit(NEW, {"index.html": b"new"}, message="second"),
        },
        refs={"main": NEW},
        head=NEW,
    )


class Run:
    def __init__(
        self,
        repo: FakeRepository | None = None,
        url: str = URL,
        creds: dict[str, str] | None = None,
    ) -> None:
        self.git = FakeGitClient({url: repo or repository()})
        self.artifacts = FakeArtifactStore()
        self.credentials = FakeCredentials(creds)

    def creds(self, project: str, environment: str) -> Credentials:
        return self.credentials

    async def __call__(
        self,
        source: Source,
        config: ConfigSnapshot | None = None,
        settings: Settings | None = None,
    ) -> tuple[JobResult, str]:
        ctx, log = job_context(
            git_state(source=source, config=config), JobType.DOWNLOAD_REPO, settings
        )
        try:
            result = await download_repo(
                ctx, git=self.git, artifacts=self.artifacts, credentials=self.creds
            )
        finally:
            await ctx.log.flush()
        return result, log.text()

    def files(self, name: str) -> dict[str, bytes]:
        with tarfile.open(fileobj=io.BytesIO(self.artifacts.objects[name])) as tar:
            return {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }


async def test_the_exact_commit_is_stored_with_its_metadata() -> None:
    run = Run()
    result, log = await run(Source(repo_url=URL, branch="main", commit_sha=OLD))
    out = result.output
    assert isinstance(out, DownloadRepoOutput)
    assert (out.commit_sha, out.commit_message, out.author) == (
        OLD,
        "first\n\nbody",
        "Ann <ann@x.io>",
    )
    assert out.source_object == "sources/d0123456789ab.tar.gz"
    assert run.files(out.source_object) == {"index.html": b"old"}
    assert out.size_bytes == len(run.artifacts.objects[out.source_object])
    assert run.git.requests[0].commit == OLD and run.git.requests[0].ref is None
    assert "checking out " + OLD in log


async def test_without_a_commit_the_branch_head_is_used() -> None:
    run = Run()
    result, _ = await run(Source(repo_url=URL, branch="main"))
    assert isinstance(result.output, DownloadRepoOutput)
    assert result.output.commit_sha == NEW
    assert run.git.requests[0].ref == "main"


@pytest.mark.parametrize(
    "url",
    ["--upload-pack=touch /tmp/marker;", "ext::sh -c touch% /tmp/marker", "/srv/local/repo"],
)
async def test_an_unsafe_url_fails_the_job_before_git_runs(url: str) -> None:
    run = Run(url=url)
    with pytest.raises(JobError) as err:
        await run(Source(repo_url=url, commit_sha=OLD))
    assert err.value.code == "bad_source"
    assert run.git.requests == []
    assert run.credentials.asked == []


async def test_an_option_like_branch_fails_the_job_before_git_runs() -> None:
    run = Run()
    with pytest.raises(JobError, match="not a valid branch"):
        await run(Source(repo_url=URL, branch="--upload-pack=touch /tmp/x"))
    assert run.git.requests == []


async def test_a_short_commit_id_is_refused() -> None:
    run = Run()
    with pytest.raises(JobError, match="not a full commit id"):
        await run(Source(repo_url=URL, commit_sha="abc1234"))


async def test_an_https_repository_gets_the_token_and_nothing_else() -> None:
    repo = repository()
    repo.token = "tok-123"
    run = Run(repo, creds={GIT_TOKEN: "tok-123", GIT_SSH_KEY: KEY})
    await run(Source(repo_url=URL, commit_sha=OLD))
    auth = run.git.requests[0].auth
    assert (auth.token, auth.ssh_key) == ("tok-123", None)
    assert "tok-123" not in repr(auth)


async def test_an_ssh_repository_gets_the_key() -> None:
    url = "git@git.example.com:acme/app.git"
    run = Run(url=url, creds={GIT_TOKEN: "tok-123", GIT_SSH_KEY: KEY})
    await run(Source(repo_url=url, commit_sha=OLD))
    auth = run.git.requests[0].auth
    assert (auth.token, auth.ssh_key) == (None, KEY)


async def test_a_stored_key_that_is_no_key_fails_clearly() -> None:
    url = "git@git.example.com:acme/app.git"
    run = Run(url=url, creds={GIT_SSH_KEY: "hunter2"})
    with pytest.raises(JobError, match="does not hold a private key") as err:
        await run(Source(repo_url=url, commit_sha=OLD))
    assert "hunter2" not in err.value.message


async def test_a_private_repository_without_a_token_fails_with_the_git_error() -> None:
    repo = repository()
    repo.token = "tok-123"
    with pytest.raises(JobError, match="authentication failed") as err:
        await Run(repo)(Source(repo_url=URL, commit_sha=OLD))
    assert err.value.code == "auth"


async def test_an_unknown_commit_fails_the_job() -> None:
    with pytest.raises(JobError, match="is not in the repository") as err:
        await Run()(Source(repo_url=URL, commit_sha="c" * 40))
    assert err.value.code == "commit_not_found"


async def test_slipway_toml_is_parsed_once_and_carried_in_the_output() -> None:
    toml = b'[deploy]\nport = 8080\n\n[[crons]]\nschedule = "*/5 * * * *"\npath = "/tick"\n'
    run = Run(repository(**{"slipway.toml": toml, "index.html": b"x"}))
    result, _ = await run(Source(repo_url=URL, commit_sha=OLD))
    assert isinstance(result.output, DownloadRepoOutput)
    parsed = result.output.slipway_toml
    assert parsed is not None and parsed.deploy.port == 8080
    assert parsed.crons[0].path == "/tick"


async def test_a_bad_slipway_toml_fails_the_job_naming_the_line() -> None:
    toml = b'[deploy]\nreplicas = 2\nport = "eighty"\n'
    run = Run(repository(**{"slipway.toml": toml}))
    with pytest.raises(JobError, match=r"slipway.toml: deploy.port \(line 3\)") as err:
        await run(Source(repo_url=URL, commit_sha=OLD))
    assert err.value.code == "bad_config"
    assert run.artifacts.objects == {}


async def test_a_bad_cron_schedule_fails_the_job() -> None:
    toml = b'[[crons]]\nschedule = "every minute"\npath = "/x"\n'
    with pytest.raises(JobError, match="invalid cron schedule"):
        await Run(repository(**{"slipway.toml": toml}))(Source(repo_url=URL, commit_sha=OLD))


async def test_the_app_directory_s_slipway_toml_wins_over_the_root_s() -> None:
    files = {
        "slipway.toml": b"[deploy]\nport = 1111\n",
        "apps/web/slipway.toml": b"[deploy]\nport = 2222\n",
        "apps/web/index.html": b"x",
    }
    run = Run(repository(**files))
    result, _ = await run(Source(repo_url=URL, commit_sha=OLD), ConfigSnapshot(app_dir="apps/web"))
    assert isinstance(result.output, DownloadRepoOutput)
    assert result.output.slipway_toml is not None
    assert result.output.slipway_toml.deploy.port == 2222


async def test_a_bad_toml_in_the_app_directory_is_named_with_its_path() -> None:
    files = {"apps/web/slipway.toml": b"[deploy\n"}
    with pytest.raises(JobError, match=r"apps/web/slipway\.toml"):
        await Run(repository(**files))(
            Source(repo_url=URL, commit_sha=OLD), ConfigSnapshot(app_dir="apps/web")
        )


@pytest.mark.parametrize("app_dir", ["apps/missing", "../outside", "/etc"])
async def test_an_app_directory_that_is_not_in_the_repository_fails_the_job(app_dir: str) -> None:
    with pytest.raises(JobError, match="app_dir") as err:
        await Run()(Source(repo_url=URL, commit_sha=OLD), ConfigSnapshot(app_dir=app_dir))
    assert err.value.code == "app_dir"


async def test_a_source_over_the_size_limit_fails_the_job() -> None:
    run = Run(repository(**{"big.bin": b"x" * 5000}))
    with pytest.raises(JobError, match="larger than the limit") as err:
        await run(Source(repo_url=URL, commit_sha=OLD), settings=Settings(max_source_bytes=1000))
    assert err.value.code == "too_large"
