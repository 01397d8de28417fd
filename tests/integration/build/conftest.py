"""Clone and build executors in-process against a real NATS (one per test: the durable job
consumers are its own), the real Docker engine and real git repositories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import nats
import pytest
from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.eventstore import BootstrapOptions, Repository, bootstrap
from libs.infra import EmbeddedNats
from libs.jobs import Executor
from libs.settings import Settings
from services.build.adapters.docker_builder import DockerImageBuilder
from services.build.handlers import build_jobs
from services.clone.adapters.cli_git import CliGitClient
from services.clone.adapters.fake_credentials import FakeCredentials
from services.clone.credentials import Credentials
from services.clone.handlers import clone_jobs
from tests.integration.build.pipeline import Pipeline
from tests.integration.jobs.toy import TEST_SETTINGS
from tests.support.docker_cleanup import remove_test_artifacts
from tests.support.names import unique


@pytest.fixture
def build_nats_url(tmp_path: Path) -> Iterator[str]:
    with EmbeddedNats(tmp_path / "nats") as server:
        yield server.url


@pytest.fixture
async def bnc(build_nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(build_nats_url)
    await bootstrap(conn, BootstrapOptions(lease_ttl_s=TEST_SETTINGS["lease_ttl_s"]))
    yield conn
    await conn.close()


def pipeline_settings(tmp_path: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        **TEST_SETTINGS,
        "allow_local_repos": True,
        "build_slots": 2,
        "build_slot_dir": tmp_path / "build-slots",
        "build_timeout_s": 300.0,
        **overrides,
    }
    return Settings(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def pipeline(
    bnc: NATS,
    docker_client: docker.DockerClient,
    python_base_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Pipeline]:
    """Both executors running; everything the test makes on Docker is removed afterwards."""
    monkeypatch.setenv("SLIPWAY_BASE_IMAGE_PYTHON", python_base_image)
    settings = pipeline_settings(tmp_path)
    project = unique("bt")
    token = uuid.uuid4().hex[:12]
    credentials = FakeCredentials()

    def credentials_for(project: str, environment: str) -> Credentials:
        return credentials

    artifacts = NatsArtifactStore(bnc.jetstream())
    clone = Executor(
        bnc,
        clone_jobs(settings, git=CliGitClient(), artifacts=artifacts, credentials=credentials_for),
        settings=settings,
        name="clone-test",
    )
    build = Executor(
        bnc,
        build_jobs(settings, builder=DockerImageBuilder(), artifacts=artifacts),
        settings=settings,
        name="build-test",
    )
    line = Pipeline(
        nc=bnc,
        repo=Repository(clone.store),
        artifacts=artifacts,
        docker=docker_client,
        project=project,
        token=token,
        python_image=python_base_image,
        workdir=tmp_path,
        settings=settings,
        executors=[clone, build],
    )
    await clone.start()
    await build.start()
    try:
        yield line
    finally:
        for executor in reversed(line.executors):
            await executor.stop()
        remove_test_artifacts(
            docker_client, token=token, project=project, repository=f"slipway/{project}/prod"
        )
