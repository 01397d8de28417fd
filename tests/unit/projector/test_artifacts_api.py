from __future__ import annotations

import httpx
from fastapi import FastAPI

from libs.artifacts import FakeArtifactStore
from libs.events.outputs import ArtifactOutput
from libs.events.states import DeploymentState
from libs.events.values import DeploymentType, JobSpec, JobType
from services.projector.artifacts_api import ArtifactsDeps, router
from tests.factories import Story

PLAN = (
    JobSpec(id="screenshot", type=JobType.TAKE_SCREENSHOT, optional=True),
    JobSpec(id="scan", type=JobType.SCAN_VULNERABILITIES, optional=True),
    JobSpec(id="sourcemaps", type=JobType.CAPTURE_SOURCE_MAPS, optional=True),
)


def deployment() -> Story:
    story = Story("dep1", DeploymentType.GIT, plan=PLAN).admit()
    outputs = {
        "screenshot": ("screenshots/dep1.png",),
        "scan": ("sboms/dep1.cdx.json",),
        "sourcemaps": ("sourcemaps/abc/js/app.js.map",),
    }
    for job, objects in outputs.items():
        story.start(job).succeed(job, ArtifactOutput(objects=objects).model_dump(mode="json"))
    return story


def client(story: Story, objects: FakeArtifactStore) -> httpx.AsyncClient:
    async def load(dep: str) -> DeploymentState | None:
        return story.state if dep == story.dep_id else None

    app = FastAPI()
    app.include_router(router(ArtifactsDeps(objects=objects, deployment=load)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def stored() -> FakeArtifactStore:
    objects = FakeArtifactStore()
    objects.objects.update(
        {
            "screenshots/dep1.png": b"\x89PNG...",
            "sboms/dep1.cdx.json": b'{"bomFormat": "CycloneDX"}',
            "sourcemaps/abc/js/app.js.map": b'{"version": 3}',
            "screenshots/other.png": b"not this deployment's",
        }
    )
    return objects


async def test_the_list_names_every_post_deploy_artifact_with_type_size_and_url() -> None:
    async with client(deployment(), stored()) as c:
        r = await c.get("/api/deployments/dep1/artifacts")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["kind"], i["name"], i["content_type"], i["size"]) for i in items] == [
        ("screenshot", "screenshots/dep1.png", "image/png", 7),
        ("sbom", "sboms/dep1.cdx.json", "application/vnd.cyclonedx+json", 26),
        ("sourcemap", "sourcemaps/abc/js/app.js.map", "application/json", 14),
    ]
    assert items[0]["url"] == "/api/deployments/dep1/artifacts/screenshots/dep1.png"


async def test_an_artifact_is_served_by_its_name_or_its_alias() -> None:
    async with client(deployment(), stored()) as c:
        by_name = await c.get("/api/deployments/dep1/artifacts/sourcemaps/abc/js/app.js.map")
        by_alias = await c.get("/api/deployments/dep1/artifacts/screenshot")
        sbom = await c.get("/api/deployments/dep1/artifacts/sbom")
    assert by_name.content == b'{"version": 3}'
    assert (by_alias.headers["content-type"], by_alias.content) == ("image/png", b"\x89PNG...")
    assert sbom.json() == {"bomFormat": "CycloneDX"}


async def test_an_unknown_deployment_is_a_404_problem() -> None:
    async with client(deployment(), stored()) as c:
        r = await c.get("/api/deployments/nope/artifacts")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "no deployment 'nope'"


async def test_an_object_that_is_not_the_deployment_s_own_is_never_served() -> None:
    async with client(deployment(), stored()) as c:
        r = await c.get("/api/deployments/dep1/artifacts/screenshots/other.png")
    assert r.status_code == 404
    assert "has no artifact" in r.json()["detail"]


async def test_a_removed_object_is_a_404_problem() -> None:
    objects = stored()
    del objects.objects["screenshots/dep1.png"]
    async with client(deployment(), objects) as c:
        listing = await c.get("/api/deployments/dep1/artifacts")
        r = await c.get("/api/deployments/dep1/artifacts/screenshot")
    assert listing.json()["items"][0]["size"] is None
    assert r.status_code == 404
    assert r.json()["detail"] == "artifact 'screenshots/dep1.png' was removed"
