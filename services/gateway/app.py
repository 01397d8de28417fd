"""The gateway's ASGI app: routers, problem+json for every error, auth, `/healthz`, OpenAPI."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from libs.archives import ArchiveError
from libs.secrets import SecretError
from services.gateway import handlers, handlers_uploads, handlers_webhooks
from services.gateway.deps import GatewayDeps
from services.gateway.http_checks import RequestError
from services.gateway.http_io import json_response, problem_response
from services.gateway.middleware import GatewayMiddleware
from services.gateway.problems import (
    Problem,
    internal_error_problem,
    malformed,
    problem_for,
    problem_type,
    unprocessable,
)
from services.gateway.schemas import (
    EmptyIn,
    EnvironmentSettings,
    ImageDeployIn,
    ManualDeployIn,
    ProjectIn,
    VariablesIn,
)
from services.gateway.webhooks import WebhookError

log = logging.getLogger("slipway.gateway")

# Request bodies are read by the handlers (to check size and content type first), so their
# schemas are added to the OpenAPI document here.
_ENV = handlers.ENV_PATH
_JSON_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/api/projects", "post"): ProjectIn,
    (_ENV, "put"): EnvironmentSettings,
    (_ENV + "/variables", "put"): VariablesIn,
    (_ENV + "/variables", "patch"): VariablesIn,
    (_ENV + "/deployments", "post"): ManualDeployIn,
    (_ENV + "/deploy/image", "post"): ImageDeployIn,
    ("/api/deployments/{deployment_id}/rollback", "post"): EmptyIn,
    ("/api/deployments/{deployment_id}/{verb}", "post"): EmptyIn,
}
_MULTIPART = {(_ENV + "/deploy/image-upload", "post"), (_ENV + "/deploy/static", "post")}


def create_app(deps: GatewayDeps) -> FastAPI:
    app = FastAPI(
        title="Slipway gateway",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Webhooks, commands and uploads; every change is an event (§10).",
    )
    app.state.deps = deps
    app.include_router(handlers_webhooks.router)
    app.include_router(handlers.router)
    app.include_router(handlers_uploads.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Response:
        if not deps.directory.connected:
            detail = "the gateway is not connected to NATS"
            return problem_response(Problem(503, "Unavailable", detail), "/healthz")
        return json_response({"ok": True})

    for exc_type in (Problem, WebhookError, RequestError, ArchiveError, SecretError, ValueError):
        app.add_exception_handler(exc_type, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(GatewayMiddleware, auth=deps.auth)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _known_error(request: Request, exc: Exception) -> Response:
    problem = problem_for(exc)
    if problem is None:
        log.error(
            "unexpected error on %s %s (deployment %s)",
            request.method,
            request.url.path,
            getattr(request.state, "deployment_id", "-"),
            exc_info=exc,
        )
        problem = internal_error_problem()
    return problem_response(problem, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_response(malformed("the body is not valid JSON"), request.url.path)
    return problem_response(unprocessable("invalid request", errors=errors), request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    problem = Problem(exc.status_code, title, str(exc.detail), type=problem_type(slug))
    return problem_response(problem, request.url.path)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    template = "#/components/schemas/{model}"
    for (path, method), model in _JSON_BODIES.items():
        schema = model.model_json_schema(ref_template=template)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        op = doc["paths"].get(path, {}).get(method)
        if op is not None:
            op["requestBody"] = {
                "required": model is not EmptyIn,
                "content": {
                    "application/json": {"schema": {"$ref": template.format(model=model.__name__)}}
                },
            }
    for path, method in _MULTIPART:
        op = doc["paths"].get(path, {}).get(method)
        if op is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
    app.openapi_schema = doc
    return doc
