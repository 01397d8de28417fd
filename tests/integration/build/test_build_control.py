"""A build stops within a second when its deployment ends, and a host runs at most
`build_slots` builds at once however many build processes it has."""

from __future__ import annotations

import asyncio
import time

from libs.events import catalog as ev
from libs.events.logs import LogLine
from libs.events.states import DeploymentStatus, JobStatus
from libs.events.subjects import Aggregate
from tests.factories import dep_event
from tests.integration.build.pipeline import Pipeline


def running_containers_with(pipeline: Pipeline, marker: str) -> list[str]:
    return [
        c.id
        for c in pipeline.docker.containers.list(filters={"status": "running"})
        if marker in " ".join(c.attrs["Config"].get("Cmd") or [])
    ]


async def test_cancelling_a_deployment_during_a_long_build_stops_the_build_within_a_second(
    pipeline: Pipeline,
) -> None:
    marker = f"sleeping-{pipeline.token}"
    repo = pipeline.git_repo("slow")
    sha = repo.commit({"Dockerfile": pipeline.dockerfile(f"RUN sleep 60 && echo {marker}")}, "slow")
    d = await pipeline.deploy(repo.url, sha)
    for _ in range(300):
        if running_containers_with(pipeline, marker):
            break
        await asyncio.sleep(0.1)
    assert running_containers_with(pipeline, marker), "the build never reached RUN sleep 60"

    loaded = await pipeline.repo.load(Aggregate.DEPLOYMENT, d)
    cancelled_at = time.time()
    await pipeline.repo.append(
        loaded, [dep_event(d, ev.DeploymentCancelled(reason="user", by="test"), cause="cancel")]
    )
    gone_at = None
    while time.time() - cancelled_at < 5:
        if not running_containers_with(pipeline, marker):
            gone_at = time.time()
            break
        await asyncio.sleep(0.05)
    assert gone_at is not None, "the build step kept running"
    assert gone_at - cancelled_at < 1.0

    logs = await pipeline.logs(d, "build", until="stopped: cancelled")
    stopped = [line for line in logs if line.line == "stopped: cancelled"]
    assert stopped and stopped[0].ts.timestamp() - cancelled_at < 1.0
    state = await pipeline.wait(d, lambda s: s.ended is not None)
    assert state.status is DeploymentStatus.CANCELLED
    assert state.job_status(state.jobs["build"]) is JobStatus.CANCELLED
    assert pipeline.docker.images.list(name=f"slipway/{pipeline.project}/prod") == []


def _interval(logs: list[LogLine]) -> tuple[float, float]:
    """From taking a build slot (the `docker build` line) to giving it back (the image line)."""
    start = next(line.ts for line in logs if line.line.startswith("docker build -t"))
    end = next(line.ts for line in logs if line.line.startswith("image slipway/"))
    return start.timestamp(), end.timestamp()


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


async def test_three_builds_at_once_on_a_limit_of_two_run_two_at_a_time(
    pipeline: Pipeline,
) -> None:
    # Two build processes with two slots each: only the host limit can hold the third back.
    await pipeline.add_build_executor("build-test-2")
    repo = pipeline.git_repo("three")
    shas = [
        repo.commit(
            {"Dockerfile": pipeline.dockerfile(f"RUN sleep 3 && echo build-{n}-{pipeline.token}")},
            f"build {n}",
        )
        for n in range(3)
    ]
    deployments = await asyncio.gather(*(pipeline.deploy(repo.url, sha) for sha in shas))
    for d in deployments:
        state = await pipeline.finished(d, "build")
        assert state.jobs["build"].status is JobStatus.SUCCESS, state.jobs["build"].error
    logs = [await pipeline.logs(d, "build", until="image slipway/") for d in deployments]
    intervals = [_interval(lines) for lines in logs]
    assert _most_at_once(intervals) == 2
    waited = [
        d
        for d, lines in zip(deployments, logs, strict=True)
        if any(line.line.startswith("waiting for a build slot") for line in lines)
    ]
    assert len(waited) == 1
    # The one that waited started its build only once another had finished.
    late = intervals[deployments.index(waited[0])]
    assert any(end <= late[0] + 0.3 for start, end in intervals if (start, end) != late)
    started = [
        (await pipeline.wait(d, lambda s: True)).jobs["build"].started_at for d in deployments
    ]
    assert all(s is not None for s in started)
