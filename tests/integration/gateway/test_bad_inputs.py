"""Every bad input gets its status and a problem+json body, and nothing is appended (§10)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client as NATS

from libs.events.subjects import EVENTS_STREAM
from libs.eventstore import Repository
from services.gateway.main import Gateway
from services.gateway.names import deployment_id_for_key
from tests.integration.gateway.helpers import (
    TOKEN,
    assert_problem,
    completed_deployment,
    create_project,
    fixture,
    github_headers,
    last_seq,
)
from tests.support.names import unique
from tests.unit.gateway.archive_builders import (
    Z,
    file,
    forge_zip_sizes,
    symlink,
    write_tar,
    write_zip,
)

SECRET = "s3cret-webhook"


@pytest.fixture
async def project(client: httpx.AsyncClient) -> str:
    name = unique("bad")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    return name


async def expect_nothing_appended(
    nc: NATS, status: int, call: Callable[[], Awaitable[httpx.Response]]
) -> dict[str, object]:
    before = await last_seq(nc, EVENTS_STREAM)
    body = assert_problem(await call(), status)
    assert await last_seq(nc, EVENTS_STREAM) == before
    return body


# ---------------------------------------------------------------- webhooks


async def test_a_wrong_signature_is_401(client: httpx.AsyncClient, nc: NATS, project: str) -> None:
    body = fixture("github_push.json")
    headers = github_headers(body, "not-the-secret")
    problem = await expect_nothing_appended(
        nc, 401, lambda: client.post(f"/webhooks/github/{project}", content=body, headers=headers)
    )
    assert "does not match" in str(problem["detail"])


async def test_a_missing_signature_header_is_401(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    body = fixture("github_push.json")
    headers = github_headers(body, SECRET)
    del headers["X-Hub-Signature-256"]
    await expect_nothing_appended(
        nc, 401, lambda: client.post(f"/webhooks/github/{project}", content=body, headers=headers)
    )
    gitlab = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook"}
    await expect_nothing_appended(
        nc,
        401,
        lambda: client.post(
            f"/webhooks/gitlab/{project}", content=fixture("gitlab_push.json"), headers=gitlab
        ),
    )


async def test_malformed_json_validly_signed_is_400(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    body = b'{"ref": "refs/heads/main", '
    headers = github_headers(body, SECRET)
    await expect_nothing_appended(
        nc, 400, lambda: client.post(f"/webhooks/github/{project}", content=body, headers=headers)
    )


async def test_a_webhook_for_an_unknown_project_is_404(client: httpx.AsyncClient, nc: NATS) -> None:
    body = fixture("github_push.json")
    headers = github_headers(body, SECRET)
    await expect_nothing_appended(
        nc,
        404,
        lambda: client.post(f"/webhooks/github/{unique('nope')}", content=body, headers=headers),
    )


async def test_a_webhook_body_over_the_limit_is_413(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    payload = json.loads(fixture("github_push.json"))
    payload["padding"] = "x" * (300 * 1024)  # the test limit is 256 KiB
    body = json.dumps(payload).encode()
    headers = github_headers(body, SECRET)
    await expect_nothing_appended(
        nc, 413, lambda: client.post(f"/webhooks/github/{project}", content=body, headers=headers)
    )

    async def chunked() -> httpx.Response:
        async def stream() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 16 * 1024):
                yield body[i : i + 16 * 1024]

        return await client.post(f"/webhooks/github/{project}", content=stream(), headers=headers)

    await expect_nothing_appended(nc, 413, chunked)


async def test_a_webhook_with_the_wrong_content_type_is_415(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    body = b"payload=" + fixture("github_push.json")
    headers = github_headers(body, SECRET)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    problem = await expect_nothing_appended(
        nc, 415, lambda: client.post(f"/webhooks/github/{project}", content=body, headers=headers)
    )
    assert "application/json" in str(problem["detail"])


# ---------------------------------------------------------------- uploads


def _upload(client: httpx.AsyncClient, project: str, path: Path) -> Awaitable[httpx.Response]:
    return client.post(
        f"/api/projects/{project}/environments/production/deploy/static",
        files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
    )


async def test_a_bundle_with_path_traversal_is_422(
    client: httpx.AsyncClient, nc: NATS, project: str, tmp_path: Path
) -> None:
    path = write_tar(
        tmp_path / "site.tar.gz", [file("../../etc/cron.d/evil", b"* * * * *")], gz=True
    )
    problem = await expect_nothing_appended(nc, 422, lambda: _upload(client, project, path))
    assert problem["type"] == "urn:slipway:problem:unsafe-archive"


async def test_a_bundle_with_a_link_escaping_the_root_is_422(
    client: httpx.AsyncClient, nc: NATS, project: str, tmp_path: Path
) -> None:
    path = write_tar(
        tmp_path / "site.tar.gz",
        [file("index.html", b"<h1>hi</h1>"), symlink("passwd", "../../../etc/passwd")],
        gz=True,
    )
    await expect_nothing_appended(nc, 422, lambda: _upload(client, project, path))


async def test_a_zip_bomb_is_422(
    client: httpx.AsyncClient, nc: NATS, project: str, tmp_path: Path
) -> None:
    real = write_zip(tmp_path / "bomb.zip", [Z("zeros.bin", b"\0" * (9 * 1024 * 1024))])
    assert real.stat().st_size < 64 * 1024
    await expect_nothing_appended(nc, 422, lambda: _upload(client, project, real))
    forged = write_zip(tmp_path / "forged.zip", [Z("index.html", b"<h1>hi</h1>")])
    forge_zip_sizes(forged, "index.html", 3 * 1024**3)
    await expect_nothing_appended(nc, 422, lambda: _upload(client, project, forged))


async def test_an_upload_over_the_limit_is_413(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    big = io.BytesIO(b"\0" * (5 * 1024 * 1024))  # the test limit is 4 MiB
    await expect_nothing_appended(
        nc,
        413,
        lambda: client.post(
            f"/api/projects/{project}/environments/production/deploy/image-upload",
            files={"file": ("image.tar", big, "application/x-tar")},
        ),
    )


async def test_an_upload_that_is_not_multipart_is_415_and_not_an_image_is_422(
    client: httpx.AsyncClient, nc: NATS, project: str, tmp_path: Path
) -> None:
    path = f"/api/projects/{project}/environments/production/deploy/image-upload"
    await expect_nothing_appended(
        nc,
        415,
        lambda: client.post(
            path, content=b"\0" * 100, headers={"Content-Type": "application/x-tar"}
        ),
    )
    site = write_tar(tmp_path / "site.tar", [file("index.html", b"hi")])
    await expect_nothing_appended(
        nc, 422, lambda: client.post(path, files={"file": ("i.tar", site.read_bytes())})
    )


# ---------------------------------------------------------------- commands and auth


async def test_cancelling_a_completed_deployment_is_409(
    client: httpx.AsyncClient, nc: NATS, repo: Repository, project: str
) -> None:
    dep_id = await completed_deployment(repo, project, "production")
    problem = await expect_nothing_appended(
        nc, 409, lambda: client.post(f"/api/deployments/{dep_id}/cancel")
    )
    assert "cannot cancel a completed deployment" in str(problem["detail"])


async def test_a_command_on_an_unknown_deployment_is_404(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    await expect_nothing_appended(
        nc, 404, lambda: client.post(f"/api/deployments/{unique('nope')}/pause")
    )
    await expect_nothing_appended(
        nc, 404, lambda: client.post(f"/api/deployments/{unique('nope')}/explode")
    )


async def test_a_missing_or_wrong_token_is_401(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    body = {"image_ref": "nginx:1.27"}
    path = f"/api/projects/{project}/environments/production/deploy/image"
    for authorization in ("", "Bearer wrong", f"Basic {TOKEN}"):

        def call(value: str = authorization) -> Awaitable[httpx.Response]:
            return client.post(path, json=body, headers={"Authorization": value})

        problem = await expect_nothing_appended(nc, 401, call)
        assert problem["type"] == "urn:slipway:problem:unauthorized"
    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with anonymous:
        resp = await anonymous.post(path, json=body)
        assert_problem(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/openapi.json")).status_code == 200


async def test_invalid_deploy_requests_are_refused(
    client: httpx.AsyncClient, nc: NATS, project: str
) -> None:
    env = f"/api/projects/{project}/environments/production"
    cases: list[tuple[int, Callable[[], Awaitable[httpx.Response]]]] = [
        (422, lambda: client.post(env + "/deploy/image", json={"image_ref": "Nginx:latest"})),
        (422, lambda: client.post(env + "/deploy/image", json={"image_ref": "a", "pull": "never"})),
        (422, lambda: client.post(env + "/deployments", json={"commit": "xyz"})),
        (
            400,
            lambda: client.post(
                env + "/deployments", content=b"{", headers={"Content-Type": "application/json"}
            ),
        ),
        (
            415,
            lambda: client.post(
                env + "/deploy/image",
                content=b"image_ref=x",
                headers={"Content-Type": "text/plain"},
            ),
        ),
        (
            404,
            lambda: client.post(
                f"/api/projects/{project}/environments/nope/deploy/image",
                json={"image_ref": "nginx"},
            ),
        ),
        (
            400,
            lambda: client.post(
                env + "/deploy/image",
                json={"image_ref": "nginx"},
                headers={"Idempotency-Key": "has space"},
            ),
        ),
    ]
    for status, call in cases:
        await expect_nothing_appended(nc, status, call)


async def test_an_error_of_ours_is_a_500_problem_logged_with_the_deployment_id(
    client: httpx.AsyncClient,
    nc: NATS,
    project: str,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(gateway.deps.deployments, "request", broken)
    headers = {"Idempotency-Key": unique("key")}
    path = f"/api/projects/{project}/environments/production/deploy/image"
    with caplog.at_level(logging.ERROR, logger="slipway.gateway"):
        problem = await expect_nothing_appended(
            nc, 500, lambda: client.post(path, json={"image_ref": "nginx"}, headers=headers)
        )
    assert "internal detail" not in str(problem)
    dep_id = deployment_id_for_key(project, "production", "image", headers["Idempotency-Key"])
    assert any(dep_id in r.getMessage() for r in caplog.records)
