"""Query API: an environment's log (§10) — cron runs, teardown lines, as JSON lines or SSE.

- `GET /api/projects/{project}/environments/{env}/logs[?after_seq=N]` → `application/x-ndjson`,
  one LogLine JSON object per line (the lines stored so far).
- `…/logs?follow=true` → `text/event-stream`: the stored lines, then live ones, each an
  `event: log` frame with `id: <log stream sequence>` and the line as `data`, and a
  `: keep-alive` comment while idle. A client that reconnects with `Last-Event-ID` resumes after
  it. An environment log has no end: the stream runs until the client leaves.

Include with `api.include_router(env_logs_api.router(deps))`; errors are problem+json (400 a name
that is not a DNS label, 404 unknown environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.params import Depends
from fastapi.responses import Response, StreamingResponse

from libs.events.states import EnvironmentState
from libs.events.subjects import Aggregate, environment_id
from libs.eventstore import Repository
from services.projector.artifacts_api import problem
from services.projector.env_log_source import EnvLogSource, LogMessage

NDJSON = "application/x-ndjson"
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

EnvironmentExists = Callable[[str, str], Awaitable[bool]]


@dataclass
class EnvLogsDeps:
    logs: EnvLogSource
    environment_exists: EnvironmentExists
    keepalive_s: float = 15.0


def environment_checker(repo: Repository) -> EnvironmentExists:
    async def exists(project: str, environment: str) -> bool:
        loaded = await repo.load(
            Aggregate.ENVIRONMENT, environment_id(project, environment), leader=True
        )
        state: EnvironmentState = loaded.state
        return state.config is not None

    return exists


def sse_frames(msg: LogMessage) -> bytes:
    return b"".join(b"id: %d\nevent: log\ndata: %s\n\n" % (msg.seq, ln) for ln in msg.lines())


async def json_lines(logs: EnvLogSource, env_id: str, after_seq: int) -> AsyncIterator[bytes]:
    async for msg in logs.history(env_id, after_seq=after_seq):
        for line in msg.lines():
            yield line + b"\n"


async def sse_stream(
    logs: EnvLogSource, env_id: str, after_seq: int, keepalive_s: float
) -> AsyncIterator[bytes]:
    live = aiter(logs.follow(env_id, after_seq=after_seq))
    pending: asyncio.Future[LogMessage] | None = None
    try:
        yield b": connected\n\n"
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(live))
            done, _ = await asyncio.wait({pending}, timeout=keepalive_s)
            if not done:
                yield b": keep-alive\n\n"
                continue
            msg, pending = pending.result(), None
            yield sse_frames(msg)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(live, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def router(deps: EnvLogsDeps, *, dependencies: Sequence[Depends] = ()) -> APIRouter:
    api = APIRouter(tags=["logs"], dependencies=list(dependencies))

    @api.get(
        "/api/projects/{project}/environments/{environment}/logs",
        summary="The environment log (cron runs, teardown)",
    )
    async def environment_logs(
        request: Request,
        project: str,
        environment: str,
        follow: bool = False,
        after_seq: Annotated[int, Query(ge=0)] = 0,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        for what, name in (("project", project), ("environment", environment)):
            if not DNS_LABEL.match(name):
                return problem(
                    request,
                    400,
                    "malformed-request",
                    "Malformed request",
                    f"{what} {name!r} is not a lower-case DNS label",
                )
        if not await deps.environment_exists(project, environment):
            return problem(
                request,
                404,
                "not-found",
                "Not found",
                f"no environment {environment!r} in project {project!r}",
            )
        env_id = environment_id(project, environment)
        if last_event_id and last_event_id.isdigit():
            after_seq = max(after_seq, int(last_event_id))
        if not follow:
            return StreamingResponse(json_lines(deps.logs, env_id, after_seq), media_type=NDJSON)
        return StreamingResponse(
            sse_stream(deps.logs, env_id, after_seq, deps.keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return api
