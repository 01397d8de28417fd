"""Query API: the artifacts the post-deploy jobs stored for a deployment (§10).

- `GET /api/deployments/{id}/artifacts` → `{"items": [{"name", "kind", "job_id", "content_type",
  "size", "url"}], "next_cursor": null}`: every object a succeeded TakeScreenshotJob,
  ScanVulnerabilitiesJob or CaptureSourceMapsJob recorded in its output (kinds `screenshot`,
  `sbom`, `sourcemap`).
- `GET /api/deployments/{id}/artifacts/{name}` → the object's bytes. `name` is an item's `name`
  (e.g. `screenshots/<id>.png`, `sourcemaps/<commit>/app.js.map`) or the alias `screenshot` or
  `sbom`. Only objects the deployment's own jobs recorded are served.

Include with `api.include_router(artifacts_api.router(deps))`; errors are problem+json (404
unknown deployment or artifact).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.params import Depends
from fastapi.responses import JSONResponse, Response

from libs.artifacts import ArtifactBytes, ArtifactNotFound
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.eventstore import Repository
from libs.records import Record, artifacts_of

POST_DEPLOY_KINDS = ("screenshot", "sbom", "sourcemap")
ALIASES = ("screenshot", "sbom")
PROBLEM = "application/problem+json"

DeploymentLoader = Callable[[str], Awaitable[DeploymentState | None]]


@dataclass
class ArtifactsDeps:
    objects: ArtifactBytes
    deployment: DeploymentLoader  # None for an unknown deployment


def deployment_loader(repo: Repository) -> DeploymentLoader:
    """Folds the deployment straight from the event store (through the stream leader)."""

    async def load(deployment_id: str) -> DeploymentState | None:
        try:
            loaded = await repo.load(Aggregate.DEPLOYMENT, deployment_id, leader=True)
        except ValueError:  # not even a valid id
            return None
        state: DeploymentState = loaded.state
        return state if loaded.exists and state.requested else None

    return load


def content_type(name: str) -> str:
    if name.endswith(".png"):
        return "image/png"
    if name.endswith(".cdx.json"):
        return "application/vnd.cyclonedx+json"
    if name.endswith((".map", ".json")):
        return "application/json"
    return "application/octet-stream"


def problem(request: Request, status: int, slug: str, title: str, detail: str) -> JSONResponse:
    body = {
        "type": f"urn:slipway:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def post_deploy_artifacts(state: DeploymentState) -> list[Record]:
    return [a for a in artifacts_of(state) if a["kind"] in POST_DEPLOY_KINDS]


def resolve(items: list[Record], name: str) -> Record | None:
    for item in items:
        if item["name"] == name:
            return item
    if name in ALIASES:
        return next((i for i in items if i["kind"] == name), None)
    return None


def router(deps: ArtifactsDeps, *, dependencies: Sequence[Depends] = ()) -> APIRouter:
    api = APIRouter(tags=["artifacts"], dependencies=list(dependencies))
    base = "/api/deployments/{deployment_id}/artifacts"

    async def known(request: Request, deployment_id: str) -> list[Record] | JSONResponse:
        state = await deps.deployment(deployment_id)
        if state is None:
            return problem(
                request, 404, "not-found", "Not found", f"no deployment {deployment_id!r}"
            )
        return post_deploy_artifacts(state)

    @api.get(base, summary="Artifacts the post-deploy jobs stored")
    async def list_artifacts(request: Request, deployment_id: str) -> Response:
        found = await known(request, deployment_id)
        if isinstance(found, JSONResponse):
            return found
        items: list[dict[str, Any]] = []
        for item in found:
            items.append(
                {
                    **item,
                    "content_type": content_type(item["name"]),
                    "size": await deps.objects.size(item["name"]),
                    "url": f"/api/deployments/{quote(deployment_id)}/artifacts/"
                    + quote(item["name"]),
                }
            )
        return JSONResponse({"items": items, "next_cursor": None})

    @api.get(base + "/{name:path}", summary="One artifact's content")
    async def get_artifact(request: Request, deployment_id: str, name: str) -> Response:
        found = await known(request, deployment_id)
        if isinstance(found, JSONResponse):
            return found
        item = resolve(found, name)
        if item is None:
            return problem(
                request,
                404,
                "not-found",
                "Not found",
                f"deployment {deployment_id} has no artifact {name!r}",
            )
        try:
            data = await deps.objects.get_bytes(item["name"])
        except ArtifactNotFound:
            return problem(
                request, 404, "not-found", "Not found", f"artifact {item['name']!r} was removed"
            )
        return Response(data, media_type=content_type(item["name"]))

    return api
