"""A fake gateway + query API behind httpx.MockTransport, and a CLI runner wired to it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from libs.settings import Settings
from slipway.cli import app
from slipway.client import Cli

GATEWAY = "http://gw.test"
API = "http://api.test"
TOKEN = "test-token"

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, detail: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "Problem", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def sse(*frames: tuple[str, Any], end: str | None = "completed") -> httpx.Response:
    """An SSE answer: `log` frames (JSON data) with ids, keep-alives, then `end`."""
    chunks = [": keep-alive\n\n"]
    for i, (event, data) in enumerate(frames, 1):
        chunks.append(f"id: {i}\nevent: {event}\ndata: {json.dumps(data)}\n\n")
    if end is not None:
        chunks.append(f"event: end\ndata: {json.dumps({'status': end})}\n\n")
    return httpx.Response(
        200, content="".join(chunks).encode(), headers={"content-type": "text/event-stream"}
    )


def jsonl(*objs: Any) -> httpx.Response:
    body = "".join(json.dumps(o) + "\n" for o in objs)
    return httpx.Response(
        200, content=body.encode(), headers={"content-type": "application/x-ndjson"}
    )


@dataclass
class FakeServer:
    """Routes (method, host, path) to answers; a list of answers is served in turn, the last
    one repeating. Every request is kept, with its body read."""

    routes: dict[tuple[str, str, str], list[httpx.Response | Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, url: str, *answers: httpx.Response | Handler) -> FakeServer:
        parsed = httpx.URL(url)
        self.routes[(method, parsed.host, parsed.path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        key = (request.method, request.url.host, request.url.path)
        answers = self.routes.get(key)
        if not answers:
            return problem(404, f"no route {request.method} {request.url.path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def body(self, method: str, path: str) -> Any:
        return json.loads(self.sent(method, path)[-1].content)


def make_cli(handler: Handler, tmp_path: Path, *, token: str | None = TOKEN, **extra: Any) -> Cli:
    transport = httpx.MockTransport(handler)
    settings = Settings(admin_token=token, data_dir=tmp_path / "data")
    return Cli(
        gateway_url=GATEWAY,
        api_url=API,
        settings=settings,
        transport=transport,
        async_transport=transport,
        poll_s=0.01,
        **extra,
    )


def invoke(cli: Cli, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), obj=cli, env=env)


def stderr_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]
