"""Helpers of the gateway integration tests: signed deliveries, projects, raw stream reads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events import plans
from libs.events.envelope import EventData, new_event
from libs.events.fold import Recorded
from libs.events.subjects import EVENTS_STREAM, Aggregate, aggregate_filter
from libs.events.values import ConfigSnapshot, DeploymentType, Source, TriggerInfo
from libs.eventstore import JetStreamEventStore, Repository
from services.gateway.webhooks_github import sign_github

TOKEN = "test-admin-token-" + uuid.uuid4().hex
WEBHOOK_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"
PROBLEM = "application/problem+json"


def fixture(name: str) -> bytes:
    return (WEBHOOK_FIXTURES / name).read_bytes()


def github_headers(
    body: bytes, secret: str, *, event: str = "push", delivery: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_github(body, secret),
    }


async def create_project(
    client: httpx.AsyncClient,
    name: str,
    environments: list[dict[str, Any]],
    *,
    secret: str | None = "s3cret-webhook",
    repo_url: str = "https://github.com/octocat/hello-world.git",
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "repo_url": repo_url, "environments": environments}
    if secret is not None:
        body["webhook_secret"] = secret
    resp = await client.post("/api/projects", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def last_seq(nc: NATS, stream: str = EVENTS_STREAM) -> int:
    info = await nc.jetstream().stream_info(stream)
    return int(info.state.last_seq)


async def raw_messages(nc: NATS, stream: str) -> list[bytes]:
    """Every stored message of a stream, raw (data and headers), through the stream API."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    out: list[bytes] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:  # deleted or expired sequence
            continue
        out.append(msg.data or b"")
        out.append(json.dumps(msg.headers or {}).encode())
    return out


async def events_of(store: JetStreamEventStore, aggregate: Aggregate, aid: str) -> list[Recorded]:
    return [e async for e in store.read_subjects(aggregate_filter(aggregate, aid))]


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers["content-type"]
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


async def completed_deployment(
    repo: Repository, project: str, environment: str, *, image_id: str = "sha256:" + "ab" * 32
) -> str:
    """An image deployment that ran to completed, appended event by event as executors would."""
    dep_id = str(uuid.uuid4())
    plan = plans.initial_plan(DeploymentType.IMAGE)
    loaded = await repo.load(Aggregate.DEPLOYMENT, dep_id)

    def event(data: EventData, job_id: str | None = None, attempt: int | None = None) -> Any:
        return new_event(
            data,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=dep_id,
            causation_id=uuid.uuid4().hex,
            actor="test",
            correlation_id=dep_id,
            job_id=job_id,
            attempt=attempt,
        )

    events = [
        event(
            ev.DeploymentRequested(
                deployment_id=dep_id,
                project=project,
                environment=environment,
                deployment_type=DeploymentType.IMAGE,
                source=Source(image_ref="example/app:1", pull="missing"),
                plan=plan,
                config=ConfigSnapshot(),
                trigger=TriggerInfo(kind="api"),
            )
        ),
        event(ev.DeploymentAdmitted(deployment_id=dep_id)),
    ]
    for job in plan:
        if job.optional:
            continue
        output = {"image_id": image_id} if job.id == "pull" else {}
        events.append(
            event(
                ev.JobStarted(job_id=job.id, job_type=job.type, attempt=1, executor="test"),
                job.id,
                1,
            )
        )
        events.append(event(ev.JobSucceeded(job_id=job.id, attempt=1, output=output), job.id, 1))
    await repo.append(loaded, events)
    assert loaded.state.status.value == "completed"
    return dep_id
