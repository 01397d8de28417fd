"""Webhooks (§10): size (413) → content type (415) → project (404) → signature (401) → JSON
(400) → event. No token: the signature over the raw body is the credential.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.handlers import deps
from services.gateway.http_checks import check_content_type
from services.gateway.http_io import JSON_TYPES, json_response, read_body
from services.gateway.webhook_intake import GITHUB, GITLAB, Provider

router = APIRouter(tags=["webhooks"])

_FORM_HINT = "configure the webhook with content type application/json"


async def _receive(request: Request, provider: Provider, project: str) -> Response:
    d = deps(request)
    body = await read_body(request, d.settings.max_webhook_bytes)
    check_content_type(request.headers.get("content-type"), JSON_TYPES, hint=_FORM_HINT)
    answer = await d.webhooks.receive(provider, project, request.headers, body)
    if answer.deployment_ids:
        request.state.deployment_id = ",".join(answer.deployment_ids)
    return json_response(answer.body, answer.status)


@router.post("/webhooks/github/{project}", status_code=202)
async def github_webhook(request: Request, project: str) -> Response:
    return await _receive(request, GITHUB, project)


@router.post("/webhooks/gitlab/{project}", status_code=202)
async def gitlab_webhook(request: Request, project: str) -> Response:
    return await _receive(request, GITLAB, project)
