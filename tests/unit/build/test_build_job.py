"""BuildImageJob with a fake builder and a fake object store."""

from __future__ import annotations

import asyncio
import gc
import io
import tarfile
import warnings
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from libs.artifacts import FakeArtifactStore
from libs.events import plans
from libs.events.outputs import BuildImageOutput, DownloadRepoOutput
from libs.events.values import ConfigSnapshot, JobType, Preset, Source
from libs.jobs import JobContext, JobError, JobResult
from libs.settings import Settings
from services.build.adapters.docker_builder import DockerImageBuilder
from services.build.adapters.fake_builder import FakeImageBuilder
from services.build.build_job import build_image, remove_attempt_image
from services.build.builder import BuildSpec, BuiltImage, ImageBuilder, LineSink
from services.build.slots import HostBuildSlots
from tests.support.job_context import CollectedLog, git_state, job_context

SOURCE = "sources/d0123456789ab.tar.gz"
SHA = "c" * 40


def tarball(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Run:
    def __init__(self, tmp_path: Path, builder: ImageBuilder | None = None) -> None:
        self.builder = builder or FakeImageBuilder()
        self.artifacts = FakeArtifactStore()
        self.slots = HostBuildSlots(tmp_path / "slots", 2)
        self.ctx: JobContext | None = None

    def context(
        self,
        files: dict[str, str] | None,
        *,
        config: ConfigSnapshot | None = None,
        settings: Settings | None = None,
        toml: dict[str, object] | None = None,
    ) -> tuple[JobContext, CollectedLog]:
        if files is not None:
            self.artifacts.objects[SOURCE] = tarball(files)
        download = DownloadRepoOutput(
            commit_sha=SHA, source_object=SOURCE, slipway_toml=toml
        ).model_dump(mode="json")
        state = git_state(
            source=Source(repo_url="https://h.io/a/b", branch="main", commit_sha=SHA),
            config=config,
            outputs={JobType.DOWNLOAD_REPO: download},
        )
        self.ctx, log = job_context(state, JobType.BUILD_IMAGE, settings)
        return self.ctx, log

    async def __call__(
        self, files: dict[str, str] | None, **kwargs: object
    ) -> tuple[JobResult, str]:
        ctx, log = self.context(files, **kwargs)  # type: ignore[arg-type]
        try:
            result = await build_image(
                ctx, builder=self.builder, artifacts=self.artifacts, slots=self.slots
            )
        finally:
            await ctx.log.flush()
        return result, log.text()


class Peek(FakeImageBuilder):
    """Keeps the top-level files of the build context as they were at build time."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, str] = {}

    async def build(self, spec: BuildSpec, log: LineSink) -> BuiltImage:
        for item in spec.context.iterdir():
            if item.is_file():
                self.files[item.name] = item.read_text()
        return await super().build(spec, log)


def output(result: JobResult) -> BuildImageOutput:
    assert isinstance(result.output, BuildImageOutput)
    return result.output


async def test_a_dockerfile_app_becomes_a_tagged_image_and_names_the_container_tail(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path)
    result, log = await run(
        {"Dockerfile": "FROM scratch\nCOPY app /app\nEXPOSE 8080\n", "app": "x"}
    )
    out = output(result)
    assert (out.preset, out.kind, out.signal) == ("dockerfile", "container", "Dockerfile")
    assert out.image_tag == "slipway/proj/prod:d0123456789ab"
    assert out.exposed_ports == (8080,)
    assert result.next_jobs == plans.build_tail(Preset.CONTAINER)
    spec = run.builder.builds[0]  # type: ignore[attr-defined]
    assert spec.labels == {"slipway.deployment": "d0123456789ab", "slipway.attempt": "1"}
    assert "preset dockerfile (container), decided by Dockerfile" in log
    assert "Step 1/3 : FROM scratch" in log


async def test_only_build_args_the_dockerfile_declares_are_passed(tmp_path: Path) -> None:
    run = Run(tmp_path)
    await run({"Dockerfile": "FROM scratch\nARG SLIPWAY_GIT_COMMIT_SHA\nARG OTHER\n"})
    assert run.builder.builds[0].buildargs == {"SLIPWAY_GIT_COMMIT_SHA": SHA}  # type: ignore[attr-defined]


async def test_a_static_site_is_stored_as_files_and_no_image_is_kept(tmp_path: Path) -> None:
    run = Run(tmp_path)
    result, log = await run({"index.html": "<h1>hi</h1>", "about/index.html": "about"})
    out = output(result)
    assert (out.preset, out.kind) == ("static", "static")
    assert out.static_object == "static/d0123456789ab.tar.gz"
    assert out.image_id is None and out.image_tag is None
    assert result.next_jobs == plans.build_tail(Preset.STATIC)
    assert run.builder.images == {}  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(run.artifacts.objects[out.static_object])) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    # The generated Dockerfile and .dockerignore are in the context but never published.
    assert names == {"index.html", "about/index.html"}
    assert "2 static files stored" in log
    assert run.builder.builds == []  # type: ignore[attr-defined]  # plain files: no Docker at all


async def test_a_repository_nothing_can_build_fails_with_what_was_looked_for(
    tmp_path: Path,
) -> None:
    with pytest.raises(JobError, match="looked for: Dockerfile") as err:
        await Run(tmp_path)({"README.md": "docs"})
    assert err.value.code == "detection"


async def test_the_environment_preset_and_start_command_win(tmp_path: Path) -> None:
    peek = Peek()
    files = {"Dockerfile": "FROM scratch\n", "main.py": "print()", "requirements.txt": ""}
    result, _ = await Run(tmp_path, peek)(
        files, config=ConfigSnapshot(preset="python", command="python3 -m app", port=9000)
    )
    assert output(result).preset == "python"
    assert output(result).exposed_ports == (9000,)
    dockerfile = peek.files[".slipway.Dockerfile"]
    assert 'CMD ["python3", "-m", "app"]' in dockerfile
    assert "EXPOSE 9000" in dockerfile


async def test_slipway_toml_start_command_is_used_when_the_environment_has_none(
    tmp_path: Path,
) -> None:
    peek = Peek()
    toml = {"build": {"start": "python3 serve.py"}}
    await Run(tmp_path, peek)({"main.py": "print()"}, toml=toml)
    assert 'CMD ["python3", "serve.py"]' in peek.files[".slipway.Dockerfile"]


async def test_a_repository_dockerignore_is_kept_and_a_missing_one_is_written(
    tmp_path: Path,
) -> None:
    peek = Peek()
    await Run(tmp_path, peek)({"main.py": "print()"})
    assert ".git" in peek.files[".dockerignore"].splitlines()
    peek = Peek()
    await Run(tmp_path, peek)({"main.py": "print()", ".dockerignore": "secret.txt\n"})
    assert peek.files[".dockerignore"] == "secret.txt\n"


async def test_without_a_download_output_the_job_fails(tmp_path: Path) -> None:
    run = Run(tmp_path)
    ctx, _ = run.context({"index.html": "x"})
    ctx.state = git_state()
    with pytest.raises(JobError, match="DownloadRepoJob has not succeeded"):
        await build_image(ctx, builder=run.builder, artifacts=run.artifacts, slots=run.slots)


async def test_a_missing_source_object_fails_the_job(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="is not in the object store") as err:
        await Run(tmp_path)(None)
    assert err.value.code == "no_source"


async def test_an_unsafe_source_tarball_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="unusable") as err:
        await Run(tmp_path)({"../escape.txt": "x"})
    assert err.value.code == "bad_source"


async def test_the_ca_bundle_is_placed_in_the_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    peek = Peek()
    await Run(tmp_path, peek)(
        {"main.py": "print()", "requirements.txt": "flask\n"},
        settings=Settings(build_ca_bundle=bundle),
    )
    assert peek.files[".slipway-ca.crt"] == "-----BEGIN CERTIFICATE-----\n"
    assert "COPY .slipway-ca.crt /etc/slipway/ca.crt" in peek.files[".slipway.Dockerfile"]


async def test_a_missing_ca_bundle_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="SLIPWAY_BUILD_CA_BUNDLE"):
        await Run(tmp_path)(
            {"Dockerfile": "FROM scratch\n"},
            settings=Settings(build_ca_bundle=tmp_path / "nope.crt"),
        )


async def test_a_build_over_the_timeout_fails_as_a_timeout(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeImageBuilder(delay_s=5))
    with pytest.raises(JobError, match=r"did not finish within 0\.2 s") as err:
        await run({"Dockerfile": "FROM scratch\n"}, settings=Settings(build_timeout_s=0.2))
    assert err.value.code == "timeout"
    assert run.builder.cancelled == ["slipway/proj/prod:d0123456789ab"]  # type: ignore[attr-defined]


def _no_engine(socket_path: Path) -> object:
    try:
        return docker.APIClient(base_url=f"unix://{socket_path}")
    except DockerException as exc:
        reason = str(exc)
    # docker-py leaves the socket of a failed connect to the garbage collector, which would
    # report it (a ResourceWarning) in some later test: collect it now, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise DockerException(reason)


async def test_an_unreachable_docker_engine_fails_the_job_clearly(tmp_path: Path) -> None:
    unreachable = DockerImageBuilder(lambda: _no_engine(tmp_path / "no-docker.sock"))
    with pytest.raises(JobError, match="Docker engine is unreachable") as err:
        await Run(tmp_path, unreachable)({"Dockerfile": "FROM scratch\n"})
    assert err.value.code == "docker_unavailable"


async def test_a_cancelled_build_gives_its_slot_back(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeImageBuilder(delay_s=5))
    task = asyncio.create_task(run({"Dockerfile": "FROM scratch\n"}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(1):
        async with run.slots.acquire(), run.slots.acquire():
            pass


async def test_cleanup_removes_only_this_attempt_s_image(tmp_path: Path) -> None:
    run = Run(tmp_path)
    await run({"Dockerfile": "FROM scratch\n"})
    assert run.ctx is not None
    assert "slipway/proj/prod:d0123456789ab" in run.builder.images  # type: ignore[attr-defined]
    run.ctx.attempt = 2
    await remove_attempt_image(run.ctx, builder=run.builder)
    assert "slipway/proj/prod:d0123456789ab" in run.builder.images  # type: ignore[attr-defined]
    run.ctx.attempt = 1
    await remove_attempt_image(run.ctx, builder=run.builder)
    assert run.builder.images == {}  # type: ignore[attr-defined]
