"""Bearer tokens (§10): every endpoint but webhooks, `/healthz` and `/openapi.json` needs one."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from services.gateway.problems import Problem, forbidden, unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is calling; `actor` is what events record."""

    token_id: str

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"


class TokenAuth:
    """The admin token of `SLIPWAY_ADMIN_TOKEN` (`slipway up` writes it to `<data dir>/token`)."""

    def __init__(self, admin_token: str | None) -> None:
        self._admin = admin_token.encode() if admin_token else None

    def authenticate(self, authorization: str | None) -> Principal:
        """Raises a 401 problem for a missing or wrong token, 403 when no token can be valid."""
        if not authorization:
            raise unauthorized("missing Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        if self._admin is None:
            raise forbidden(
                "this gateway accepts no API token: SLIPWAY_ADMIN_TOKEN is not configured"
            )
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self._admin):
            raise unauthorized("the token is not valid")
        return Principal("admin")


def auth_problem_headers(problem: Problem) -> dict[str, str] | None:
    return {"WWW-Authenticate": 'Bearer realm="slipway"'} if problem.status == 401 else None
