"""Slipway's clone + build against a plain `git clone && docker build`, same repository, same
builder (Docker's classic builder, as the SDK's build API uses), same run, warm layer cache.

Slipway: from DeploymentAdmitted to the BuildImageJob's JobSucceeded, both timestamps read from
the stored events; the clone and build executors run in this process against an embedded NATS.
Plain: wall time of `git clone <repo> <dir> && DOCKER_BUILDKIT=0 docker build -t <tag> <dir>`.
Runs alternate (plain, Slipway, plain, ...) after one warm-up of each. Prints one JSON object.

    uv run python bench/build.py [--runs 7]

Needs Docker and the local base image `slipway-test/python:3` (built on first use, see
tests/support/images.py), or `SLIPWAY_BENCH_BASE_IMAGE` naming any local image with python3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import docker
import nats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from libs.artifacts import NatsArtifactStore  # noqa: E402
from libs.events import catalog as ev  # noqa: E402
from libs.events import plans  # noqa: E402
from libs.events.envelope import Envelope, EventData, new_event  # noqa: E402
from libs.events.states import JobStatus  # noqa: E402
from libs.events.subjects import Aggregate  # noqa: E402
from libs.events.values import (  # noqa: E402
    ConfigSnapshot,
    DeploymentType,
    Source,
    TriggerInfo,
)
from libs.eventstore import (  # noqa: E402
    BootstrapOptions,
    JetStreamEventStore,
    Repository,
    bootstrap,
)
from libs.infra import EmbeddedNats  # noqa: E402
from libs.jobs import Executor  # noqa: E402
from libs.settings import Settings  # noqa: E402
from services.build.adapters.docker_builder import DockerImageBuilder  # noqa: E402
from services.build.handlers import build_jobs  # noqa: E402
from services.clone.adapters.cli_git import CliGitClient  # noqa: E402
from services.clone.adapters.env_credentials import EnvCredentials  # noqa: E402
from services.clone.handlers import clone_jobs  # noqa: E402

PROJECT = "bench"
APP = {
    "server.py": (
        "import os\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n        self.end_headers()\n"
        "        self.wfile.write(b'ok')\n\n"
        "HTTPServer(('0.0.0.0', int(os.environ.get('PORT', '8000'))), H).serve_forever()\n"
    ),
    "static/style.css": "body { font-family: sans-serif; }\n" * 50,
    "README.md": "# bench app\n",
}


def base_image() -> str:
    if image := os.environ.get("SLIPWAY_BENCH_BASE_IMAGE"):
        return image
    from tests.support.images import python_base_image

    return python_base_image()


def make_repo(path: Path, image: str) -> str:
    files = {
        **APP,
        "Dockerfile": (
            f"FROM {image}\nWORKDIR /app\nCOPY server.py .\nCOPY static ./static\n"
            'EXPOSE 8000\nCMD ["python3", "server.py"]\n'
        ),
    }
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    ident = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-qm", "app"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], check=True, env=env, capture_output=True
    )
    return out.stdout.decode().strip()


def plain(repo: Path, work: Path, tag: str) -> float:
    target = work / f"plain-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    started = time.perf_counter()
    subprocess.run(
        f"git clone -q {repo} {target} && docker build -q -t {tag} {target}",
        shell=True,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return elapsed


async def slipway(
    repo: Repository, store: JetStreamEventStore, url: str, sha: str
) -> dict[str, float]:
    d = f"d{uuid.uuid4().hex[:12]}"
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)

    def event(data: EventData, cause: str) -> Envelope:
        return new_event(
            data,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=d,
            causation_id=cause,
            actor="bench",
            correlation_id=d,
        )

    requested = ev.DeploymentRequested(
        deployment_id=d,
        project=PROJECT,
        environment="prod",
        deployment_type=DeploymentType.GIT,
        source=Source(repo_url=url, branch="main", commit_sha=sha),
        plan=plans.initial_plan(DeploymentType.GIT),
        config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )
    admitted = ev.DeploymentAdmitted(deployment_id=d, commit_sha=sha)
    await repo.append(loaded, [event(requested, "req"), event(admitted, "adm")])
    while True:
        state = (await repo.load(Aggregate.DEPLOYMENT, d)).state
        build = state.jobs["build"]
        if build.status is JobStatus.SUCCESS:
            break
        if state.ended is not None:
            raise RuntimeError(f"deployment {d} ended: {state.end_reason}")
        await asyncio.sleep(0.02)
    times: dict[str, datetime] = {}
    for rec in await store.load(Aggregate.DEPLOYMENT, d):
        data = rec.envelope.data
        key = rec.envelope.type
        if isinstance(data, ev.JobStarted | ev.JobSucceeded):
            key = f"{key}:{data.job_id}"
        times.setdefault(key, rec.envelope.occurred_at)

    def span(a: str, b: str) -> float:
        return (times[b] - times[a]).total_seconds()

    return {
        "total": span("DeploymentAdmitted", "JobSucceeded:build"),
        "to_download_start": span("DeploymentAdmitted", "JobStarted:download"),
        "download": span("JobStarted:download", "JobSucceeded:download"),
        "to_build_start": span("JobSucceeded:download", "JobStarted:build"),
        "build": span("JobStarted:build", "JobSucceeded:build"),
    }


def summary(values: list[float]) -> dict[str, object]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


async def main(runs: int) -> dict[str, object]:
    image = base_image()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        work = Path(tmp)
        repo_path = work / "repo"
        repo_path.mkdir()
        sha = make_repo(repo_path, image)
        settings = Settings(
            allow_local_repos=True,
            build_slot_dir=work / "slots",
            ack_wait_s=5.0,
            lease_refresh_s=1.0,
        )
        with EmbeddedNats(work / "nats") as server:
            nc = await nats.connect(server.url)
            await bootstrap(nc, BootstrapOptions())
            artifacts = NatsArtifactStore(nc.jetstream())
            creds = EnvCredentials({})
            executors = [
                Executor(
                    nc,
                    clone_jobs(
                        settings, git=CliGitClient(), artifacts=artifacts,
                        credentials=lambda p, e: creds,
                    ),
                    settings=settings,
                    name="bench-clone",
                ),
                Executor(
                    nc,
                    build_jobs(settings, builder=DockerImageBuilder(), artifacts=artifacts),
                    settings=settings,
                    name="bench-build",
                ),
            ]  # fmt: skip
            for executor in executors:
                await executor.start()
            store = JetStreamEventStore(nc)
            repo = Repository(store)
            plain_tag = f"slipway-bench-plain:{uuid.uuid4().hex[:8]}"
            try:
                await asyncio.to_thread(plain, repo_path, work, plain_tag)  # warm-up
                await slipway(repo, store, str(repo_path), sha)  # warm-up
                plain_runs: list[float] = []
                slipway_runs: list[dict[str, float]] = []
                for _ in range(runs):
                    plain_runs.append(await asyncio.to_thread(plain, repo_path, work, plain_tag))
                    slipway_runs.append(await slipway(repo, store, str(repo_path), sha))
            finally:
                for executor in executors:
                    await executor.stop()
                await nc.close()
                for img in client.images.list(name=f"slipway/{PROJECT}/prod"):
                    client.images.remove(img.id, force=True)
                client.images.remove(plain_tag, force=True)
                client.close()
    totals = [r["total"] for r in slipway_runs]
    plain_median = statistics.median(plain_runs)
    overhead = statistics.median(totals) - plain_median
    allowed = max(0.10 * plain_median, 0.5)
    return {
        "bench": "build",
        "builder": "docker classic builder (API /build; DOCKER_BUILDKIT=0 for the CLI)",
        "base_image": image,
        "runs": runs,
        "plain_clone_and_build_s": summary(plain_runs),
        "slipway_admitted_to_built_s": summary(totals),
        "slipway_phases_median_s": {
            key: round(statistics.median(r[key] for r in slipway_runs), 3)
            for key in ("to_download_start", "download", "to_build_start", "build")
        },
        "overhead_s": round(overhead, 3),
        "overhead_pct": round(100 * overhead / plain_median, 1),
        "target": "overhead <= max(10% of plain, 0.5 s)",
        "allowed_overhead_s": round(allowed, 3),
        "within_target": overhead <= allowed,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs))))
