"""Manual, image, upload and static deployments; commands; rollback (§4, §10)."""

from __future__ import annotations

from pathlib import Path

import httpx
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.subjects import OBJECT_STORE, Aggregate
from libs.events.values import DeploymentType, JobType
from libs.eventstore import JetStreamEventStore, Repository
from tests.integration.gateway.helpers import (
    assert_problem,
    completed_deployment,
    create_project,
    events_of,
    last_seq,
)
from tests.support.names import unique
from tests.unit.gateway.archive_builders import file, oci_docker_save, write_tar


async def project_with_production(client: httpx.AsyncClient) -> str:
    name = unique("dep")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    return name


async def test_a_manual_deploy_builds_the_branch_head_or_the_given_commit(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = await project_with_production(client)
    path = f"/api/projects/{name}/environments/production/deployments"
    resp = await client.post(path)
    assert resp.status_code == 202, resp.text
    record = resp.json()
    assert (record["type"], record["source"]["branch"]) == ("manual", "main")
    assert record["seq"] == await last_seq(store.nc)
    resp = await client.post(path, json={"branch": "hotfix", "commit": "a" * 40})
    assert resp.json()["source"] == {
        "repo_url": "https://github.com/octocat/hello-world.git",
        "branch": "hotfix",
        "commit_sha": "a" * 40,
        "commit_message": None,
        "image_ref": None,
        "bundle": None,
    }


async def test_an_idempotency_key_makes_a_repeat_answer_200_without_appending(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    name = await project_with_production(client)
    path = f"/api/projects/{name}/environments/production/deploy/image"
    headers = {"Idempotency-Key": unique("key")}
    first = await client.post(path, json={"image_ref": "nginx:1.27"}, headers=headers)
    assert first.status_code == 202, first.text
    before = await last_seq(nc)
    again = await client.post(path, json={"image_ref": "nginx:1.27"}, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert await last_seq(nc) == before


async def test_an_image_deploy_carries_its_reference_pull_policy_and_overrides(
    client: httpx.AsyncClient, store: JetStreamEventStore
) -> None:
    name = await project_with_production(client)
    resp = await client.post(
        f"/api/projects/{name}/environments/production/deploy/image",
        json={
            "image_ref": "ghcr.io/acme/api:2.1",
            "pull": "always",
            "health_path": "/up",
            "command": "serve --port 3000",
        },
    )
    assert resp.status_code == 202, resp.text
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, resp.json()["id"])
    data = rec.envelope.data
    assert isinstance(data, ev.DeploymentRequested)
    assert data.deployment_type is DeploymentType.IMAGE
    assert (data.source.image_ref, data.source.pull) == ("ghcr.io/acme/api:2.1", "always")
    assert (data.config.health_path, data.config.command) == ("/up", "serve --port 3000")
    assert data.plan[0].type is JobType.PULL_EXTERNAL_IMAGE


async def test_an_uploaded_image_is_stored_and_named_by_its_image_id(
    client: httpx.AsyncClient, nc: NATS, store: JetStreamEventStore, tmp_path: Path
) -> None:
    name = await project_with_production(client)
    members, config_hex = oci_docker_save()
    archive = write_tar(tmp_path / "image.tar", members)
    resp = await client.post(
        f"/api/projects/{name}/environments/production/deploy/image-upload",
        files={"file": ("image.tar", archive.read_bytes(), "application/x-tar")},
    )
    assert resp.status_code == 202, resp.text
    record = resp.json()
    assert record["type"] == "image_upload"
    assert record["image"] == f"sha256:{config_hex}"
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, record["id"])
    data = rec.envelope.data
    assert isinstance(data, ev.DeploymentRequested)
    assert data.source.upload_object == f"uploads/{record['id']}.tar"
    objects = await nc.jetstream().object_store(OBJECT_STORE)
    stored = await objects.get(data.source.upload_object)
    assert stored.data == archive.read_bytes()


async def test_a_static_bundle_is_validated_and_stored(
    client: httpx.AsyncClient, nc: NATS, tmp_path: Path
) -> None:
    name = await project_with_production(client)
    bundle = write_tar(tmp_path / "site.tar.gz", [file("index.html", b"<h1>hi</h1>")], gz=True)
    resp = await client.post(
        f"/api/projects/{name}/environments/production/deploy/static",
        files={"file": ("site.tar.gz", bundle.read_bytes(), "application/gzip")},
    )
    assert resp.status_code == 202, resp.text
    record = resp.json()
    assert record["source"]["bundle"] == f"bundles/{record['id']}"
    assert record["jobs"][0]["name"] == "DeployStaticBundleJob"
    objects = await nc.jetstream().object_store(OBJECT_STORE)
    assert (await objects.get(record["source"]["bundle"])).data == bundle.read_bytes()


async def test_pause_resume_stop_and_cancel_follow_the_rules(
    client: httpx.AsyncClient, repo: Repository, store: JetStreamEventStore
) -> None:
    name = await project_with_production(client)
    resp = await client.post(
        f"/api/projects/{name}/environments/production/deploy/image", json={"image_ref": "nginx"}
    )
    pending = resp.json()["id"]
    resp = await client.post(f"/api/deployments/{pending}/pause")
    assert (resp.status_code, resp.json()["status"]) == (202, "paused")
    resp = await client.post(f"/api/deployments/{pending}/resume")
    assert (resp.status_code, resp.json()["status"]) == (202, "pending")
    (resumed,) = [
        r.envelope.data
        for r in await events_of(store, Aggregate.DEPLOYMENT, pending)
        if isinstance(r.envelope.data, ev.DeploymentResumed)
    ]
    assert resumed.segment == ()  # never deployed: the pipeline just goes on
    assert_problem(await client.post(f"/api/deployments/{pending}/stop"), 409)
    resp = await client.post(
        f"/api/deployments/{pending}/cancel", headers={"Idempotency-Key": "c1"}
    )
    assert (resp.status_code, resp.json()["status"]) == (202, "cancelled")
    resp = await client.post(
        f"/api/deployments/{pending}/cancel", headers={"Idempotency-Key": "c1"}
    )
    assert resp.status_code == 200  # the same request again

    done = await completed_deployment(repo, name, "production")
    assert (await client.post(f"/api/deployments/{done}/pause")).json()["status"] == "paused"
    resp = await client.post(f"/api/deployments/{done}/resume")
    assert (resp.status_code, resp.json()["status"]) == (202, "deploying")
    added = [j["id"] for j in resp.json()["jobs"] if j["id"].endswith("-r1")]
    assert added == ["deploy-r1", "health-r1", "route-r1", "complete-r1"]
    resp = await client.post(f"/api/deployments/{done}/stop")
    assert (resp.status_code, resp.json()["status"]) == (202, "stopped")


async def test_a_rollback_reuses_the_targets_image_and_config(
    client: httpx.AsyncClient, repo: Repository, store: JetStreamEventStore
) -> None:
    name = await project_with_production(client)
    image_id = "sha256:" + "cd" * 32
    target = await completed_deployment(repo, name, "production", image_id=image_id)
    resp = await client.post(f"/api/deployments/{target}/rollback", json={})
    assert resp.status_code == 202, resp.text
    record = resp.json()
    assert (record["type"], record["image"]) == ("rollback", image_id)
    assert [j["name"] for j in record["jobs"]][:2] == ["VerifyLocalImageJob", "DeployImageJob"]
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, record["id"])
    data = rec.envelope.data
    assert isinstance(data, ev.DeploymentRequested)
    assert data.source.rollback_of == target
    assert data.trigger.kind == "rollback"
    pending = record["id"]
    problem = assert_problem(await client.post(f"/api/deployments/{pending}/rollback"), 409)
    assert "roll back to a pending deployment" in problem["detail"]
