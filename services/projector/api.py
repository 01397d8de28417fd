"""The read-only query API (§10): the read model, the event store's own views, logs, export.

Every route but `/healthz` needs `Authorization: Bearer <token>`; errors are problem+json
(400 bad filter, 401 credentials, 404 unknown). Routes are thin: parse, call, return.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.audit import ExportFilter, InvalidExportFilter, export_lines
from libs.events import Aggregate
from libs.events.subjects import aggregate_filter
from libs.records import DEFAULT_BASE_DOMAIN, DEFAULT_EDGE_PORT, deployment_record
from services.projector import artifacts_api, env_logs_api, queries
from services.projector.artifacts_api import ArtifactsDeps
from services.projector.env_logs_api import EnvLogsDeps
from services.projector.logstream import log_lines, sse_log_stream
from services.projector.ports import EventSource, LogSource
from services.projector.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    bad_request,
    internal_error,
    not_found,
    unauthorized,
)
from services.projector.project import DEFAULT_CHECKPOINT, read_checkpoint
from services.projector.reads import (
    DeploymentWatch,
    aggregate_messages,
    event_items,
    fold_messages,
    fold_recorded,
    wait_for_checkpoint,
)

log = logging.getLogger("slipway.query")

NDJSON = "application/x-ndjson"
READ_SOURCE = "Slipway-Read-Source"  # `projection`, or `event-store` when folded directly


@dataclass
class ApiDeps:
    sessions: async_sessionmaker[AsyncSession]
    events: EventSource
    logs: LogSource
    tokens: Collection[str]
    base_domain: str = DEFAULT_BASE_DOMAIN
    edge_port: int | None = DEFAULT_EDGE_PORT
    min_seq_wait_s: float = 2.0
    artifacts: ArtifactsDeps | None = None  # the post-deploy artifacts endpoints
    env_logs: EnvLogsDeps | None = None  # the environment log endpoint
    log_check_s: float = 0.5
    # The projector instance's own view (role, checkpoint, lag) when it runs in this process.
    status: Callable[[], Awaitable[dict[str, Any]]] | None = None
    checkpoint: str = DEFAULT_CHECKPOINT


def _deployment_id(deployment_id: str) -> str:
    try:
        aggregate_filter(Aggregate.DEPLOYMENT, deployment_id)
    except ValueError:
        raise bad_request(f"invalid deployment id {deployment_id!r}") from None
    return deployment_id


def _problem_response(problem: Problem, request: Request) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="slipway"'} if problem.status == 401 else None
    return JSONResponse(
        problem.body(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _install_errors(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return _problem_response(exc, request)

    async def on_bad_input(request: Request, exc: Exception) -> Response:
        return _problem_response(bad_request(str(exc)), request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg')}")
        return _problem_response(bad_request("; ".join(parts) or "invalid request"), request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        slug = "not-found" if exc.status_code == 404 else "http-error"
        title = "Not found" if exc.status_code == 404 else str(exc.detail)
        detail = f"no route {request.method} {request.url.path}" if exc.status_code == 404 else ""
        return _problem_response(Problem(exc.status_code, slug, title, detail or title), request)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("query API error on %s %s", request.method, request.url.path, exc_info=exc)
        return _problem_response(internal_error(), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(queries.InvalidQuery, on_bad_input)
    app.add_exception_handler(InvalidExportFilter, on_bad_input)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


def create_app(deps: ApiDeps) -> FastAPI:
    if not deps.tokens:
        raise ValueError("the query API needs at least one token (SLIPWAY_ADMIN_TOKEN)")
    app = FastAPI(
        title="Slipway query API",
        version="1",
        openapi_url=None,  # served below, behind the token like every route but /healthz
        docs_url=None,
        redoc_url=None,
    )
    _install_errors(app)
    tokens = [t.encode() for t in deps.tokens]

    async def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if not authorization:
            raise unauthorized("send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("send Authorization: Bearer <token>")
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, t) for t in tokens):
            raise unauthorized("invalid token")

    api = APIRouter(dependencies=[Depends(require_token)])
    urls: dict[str, Any] = {"base_domain": deps.base_domain, "edge_port": deps.edge_port}

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        try:
            if deps.status is not None:
                projector = await deps.status()
            else:
                async with deps.sessions() as session:
                    checkpoint = await read_checkpoint(session, deps.checkpoint)
                last = await deps.events.last_seq()
                projector = {
                    "checkpoint": checkpoint,
                    "stream_last_seq": last,
                    "lag": max(0, last - checkpoint),
                }
        except Exception as exc:
            log.warning("healthz: %s", exc)
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "projector": projector})

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @api.get("/api/projects", tags=["projects"])
    async def list_projects(limit: int | None = None, cursor: str | None = None) -> JSONResponse:
        async with deps.sessions() as session:
            page = await queries.list_projects(session, limit=limit, cursor=cursor, **urls)
        return JSONResponse(page.to_dict())

    @api.get("/api/projects/{project}", tags=["projects"])
    async def get_project(project: str) -> JSONResponse:
        async with deps.sessions() as session:
            record = await queries.get_project(session, project, **urls)
        if record is None:
            raise not_found(f"no project {project!r}")
        return JSONResponse(record)

    @api.get("/api/projects/{project}/environments/{environment}", tags=["projects"])
    async def get_environment(project: str, environment: str) -> JSONResponse:
        async with deps.sessions() as session:
            record = await queries.get_environment(session, project, environment, **urls)
        if record is None:
            raise not_found(f"no environment {environment!r} in project {project!r}")
        return JSONResponse(record)

    @api.get("/api/deployments", tags=["deployments"])
    async def list_deployments(
        project: str | None = None,
        environment: str | None = None,
        status: str | None = None,
        type: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONResponse:
        async with deps.sessions() as session:
            page = await queries.list_deployments(
                session,
                project=project,
                environment=environment,
                status=status,
                type=type,
                branch=branch,
                commit=commit,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
                **urls,
            )
        return JSONResponse(page.to_dict())

    @api.get("/api/deployments/{deployment_id}", tags=["deployments"])
    async def get_deployment(
        deployment_id: str,
        min_seq: Annotated[int | None, Query(ge=0, description="Read your writes.")] = None,
    ) -> JSONResponse:
        _deployment_id(deployment_id)
        if min_seq and not await wait_for_checkpoint(
            deps.sessions, min_seq, wait_s=deps.min_seq_wait_s, name=deps.checkpoint
        ):
            # The projection is not there yet: answer from the log itself.
            recs = await deps.events.load_via_leader(Aggregate.DEPLOYMENT, deployment_id)
            state = fold_recorded(recs, deployment_id)
            if state is None:
                raise not_found(f"no deployment {deployment_id!r}")
            record = deployment_record(state, deps.base_domain, edge_port=deps.edge_port)
            return JSONResponse(record, headers={READ_SOURCE: "event-store"})
        async with deps.sessions() as session:
            found = await queries.get_deployment(session, deployment_id, **urls)
        if found is None:
            raise not_found(f"no deployment {deployment_id!r}")
        return JSONResponse(found, headers={READ_SOURCE: "projection"})

    @api.get("/api/deployments/{deployment_id}/events", tags=["deployments"])
    async def deployment_events(deployment_id: str) -> JSONResponse:
        _deployment_id(deployment_id)
        msgs = await aggregate_messages(deps.events, Aggregate.DEPLOYMENT, deployment_id)
        if not msgs:
            raise not_found(f"no deployment {deployment_id!r}")
        return JSONResponse(event_items(msgs))

    @api.get("/api/deployments/{deployment_id}/state", tags=["deployments"])
    async def deployment_state(
        deployment_id: str,
        as_of: Annotated[str | None, Query(description="ISO 8601 time (server time).")] = None,
        as_of_seq: Annotated[int | None, Query(ge=1, description="Stream sequence.")] = None,
    ) -> JSONResponse:
        _deployment_id(deployment_id)
        if as_of is not None and as_of_seq is not None:
            raise bad_request("give as_of or as_of_seq, not both")
        at = queries.parse_time(as_of, "as_of")
        msgs = await aggregate_messages(deps.events, Aggregate.DEPLOYMENT, deployment_id)
        if not msgs:
            raise not_found(f"no deployment {deployment_id!r}")
        state = fold_messages(msgs, deployment_id, until_seq=as_of_seq, as_of=at)
        if state is None:
            point = as_of if as_of is not None else f"seq {as_of_seq}"
            raise not_found(f"deployment {deployment_id!r} did not exist as of {point}")
        return JSONResponse(deployment_record(state, deps.base_domain, edge_port=deps.edge_port))

    @api.get("/api/deployments/{deployment_id}/logs", tags=["deployments"])
    async def deployment_logs(
        deployment_id: str,
        follow: bool = False,
        last_event_id: Annotated[int | None, Header(ge=0)] = None,
    ) -> Response:
        watch = DeploymentWatch(deps.events, _deployment_id(deployment_id))
        if await watch.refresh() is None:
            raise not_found(f"no deployment {deployment_id!r}")
        if not follow:
            return StreamingResponse(log_lines(deps.logs, deployment_id), media_type=NDJSON)
        stream = sse_log_stream(
            deps.logs, watch, after_seq=last_event_id or 0, check_every_s=deps.log_check_s
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.get("/api/events", tags=["events"])
    async def events(
        aggregate: str | None = None,
        id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_seq: int | None = None,
    ) -> StreamingResponse:
        flt = ExportFilter.parse(aggregate, id, since, until, after_seq)
        return StreamingResponse(export_lines(deps.events, flt), media_type=NDJSON)

    app.include_router(api)
    guarded = [Depends(require_token)]
    if deps.artifacts is not None:
        app.include_router(artifacts_api.router(deps.artifacts, dependencies=guarded))
    if deps.env_logs is not None:
        app.include_router(env_logs_api.router(deps.env_logs, dependencies=guarded))
    return app
