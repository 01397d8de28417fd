from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI

from libs.events.envelope import utcnow
from libs.events.logs import LogLine
from services.projector.env_log_source import FakeEnvLogSource
from services.projector.env_logs_api import EnvLogsDeps, router
from tests.support.asgi_server import served


def line(text: str) -> bytes:
    return LogLine(ts=utcnow(), job="env", line=text).model_dump_json().encode() + b"\n"


def app_for(logs: FakeEnvLogSource, keepalive_s: float = 15.0) -> FastAPI:
    async def exists(project: str, environment: str) -> bool:
        return (project, environment) == ("shop", "prod")

    app = FastAPI()
    app.include_router(router(EnvLogsDeps(logs, exists, keepalive_s=keepalive_s)))
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_the_environment_log_is_served_as_json_lines() -> None:
    logs = FakeEnvLogSource()
    logs.add("shop_prod", line("cron GET /a -> 200") + line("cron GET /b -> 500"))
    logs.add("shop_staging", line("not this one"))
    async with client(app_for(logs)) as c:
        r = await c.get("/api/projects/shop/environments/prod/logs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(x)["line"] for x in r.text.splitlines()] == [
        "cron GET /a -> 200",
        "cron GET /b -> 500",
    ]


async def test_after_seq_returns_only_later_lines() -> None:
    logs = FakeEnvLogSource()
    first = logs.add("shop_prod", line("one"))
    logs.add("shop_prod", line("two"))
    async with client(app_for(logs)) as c:
        r = await c.get(f"/api/projects/shop/environments/prod/logs?after_seq={first}")
    assert [json.loads(x)["line"] for x in r.text.splitlines()] == ["two"]


async def test_an_unknown_environment_is_a_404_problem() -> None:
    async with client(app_for(FakeEnvLogSource())) as c:
        r = await c.get("/api/projects/shop/environments/nope/logs")
    assert r.status_code == 404
    assert r.json()["detail"] == "no environment 'nope' in project 'shop'"


async def test_a_name_that_is_not_a_dns_label_is_a_400_problem() -> None:
    async with client(app_for(FakeEnvLogSource())) as c:
        r = await c.get("/api/projects/Shop_1/environments/prod/logs")
        neg = await c.get("/api/projects/shop/environments/prod/logs?after_seq=-1")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "not a lower-case DNS label" in r.json()["detail"]
    assert neg.status_code == 422  # FastAPI's own validation (the query API maps it to 400)


async def test_follow_streams_stored_then_live_lines_as_server_sent_events() -> None:
    logs = FakeEnvLogSource()
    logs.add("shop_prod", line("before"))
    async with served(app_for(logs, keepalive_s=0.2)) as base, httpx.AsyncClient() as c:
        url = f"{base}/api/projects/shop/environments/prod/logs?follow=true"
        async with c.stream("GET", url) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            frames: list[str] = []
            lines = aiter(r.aiter_lines())
            while len([f for f in frames if f.startswith("data:")]) < 2:
                frame = await asyncio.wait_for(anext(lines), 5)
                frames.append(frame)
                if frame.startswith("data:") and "before" in frame:
                    logs.add("shop_prod", line("live"))
    data = [json.loads(f.removeprefix("data: "))["line"] for f in frames if f.startswith("data:")]
    assert data == ["before", "live"]
    assert "id: 1" in frames and "event: log" in frames


async def test_a_reconnecting_client_resumes_after_its_last_event_id() -> None:
    logs = FakeEnvLogSource()
    logs.add("shop_prod", line("seen"))
    logs.add("shop_prod", line("missed"))
    async with served(app_for(logs)) as base, httpx.AsyncClient() as c:
        url = f"{base}/api/projects/shop/environments/prod/logs?follow=true"
        async with c.stream("GET", url, headers={"Last-Event-ID": "1"}) as r:
            lines = aiter(r.aiter_lines())
            while not (frame := await asyncio.wait_for(anext(lines), 5)).startswith("data:"):
                pass
    assert json.loads(frame.removeprefix("data: "))["line"] == "missed"


async def test_an_idle_follow_sends_keep_alive_comments() -> None:
    async with served(app_for(FakeEnvLogSource(), keepalive_s=0.1)) as base:
        async with httpx.AsyncClient() as c:
            url = f"{base}/api/projects/shop/environments/prod/logs?follow=true"
            async with c.stream("GET", url) as r:
                lines = aiter(r.aiter_lines())
                seen = [await asyncio.wait_for(anext(lines), 5) for _ in range(4)]
    assert ": keep-alive" in seen
