"""HTTP handlers of the API (§10): parse, call the domain, answer. Auth ran in the middleware."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from libs.events.values import ConfigSnapshot, DeploymentType, Source, TriggerInfo
from services.gateway.auth import Principal
from services.gateway.deployments import COMMANDS, NewDeployment, Origin
from services.gateway.deps import GatewayDeps
from services.gateway.http_io import json_response, read_json
from services.gateway.intake import (
    Target,
    git_source,
    idempotency_key,
    image_source,
    request_id,
    resolve_target,
    snapshot,
)
from services.gateway.names import deployment_id_for_key
from services.gateway.problems import not_found
from services.gateway.schemas import (
    EmptyIn,
    EnvironmentSettings,
    ImageDeployIn,
    ManualDeployIn,
    ProjectIn,
    VariablesIn,
)

API_BODY_LIMIT = 1024 * 1024
ENV_PATH = "/api/projects/{project}/environments/{environment}"

router = APIRouter()


def deps(request: Request) -> GatewayDeps:
    gateway: GatewayDeps = request.app.state.deps
    return gateway


def origin(request: Request, key: str | None, kind: str = "api") -> Origin:
    principal: Principal = request.state.principal
    rid = request_id(key)
    return Origin(
        actor=principal.actor,
        request_id=rid,
        trigger=TriggerInfo(kind=kind, request_id=rid, actor=principal.token_id),
    )


def request_key(request: Request) -> str | None:
    return idempotency_key(request.headers.get("idempotency-key"))


def new_deployment_id(target: Target, scope: str, key: str | None) -> str:
    if key is None:
        return str(uuid.uuid4())
    return deployment_id_for_key(target.project.name, target.config.environment, scope, key)


async def create_deployment(
    request: Request,
    target: Target,
    *,
    scope: str,
    kind: DeploymentType,
    source: Source,
    config: ConfigSnapshot,
    deployment_id: str | None = None,
) -> Response:
    key = request_key(request)
    dep_id = deployment_id or new_deployment_id(target, scope, key)
    request.state.deployment_id = dep_id
    new = NewDeployment(
        deployment_id=dep_id,
        project=target.project.name,
        environment=target.config.environment,
        kind=kind,
        source=source,
        config=config,
    )
    outcome = await deps(request).deployments.request(new, origin(request, key))
    return json_response(outcome.record, outcome.status)


# ---------------------------------------------------------------- projects and environments


@router.post("/api/projects", status_code=201, tags=["projects"])
async def create_project(request: Request) -> Response:
    body = await read_json(request, ProjectIn, API_BODY_LIMIT)
    key = request_key(request)
    who = origin(request, key)
    record, created = await deps(request).projects.register(
        body, actor=who.actor, request_id=who.request_id
    )
    return json_response(record, 201 if created else 200)


@router.put(ENV_PATH, tags=["projects"])
async def configure_environment(request: Request, project: str, environment: str) -> Response:
    body = await read_json(request, EnvironmentSettings, API_BODY_LIMIT)
    who = origin(request, request_key(request))
    record = await deps(request).projects.configure(
        project, environment, body, actor=who.actor, request_id=who.request_id
    )
    return json_response(record)


async def _variables(request: Request, project: str, environment: str, replace: bool) -> Response:
    body = await read_json(request, VariablesIn, deps(request).settings.max_webhook_bytes)
    who = origin(request, request_key(request))
    record = await deps(request).projects.set_variables(
        project,
        environment,
        body.variables,
        replace=replace,
        actor=who.actor,
        request_id=who.request_id,
    )
    return json_response(record)


@router.put(ENV_PATH + "/variables", tags=["projects"])
async def replace_variables(request: Request, project: str, environment: str) -> Response:
    return await _variables(request, project, environment, replace=True)


@router.patch(ENV_PATH + "/variables", tags=["projects"])
async def merge_variables(request: Request, project: str, environment: str) -> Response:
    return await _variables(request, project, environment, replace=False)


# ---------------------------------------------------------------- deployments


@router.post(ENV_PATH + "/deployments", status_code=202, tags=["deployments"])
async def deploy_git(request: Request, project: str, environment: str) -> Response:
    body = await read_json(request, ManualDeployIn, API_BODY_LIMIT, empty_ok=True)
    target = await resolve_target(deps(request).directory, project, environment)
    return await create_deployment(
        request,
        target,
        scope="manual",
        kind=DeploymentType.MANUAL,
        source=git_source(target, body.branch, body.commit),
        config=snapshot(target.config),
    )


@router.post(ENV_PATH + "/deploy/image", status_code=202, tags=["deployments"])
async def deploy_image(request: Request, project: str, environment: str) -> Response:
    body = await read_json(request, ImageDeployIn, API_BODY_LIMIT)
    source = image_source(body.image_ref, body.pull)
    target = await resolve_target(deps(request).directory, project, environment)
    return await create_deployment(
        request,
        target,
        scope="image",
        kind=DeploymentType.IMAGE,
        source=source,
        config=snapshot(target.config, health_path=body.health_path, command=body.command),
    )


@router.post("/api/deployments/{deployment_id}/rollback", status_code=202, tags=["deployments"])
async def rollback(request: Request, deployment_id: str) -> Response:
    await read_json(request, EmptyIn, API_BODY_LIMIT, empty_ok=True)
    request.state.deployment_id = deployment_id
    key = request_key(request)
    outcome = await deps(request).deployments.rollback(
        deployment_id, key, origin(request, key, "rollback")
    )
    request.state.deployment_id = outcome.record["id"]
    return json_response(outcome.record, outcome.status)


@router.post("/api/deployments/{deployment_id}/{verb}", status_code=202, tags=["deployments"])
async def command(request: Request, deployment_id: str, verb: str) -> Response:
    """cancel | pause | resume | stop."""
    if verb not in COMMANDS:
        raise not_found(f"no command {verb!r}; use rollback, cancel, pause, resume or stop")
    await read_json(request, EmptyIn, API_BODY_LIMIT, empty_ok=True)
    request.state.deployment_id = deployment_id
    outcome = await deps(request).deployments.command(
        deployment_id, verb, origin(request, request_key(request))
    )
    return json_response(outcome.record, outcome.status)
