"""The environment-log endpoint on the real log stream: JSON lines and live SSE."""

from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.envelope import new_event
from libs.events.subjects import Aggregate, environment_id
from libs.eventstore import Repository
from services.postdeploy.adapters.env_log import NatsEnvLog
from services.projector.env_log_source import JetStreamEnvLogSource
from services.projector.env_logs_api import EnvLogsDeps, environment_checker, router
from tests.support.asgi_server import served
from tests.support.names import unique


async def configured(repo: Repository, project: str, env: str) -> str:
    env_id = environment_id(project, env)
    loaded = await repo.load(Aggregate.ENVIRONMENT, env_id)
    data = ev.EnvironmentConfigured(project=project, environment=env)
    e = new_event(
        data, aggregate=Aggregate.ENVIRONMENT, aggregate_id=env_id, causation_id="c", actor="t"
    )
    await repo.append(loaded, [e])
    return env_id


def app(nc: NATS, repo: Repository) -> FastAPI:
    api = FastAPI()
    deps = EnvLogsDeps(JetStreamEnvLogSource(nc), environment_checker(repo), keepalive_s=0.5)
    api.include_router(router(deps))
    return api


async def test_the_environment_log_reads_back_what_post_deploy_wrote(
    pnc: NATS, prepo: Repository
) -> None:
    project = unique("p")
    env_id = await configured(prepo, project, "prod")
    log = NatsEnvLog(pnc.jetstream())
    await log.write(env_id, "cron GET /a [* * * * *] -> 200 in 0.010s")
    await log.write(environment_id(project, "other"), "elsewhere")
    await log.write(env_id, "cron GET /a [* * * * *] -> 500 in 0.020s", "error")
    transport = httpx.ASGITransport(app=app(pnc, prepo))
    async with httpx.AsyncClient(transport=transport, base_url="http://q") as c:
        r = await c.get(f"/api/projects/{project}/environments/prod/logs")
        missing = await c.get(f"/api/projects/{project}/environments/nope/logs")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [(x["line"].split("-> ")[1], x["level"], x["job"]) for x in lines] == [
        ("200 in 0.010s", "info", "env"),
        ("500 in 0.020s", "error", "env"),
    ]
    assert missing.status_code == 404


async def test_follow_streams_lines_written_after_connecting(pnc: NATS, prepo: Repository) -> None:
    project = unique("p")
    env_id = await configured(prepo, project, "prod")
    log = NatsEnvLog(pnc.jetstream())
    await log.write(env_id, "first")
    async with served(app(pnc, prepo)) as base, httpx.AsyncClient() as c:
        url = f"{base}/api/projects/{project}/environments/prod/logs?follow=true"
        async with c.stream("GET", url) as r:
            data: list[str] = []
            lines = aiter(r.aiter_lines())
            while len(data) < 2:
                frame = await asyncio.wait_for(anext(lines), 10)
                if frame.startswith("data: "):
                    data.append(json.loads(frame[6:])["line"])
                    if len(data) == 1:
                        await log.write(env_id, "second")
    assert data == ["first", "second"]
