"""Realistic event logs for projector tests and benchmarks: projects, environments and deployment
histories (git builds, image and static deploys, retries, failures, cancellations, supersedes),
interleaved the way concurrent deployments interleave, sealed into their hash chains, and
published to SLIPWAY_EVENTS.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS

from libs.events import Aggregate, EventData, new_event
from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.plans import build_tail, initial_plan
from libs.events.subjects import environment_id
from libs.events.values import (
    ConfigSnapshot,
    ContainerInfo,
    DeploymentType,
    JobSpec,
    JobType,
    Preset,
    Source,
    TriggerInfo,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class LogBuilder:
    """Builds envelopes in the order a real system would append them."""

    rng: random.Random
    clock: datetime = T0
    events: list[Envelope] = field(default_factory=list)
    routed: dict[str, tuple[str, tuple[ContainerInfo, ...]]] = field(default_factory=dict)

    def _at(self) -> datetime:
        self.clock += timedelta(milliseconds=self.rng.randint(1, 900))
        return self.clock

    def add(self, data: EventData, aggregate: Aggregate, aggregate_id: str, **kw: Any) -> None:
        self.events.append(
            new_event(
                data,
                aggregate=aggregate,
                aggregate_id=aggregate_id,
                causation_id=uuid.uuid4().hex,
                actor="bench",
                occurred_at=self._at(),
                **kw,
            )
        )

    def project(self, name: str, environments: Sequence[str]) -> None:
        self.add(
            ev.ProjectRegistered(name=name, repo_url=f"https://git.example.com/{name}.git"),
            Aggregate.PROJECT,
            name,
        )
        for env in environments:
            self.add(
                ev.EnvironmentConfigured(
                    project=name,
                    environment=env,
                    branch="main" if env == "production" else env,
                    variables={"DATABASE_URL": 1, "API_KEY": 2},
                ),
                Aggregate.ENVIRONMENT,
                environment_id(name, env),
            )


def _output(job: JobSpec, did: str) -> dict[str, Any]:
    short = did[:8]
    t = job.type
    if t is JobType.DOWNLOAD_REPO:
        return {"commit_sha": "c0ffee" + did.replace("-", "")[:34], "commit_message": "Ship it",
                "source_object": f"sources/{short}.tar.gz", "size_bytes": 48213}  # fmt: skip
    if t is JobType.BUILD_IMAGE:
        return {"preset": "node", "kind": "container", "signal": "package.json",
                "image_id": f"sha256:{short}" + "0" * 56, "duration_s": 41.5}  # fmt: skip
    if t in (JobType.PULL_EXTERNAL_IMAGE, JobType.VERIFY_LOCAL_IMAGE):
        return {"image_id": f"sha256:{short}" + "1" * 56}
    if t is JobType.HEALTH_CHECK:
        return {"probes": 7, "time_to_healthy_s": 1.4, "status": 200}
    if t is JobType.TAKE_SCREENSHOT:
        return {"objects": [f"screenshots/{short}.png"], "summary": "1280x800"}
    if t is JobType.SCAN_VULNERABILITIES:
        return {"objects": [f"sboms/{short}.json"], "summary": "0 critical, 2 high"}
    if t is JobType.CAPTURE_SOURCE_MAPS:
        return {"objects": [f"sourcemaps/{short}/main.js.map"]}
    if t is JobType.DEPLOY_STATIC_BUNDLE:
        return {"static_root": f"/srv/static/{short}", "static_object": f"bundles/{short}.tar"}
    return {}


def deployment(
    log: LogBuilder, project: str, environment: str, *, kind: DeploymentType | None = None
) -> str:
    """Appends one deployment's whole history (and its environment's events) to `log`."""
    rng = log.rng
    did = str(uuid.uuid4())
    eid = environment_id(project, environment)
    kind = (
        kind
        or rng.choices(
            [DeploymentType.GIT, DeploymentType.IMAGE, DeploymentType.STATIC_BUNDLE], [7, 2, 1]
        )[0]
    )
    source = Source(
        repo_url=f"https://git.example.com/{project}.git" if kind is DeploymentType.GIT else None,
        branch="main" if kind is DeploymentType.GIT else None,
        image_ref="ghcr.io/acme/app:1.4" if kind is DeploymentType.IMAGE else None,
        bundle=f"bundles/{did[:8]}.tar.gz" if kind is DeploymentType.STATIC_BUNDLE else None,
    )
    dep = {"correlation_id": did}
    log.add(
        ev.DeploymentRequested(
            deployment_id=did, project=project, environment=environment, deployment_type=kind,
            source=source, plan=initial_plan(kind), config=ConfigSnapshot(replicas=2),
            trigger=TriggerInfo(kind="webhook-github", request_id=uuid.uuid4().hex),
        ),
        Aggregate.DEPLOYMENT, did, **dep,
    )  # fmt: skip
    if rng.random() < 0.04:
        log.add(ev.DeploymentCancelled(reason="superseded", by="admission"),
                Aggregate.DEPLOYMENT, did, **dep)  # fmt: skip
        return did
    log.add(ev.DeploymentAdmitted(deployment_id=did), Aggregate.ENVIRONMENT, eid, **dep)
    log.add(ev.DeploymentAdmitted(deployment_id=did), Aggregate.DEPLOYMENT, did, **dep)
    queue = list(initial_plan(kind))
    containers: tuple[ContainerInfo, ...] = ()
    while queue:
        job = queue.pop(0)
        if job.optional and rng.random() < 0.2:
            log.add(ev.JobSkipped(job_id=job.id, reason="no chromium"), Aggregate.DEPLOYMENT, did)
            continue
        attempt = 2 if rng.random() < 0.03 else 1
        for a in range(1, attempt + 1):
            log.add(ev.JobStarted(job_id=job.id, job_type=job.type, attempt=a, executor="h1:7"),
                    Aggregate.DEPLOYMENT, did, **dep)  # fmt: skip
        if not job.optional and rng.random() < 0.02:
            log.add(ev.JobFailed(job_id=job.id, attempt=attempt, error="exit status 1"),
                    Aggregate.DEPLOYMENT, did, **dep)  # fmt: skip
            log.add(ev.DeploymentEnded(deployment_id=did, outcome="failed"),
                    Aggregate.ENVIRONMENT, eid, **dep)  # fmt: skip
            return did
        output = _output(job, did)
        if job.type is JobType.DEPLOY_IMAGE:
            containers = tuple(
                ContainerInfo(id=uuid.uuid4().hex, name=f"{project}-{did[:8]}-{i}",
                              host="127.0.0.1", port=rng.randint(20000, 60000), replica=i)
                for i in range(2)
            )  # fmt: skip
            log.add(ev.ContainersStarted(job_id=job.id, attempt=attempt, containers=containers),
                    Aggregate.DEPLOYMENT, did, **dep)  # fmt: skip
            output = {"containers": [c.model_dump() for c in containers], "port": 3000}
        if job.type is JobType.ROUTE_TRAFFIC:
            log.add(
                ev.TrafficSwitched(mode="deployment", deployment_id=did, job_id=job.id,
                                   upstreams=tuple(f"{c.host}:{c.port}" for c in containers)),
                Aggregate.ENVIRONMENT, eid, **dep,
            )  # fmt: skip
        tail = build_tail(Preset.CONTAINER) if job.type is JobType.BUILD_IMAGE else ()
        queue += tail
        log.add(ev.JobSucceeded(job_id=job.id, attempt=attempt, output=output, next_jobs=tail),
                Aggregate.DEPLOYMENT, did, **dep)  # fmt: skip
        if job.type is JobType.MARK_DEPLOYMENT_COMPLETE:
            log.add(ev.DeploymentEnded(deployment_id=did, outcome="completed"),
                    Aggregate.ENVIRONMENT, eid, **dep)  # fmt: skip
            _supersede(log, eid, did, containers)
    return did


def _supersede(log: LogBuilder, eid: str, did: str, containers: tuple[ContainerInfo, ...]) -> None:
    """The deploy service stops the environment's previous deployment once the new one routes."""
    previous = log.routed.get(eid)
    log.routed[eid] = (did, containers)
    if previous is None:
        return
    old, old_containers = previous
    log.add(ev.DeploymentStopped(reason=f"superseded by {did}", by="deploy", superseded_by=did),
            Aggregate.DEPLOYMENT, old, correlation_id=old)  # fmt: skip
    if old_containers:
        log.add(ev.ContainersRemoved(container_ids=tuple(c.id for c in old_containers),
                                     reason="teardown"),
                Aggregate.DEPLOYMENT, old, correlation_id=old)  # fmt: skip


