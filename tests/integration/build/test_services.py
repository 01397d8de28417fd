"""`python -m services.clone.main` and `python -m services.build.main` as real processes: they
serve their job types and stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.events.outputs import BuildImageOutput
from libs.events.states import JobStatus
from libs.eventstore import JetStreamEventStore, Repository
from tests.integration.build.conftest import pipeline_settings
from tests.integration.build.pipeline import Pipeline
from tests.integration.jobs.toy import TEST_SETTINGS
from tests.support.docker_cleanup import remove_test_artifacts
from tests.support.names import unique

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def service(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_the_clone_and_build_services_run_a_deployment_and_stop_on_sigterm(
    bnc: NATS,
    build_nats_url: str,
    docker_client: docker.DockerClient,
    python_base_image: str,
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({f"SLIPWAY_{k.upper()}": str(v) for k, v in TEST_SETTINGS.items()})
    env.update(
        SLIPWAY_NATS_URL=build_nats_url,
        SLIPWAY_ALLOW_LOCAL_REPOS="true",
        SLIPWAY_BUILD_SLOT_DIR=str(tmp_path / "slots"),
    )
    project = unique("svc")
    line = Pipeline(
        nc=bnc,
        repo=Repository(JetStreamEventStore(bnc)),
        artifacts=NatsArtifactStore(bnc.jetstream()),
        docker=docker_client,
        project=project,
        token=uuid.uuid4().hex[:12],
        python_image=python_base_image,
        workdir=tmp_path,
        settings=pipeline_settings(tmp_path),
        executors=[],
    )
    repo = line.git_repo("site")
    sha = repo.commit({"index.html": "<p>served</p>\n"}, "site")
    try:
        with (
            service("services.clone.main", env, tmp_path / "clone.log") as clone,
            service("services.build.main", env, tmp_path / "build.log") as build,
        ):
            d = await line.deploy(repo.url, sha)
            state = await line.finished(d, "build", timeout=60)
            assert state.jobs["build"].status is JobStatus.SUCCESS, state.jobs["build"].error
            out = BuildImageOutput.model_validate(state.jobs["build"].output)
            assert out.static_object == f"static/{d}.tar.gz"
            for proc in (clone, build):
                proc.send_signal(signal.SIGTERM)
            assert clone.wait(10) == 0, (tmp_path / "clone.log").read_text()
            assert build.wait(10) == 0, (tmp_path / "build.log").read_text()
    finally:
        remove_test_artifacts(docker_client, project=project, repository=f"slipway/{project}/prod")
