"""RFC 9457 problem details of the query API (the gateway has the same shape)."""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:slipway:problem:"


class Problem(Exception):
    """An error with everything an HTTP answer needs."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.type = PROBLEM_TYPE_BASE + slug
        self.title = title
        self.detail = detail
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extensions)
        out.update(type=self.type, title=self.title, status=self.status, detail=self.detail)
        if instance is not None:
            out["instance"] = instance
        return out


def bad_request(detail: str) -> Problem:
    return Problem(400, "malformed-request", "Malformed request", detail)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Missing or invalid credentials", detail)


def internal_error() -> Problem:
    return Problem(
        500, "internal", "Internal Server Error", "an unexpected error occurred; it was logged"
    )
