"""Driving clone + build through the job mechanism: request, admit, wait, read the logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker
import httpx
import nats.errors
from nats.aio.client import Client as NATS

from libs.archives import extract_archive
from libs.artifacts import NatsArtifactStore
from libs.events import catalog as ev
from libs.events import plans
from libs.events.fold import Recorded
from libs.events.logs import LogLine
from libs.events.states import DeploymentState, JobStatus
from libs.events.subjects import Aggregate, job_log_subject
from libs.events.values import ConfigSnapshot, DeploymentType, JobSpec, Source, TriggerInfo
from libs.eventstore import JetStreamEventStore, Repository
from libs.jobs import Executor
from libs.settings import Settings
from services.build.adapters.docker_builder import DockerImageBuilder
from services.build.handlers import build_jobs
from tests.factories import dep_event, uid
from tests.support.docker_cleanup import TEST_LABEL
from tests.support.git_repos import GitRepo

FINISHED = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED)
SERVER_PY = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

BODY = {body!r}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
"""


@dataclass
class Pipeline:
    nc: NATS
    repo: Repository
    artifacts: NatsArtifactStore
    docker: docker.DockerClient
    project: str
    token: str
    python_image: str
    workdir: Path
    settings: Settings
    executors: list[Executor]

    async def add_build_executor(self, name: str) -> None:
        """Another build process on this host (same slot directory, own in-process slots)."""
        jobs = build_jobs(self.settings, builder=DockerImageBuilder(), artifacts=self.artifacts)
        executor = Executor(self.nc, jobs, settings=self.settings, name=name)
        await executor.start()
        self.executors.append(executor)

    def git_repo(self, name: str) -> GitRepo:
        return GitRepo(self.workdir / "repos" / name)

    def dockerfile(self, *lines: str, base: str | None = None) -> str:
        """A Dockerfile whose every step image carries the test's label (for cleanup)."""
        head = [f"FROM {base or self.python_image}", f"LABEL {TEST_LABEL}={self.token}"]
        return "\n".join([*head, *lines]) + "\n"

    def server_py(self, body: str) -> str:
        return SERVER_PY.format(body=body.encode())

    async def deploy(
        self,
        url: str,
        commit: str | None,
        *,
        branch: str | None = "main",
        plan: tuple[JobSpec, ...] | None = None,
        config: ConfigSnapshot | None = None,
    ) -> str:
        d = uid("d")
        loaded = await self.repo.load(Aggregate.DEPLOYMENT, d)
        requested = ev.DeploymentRequested(
            deployment_id=d,
            project=self.project,
            environment="prod",
            deployment_type=DeploymentType.GIT,
            source=Source(repo_url=url, branch=branch, commit_sha=commit),
            plan=plan if plan is not None else plans.initial_plan(DeploymentType.GIT),
            config=config or ConfigSnapshot(),
            trigger=TriggerInfo(kind="api"),
        )
        await self.repo.append(
            loaded,
            [
                dep_event(d, requested, cause="req"),
                dep_event(
                    d, ev.DeploymentAdmitted(deployment_id=d, commit_sha=commit), cause="adm"
                ),
            ],
        )
        return d

    async def wait(
        self, d: str, pred: Callable[[DeploymentState], bool], timeout: float = 120.0
    ) -> DeploymentState:
        end = time.monotonic() + timeout
        while True:
            state: DeploymentState = (await self.repo.load(Aggregate.DEPLOYMENT, d)).state
            if pred(state):
                return state
            if time.monotonic() > end:
                jobs = [(j.id, j.status.value, j.error) for j in state.ordered_jobs]
                raise AssertionError(f"timed out; {state.status}, jobs {jobs}")
            await asyncio.sleep(0.1)

    async def finished(self, d: str, job: str, timeout: float = 120.0) -> DeploymentState:
        """The state once `job` ended one way or another (or the deployment did)."""
        return await self.wait(
            d, lambda s: s.ended is not None or s.jobs[job].status in FINISHED, timeout
        )

    async def events(self, d: str) -> list[Recorded]:
        return await JetStreamEventStore(self.nc).load(Aggregate.DEPLOYMENT, d)

    async def logs(self, d: str, job: str, *, until: str | None = None) -> list[LogLine]:
        """The job's lines as stored in SLIPWAY_LOGS; waits (5 s at most) for `until`."""
        end = time.monotonic() + 5
        while True:
            lines = await self._read_logs(d, job)
            done = until is None or any(until in line.line for line in lines)
            if done or time.monotonic() > end:
                return lines
            await asyncio.sleep(0.2)

    async def _read_logs(self, d: str, job: str) -> list[LogLine]:
        sub = await self.nc.jetstream().subscribe(job_log_subject(d, job), ordered_consumer=True)
        lines: list[LogLine] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except nats.errors.TimeoutError:
                    return lines
                lines += [
                    LogLine.model_validate(json.loads(raw))
                    for raw in msg.data.splitlines()
                    if raw.strip()
                ]
        finally:
            await sub.unsubscribe()

    async def get_from_image(self, image: str, port: int, path: str = "/") -> str:
        """Run the image, GET it, remove the container."""
        return await asyncio.to_thread(self._get_from_image, image, port, path)

    def _get_from_image(self, image: str, port: int, path: str) -> str:
        container = self.docker.containers.run(
            image,
            detach=True,
            ports={f"{port}/tcp": ("127.0.0.1", None)},
            labels={"slipway.project": self.project},
        )
        try:
            end = time.monotonic() + 30
            while True:
                container.reload()
                bindings = container.ports.get(f"{port}/tcp") or []
                if bindings:
                    url = f"http://127.0.0.1:{bindings[0]['HostPort']}{path}"
                    with contextlib.suppress(httpx.TransportError):
                        return httpx.get(url, timeout=2).text
                if time.monotonic() > end:
                    raise AssertionError(f"{image} never answered: {container.logs()!r}")
                time.sleep(0.2)
        finally:
            container.remove(force=True)

    async def static_files(self, name: str) -> Path:
        tarball = self.workdir / f"{uid('s')}.tar.gz"
        await self.artifacts.get_file(name, tarball)
        root = self.workdir / uid("site")
        await asyncio.to_thread(extract_archive, tarball, root)
        return root


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