def interleave(
    chunks: Sequence[Sequence[Envelope]], window: int, rng: random.Random
) -> Iterator[Envelope]:
    """Up to `window` histories in flight at once, each keeping its own order."""
    pending = [list(c) for c in chunks]
    active: list[list[Envelope]] = []
    while pending or active:
        while pending and len(active) < window:
            active.append(pending.pop(0))
        current = rng.choice(active)
        yield current.pop(0)
        if not current:
            active.remove(current)


def build_log(
    *,
    deployments: int = 100,
    projects: int = 5,
    seed: int = 7,
    window: int = 8,
    min_events: int | None = None,
) -> list[Envelope]:
    """A whole log: projects and environments first, then interleaved deployment histories.

    With `min_events`, deployments are added until the log holds at least that many events.
    """  # fmt: skip
    rng = random.Random(seed)
    setup = LogBuilder(rng)
    names = [f"app{i:03d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:6]}" for i in range(projects)]
    envs = ["production", "staging"]
    for name in names:
        setup.project(name, envs)
    chunks: list[list[Envelope]] = []
    total = len(setup.events)
    builder = LogBuilder(rng, clock=setup.clock)
    n = 0
    while n < deployments or (min_events is not None and total < min_events):
        start = len(builder.events)
        deployment(builder, rng.choice(names), rng.choice(envs))
        chunks.append(builder.events[start:])
        total += len(builder.events) - start
        n += 1
    # Stopping the previous deployment belongs to the later history: keep the builder's order for
    # events of one aggregate by interleaving whole chunks only.
    return setup.events + list(interleave(chunks, window, rng))


