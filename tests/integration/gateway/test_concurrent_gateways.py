"""Two gateways on one NATS: a change made through one is seen by the other's next request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from libs.events import catalog as ev
from libs.events.subjects import Aggregate
from libs.eventstore import JetStreamEventStore
from libs.settings import Settings
from services.gateway.main import build_gateway
from tests.integration.gateway.helpers import (
    TOKEN,
    create_project,
    events_of,
    fixture,
    github_headers,
)
from tests.support.names import unique

SECRET = "s3cret-webhook"


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway with its own connection (and its own directory)."""
    conn = await nats.connect(settings.nats_url or "")
    gw = await build_gateway(settings, with_admission=False, nc=conn)
    transport = httpx.ASGITransport(app=gw.app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://other.test", headers=headers
    ) as client:
        yield client
    await gw.stop()
    await conn.close()


async def push(client: httpx.AsyncClient, project: str, branch: str = "main") -> httpx.Response:
    body = fixture("github_push.json").replace(b"refs/heads/main", f"refs/heads/{branch}".encode())
    return await client.post(
        f"/webhooks/github/{project}", content=body, headers=github_headers(body, SECRET)
    )


async def test_changes_through_one_gateway_are_seen_by_the_next_request_to_another(
    client: httpx.AsyncClient, other: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    # The other gateway has folded the directory before the project exists.
    assert (await push(other, unique("none"))).status_code == 404
    name = unique("two")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    resp = await push(other, name)
    assert resp.status_code == 202, resp.text

    env = f"/api/projects/{name}/environments/production"
    assert (await client.put(env, json={"branch": "release", "replicas": 3})).status_code == 200
    resp = await push(other, name, "release")
    assert resp.status_code == 202, resp.text
    (record,) = resp.json()["deployments"]

    await client.put(env + "/variables", json={"variables": {"FEATURE_FLAG": "on"}})
    resp = await other.post(env + "/deployments")
    assert resp.status_code == 202, resp.text
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, resp.json()["id"])
    assert isinstance(rec.envelope.data, ev.DeploymentRequested)
    assert "FEATURE_FLAG" in rec.envelope.data.config.variables
    assert rec.envelope.data.config.replicas == 3
    assert record["source"]["branch"] == "release"


async def test_a_refused_change_does_not_leave_the_other_gateway_waiting(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    name = unique("two")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    duplicate = await other.post("/api/projects", json={"name": name})
    assert duplicate.status_code == 409  # its publish was rejected: never stored
    for _ in range(3):
        assert (await push(client, name)).status_code == 202
        assert (await push(other, name)).status_code == 202
