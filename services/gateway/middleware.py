"""One pure ASGI middleware: authentication before anything is read, and unexpected errors turned
into a 500 problem+json that is logged with the deployment id (never a traceback to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.auth import TokenAuth, auth_problem_headers
from services.gateway.http_io import problem_response
from services.gateway.problems import Problem, internal_error_problem

log = logging.getLogger("slipway.gateway")

PUBLIC_PREFIXES = ("/webhooks/", "/healthz", "/openapi.json")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class GatewayMiddleware:
    def __init__(
        self, app: ASGIApp, auth: TokenAuth, public: Iterable[str] = PUBLIC_PREFIXES
    ) -> None:
        self.app = app
        self.auth = auth
        self.public = tuple(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        state = scope.setdefault("state", {})
        if not path.startswith(self.public):
            try:
                state["principal"] = self.auth.authenticate(_header(scope, b"authorization"))
            except Problem as problem:
                response = problem_response(problem, path, auth_problem_headers(problem))
                await response(scope, receive, send)
                return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "unexpected error on %s %s (deployment %s)",
                scope.get("method"),
                path,
                state.get("deployment_id", "-"),
            )
            if started:
                raise
            await problem_response(internal_error_problem(), path)(scope, receive, send)