def seal_all(envelopes: Sequence[Envelope]) -> list[tuple[Envelope, bytes]]:
    """Links every aggregate's events into its hash chain, in log order."""
    last: dict[tuple[Aggregate, str], str | None] = {}
    out = []
    for env in envelopes:
        key = (env.aggregate, env.aggregate_id)
        sealed, raw = env.sealed(last.get(key))
        last[key] = sealed.hash
        out.append((sealed, raw))
    return out


async def publish_sealed(
    nc: NATS, sealed: Sequence[tuple[Envelope, bytes]], *, window: int = 1000
) -> int:
    """Publishes sealed events in order (one connection keeps the order); returns the last seq.

    No version check (the log is built valid): the fast path for seeding benchmarks and tests.
    Messages queue on the connection in the order their requests start; the first one goes
    alone, because the client sets up its shared reply subscription on the first request.
    """
    last = 0
    for start in range(0, len(sealed), window):
        chunk = sealed[start : start + window]
        if start == 0 and chunk:
            env, raw = chunk[0]
            reply = await nc.request(
                env.subject, raw, timeout=30, headers={"Nats-Msg-Id": env.event_id}
            )
            last = _seq(reply.data)
            chunk = chunk[1:]
            if not chunk:
                continue
        replies = await asyncio.gather(
            *(
                nc.request(env.subject, raw, timeout=30, headers={"Nats-Msg-Id": env.event_id})
                for env, raw in chunk
            )
        )
        last = max(last, *(_seq(r.data) for r in replies))
    return last


def _seq(data: bytes) -> int:
    body = json.loads(data)
    if "error" in body:
        raise RuntimeError(f"publish refused: {body['error']}")
    return int(body["seq"])
