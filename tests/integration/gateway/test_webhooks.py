"""Real GitHub and GitLab deliveries become the right DeploymentRequested — once per delivery."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.subjects import Aggregate
from libs.eventstore import JetStreamEventStore
from libs.secrets import CRON_SECRET
from services.gateway.names import deployment_id_for_webhook
from services.gateway.webhooks_gitlab import sign_gitlab
from tests.integration.gateway.helpers import (
    create_project,
    events_of,
    fixture,
    github_headers,
    last_seq,
)
from tests.support.names import unique

SECRET = "s3cret-webhook"


async def requested(store: JetStreamEventStore, deployment_id: str) -> ev.DeploymentRequested:
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, deployment_id)
    assert isinstance(rec.envelope.data, ev.DeploymentRequested)
    return rec.envelope.data


async def test_a_github_push_requests_a_git_deployment_of_the_pushed_commit(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = unique("gh")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    await client.put(
        f"/api/projects/{name}/environments/production/variables",
        json={"variables": {"DATABASE_URL": "postgres://u:p@db/app"}},
    )
    body = fixture("github_push.json")
    delivery = str(uuid.uuid4())
    resp = await client.post(
        f"/webhooks/github/{name}",
        content=body,
        headers=github_headers(body, SECRET, delivery=delivery),
    )
    assert resp.status_code == 202, resp.text
    (record,) = resp.json()["deployments"]
    dep_id = deployment_id_for_webhook(name, "production", delivery)
    assert record["id"] == dep_id
    assert record["status"] == "pending"
    assert record["type"] == "git"
    assert record["seq"] > 0
    assert [j["name"] for j in record["jobs"]] == ["DownloadRepoJob", "BuildImageJob"]

    data = await requested(store, dep_id)
    payload = json.loads(body)
    assert (data.project, data.environment) == (name, "production")
    assert data.source.branch == "main"
    assert data.source.commit_sha == payload["head_commit"]["id"]
    assert data.source.commit_message == payload["head_commit"]["message"]
    assert data.source.repo_url == "https://github.com/octocat/hello-world.git"
    assert data.trigger.kind == "webhook-github"
    assert data.trigger.request_id == delivery
    assert set(data.config.variables) == {"DATABASE_URL", CRON_SECRET}


async def test_a_gitlab_push_with_the_token_or_a_signature_requests_a_deployment(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = unique("gl")
    await create_project(client, name, [{"name": "production", "branch": "master"}])
    body = fixture("gitlab_push.json")
    token_headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": SECRET,
        "Idempotency-Key": str(uuid.uuid4()),
    }
    resp = await client.post(f"/webhooks/gitlab/{name}", content=body, headers=token_headers)
    assert resp.status_code == 202, resp.text
    (record,) = resp.json()["deployments"]
    data = await requested(store, record["id"])
    assert data.source.branch == "master"
    assert data.source.commit_sha == json.loads(body)["checkout_sha"]
    assert data.trigger.kind == "webhook-gitlab"

    webhook_id, stamp = "msg_" + uuid.uuid4().hex, int(time.time())
    signed = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_gitlab(body, SECRET, webhook_id=webhook_id, timestamp=stamp),
    }
    resp = await client.post(f"/webhooks/gitlab/{name}", content=body, headers=signed)
    assert resp.status_code == 202, resp.text
    assert resp.json()["deployments"][0]["id"] == deployment_id_for_webhook(
        name, "production", webhook_id
    )


async def test_deletions_and_other_events_are_accepted_without_a_deployment(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    name = unique("gh")
    await create_project(client, name, [{"name": "production", "branch": "main", "tags": True}])
    before = await last_seq(nc)
    tag_deleted = json.loads(fixture("github_push_branch_deleted.json"))
    tag_deleted["ref"] = "refs/tags/v1.2.0"
    deliveries = [
        ("github", json.dumps(tag_deleted).encode(), "push"),
        ("github", fixture("github_push_branch_deleted.json"), "push"),
        ("github", fixture("github_issues.json"), "issues"),
    ]
    for _, body, event in deliveries:
        resp = await client.post(
            f"/webhooks/github/{name}",
            content=body,
            headers=github_headers(body, SECRET, event=event),
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["deployments"] == []
        assert resp.json()["ignored"]
    for fixture_name, event in (
        ("gitlab_tag_push_deleted.json", "Tag Push Hook"),
        ("gitlab_issue.json", "Issue Hook"),
    ):
        body = fixture(fixture_name)
        headers = {
            "Content-Type": "application/json",
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": SECRET,
        }
        resp = await client.post(f"/webhooks/gitlab/{name}", content=body, headers=headers)
        assert resp.status_code == 202, resp.text
        assert resp.json()["deployments"] == []
    assert await last_seq(nc) == before


async def test_a_ping_is_answered_200(client: httpx.AsyncClient, nc: NATS) -> None:
    name = unique("gh")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    before = await last_seq(nc)
    body = fixture("github_ping.json")
    resp = await client.post(
        f"/webhooks/github/{name}", content=body, headers=github_headers(body, SECRET, event="ping")
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["ok"] is True
    assert await last_seq(nc) == before


async def test_one_push_deploys_every_environment_tracking_the_branch_with_auto_deploy(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = unique("gh")
    await create_project(
        client,
        name,
        [
            {"name": "production", "branch": "main"},
            {"name": "preview", "branch": "main", "replicas": 2},
            {"name": "manual", "branch": "main", "auto_deploy": False},
            {"name": "staging", "branch": "develop"},
        ],
    )
    body = fixture("github_push.json")
    resp = await client.post(
        f"/webhooks/github/{name}", content=body, headers=github_headers(body, SECRET)
    )
    assert resp.status_code == 202, resp.text
    records = resp.json()["deployments"]
    assert sorted(r["environment"] for r in records) == ["preview", "production"]
    preview = next(r for r in records if r["environment"] == "preview")
    assert (await requested(store, preview["id"])).config.replicas == 2


async def test_a_tag_push_deploys_only_environments_that_deploy_tags(
    client: httpx.AsyncClient,
) -> None:
    name = unique("gh")
    await create_project(
        client,
        name,
        [{"name": "production", "branch": "main", "tags": True}, {"name": "dev", "branch": "main"}],
    )
    body = fixture("github_push_tag.json")
    resp = await client.post(
        f"/webhooks/github/{name}", content=body, headers=github_headers(body, SECRET)
    )
    assert resp.status_code == 202, resp.text
    (record,) = resp.json()["deployments"]
    assert record["environment"] == "production"
    assert record["source"]["branch"] == "v1.2.0"


async def test_a_redelivery_answers_200_with_the_same_deployment_and_appends_nothing(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    name = unique("gh")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    body = fixture("github_push.json")
    headers = github_headers(body, SECRET)
    first = await client.post(f"/webhooks/github/{name}", content=body, headers=headers)
    assert first.status_code == 202
    before = await last_seq(nc)
    again = await client.post(f"/webhooks/github/{name}", content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["deployments"][0]["id"] == first.json()["deployments"][0]["id"]
    assert await last_seq(nc) == before


async def test_fifty_concurrent_deliveries_of_one_delivery_make_exactly_one_deployment(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = unique("gh")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    body = fixture("github_push.json")
    headers = github_headers(body, SECRET)
    responses = await asyncio.gather(
        *(client.post(f"/webhooks/github/{name}", content=body, headers=headers) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [202], statuses
    ids = {r.json()["deployments"][0]["id"] for r in responses}
    assert len(ids) == 1
    stored = [
        rec
        async for rec in store.read_subjects("events.deployment.*.DeploymentRequested")
        if isinstance(rec.envelope.data, ev.DeploymentRequested)
        and rec.envelope.data.project == name
    ]
    assert len(stored) == 1
