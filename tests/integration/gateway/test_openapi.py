"""The OpenAPI document describes every endpoint of §10, request bodies included."""

from __future__ import annotations

import httpx


async def test_the_openapi_document_lists_the_endpoints_and_their_bodies(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    env = "/api/projects/{project}/environments/{environment}"
    for path in (
        "/webhooks/github/{project}",
        "/webhooks/gitlab/{project}",
        "/api/projects",
        env,
        env + "/variables",
        env + "/deployments",
        env + "/deploy/image",
        env + "/deploy/image-upload",
        env + "/deploy/static",
        "/api/deployments/{deployment_id}/rollback",
        "/api/deployments/{deployment_id}/{verb}",
        "/healthz",
    ):
        assert path in paths, path
    body = paths["/api/projects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ProjectIn"}
    assert "EnvironmentIn" in doc["components"]["schemas"]
    upload = paths[env + "/deploy/image-upload"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
