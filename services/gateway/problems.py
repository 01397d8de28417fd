"""RFC 9457 problem details: one exception type, one renderer, one table from our errors.

FastAPI-independent: the handler layer registers one exception handler that calls
`problem_for` and returns `render_problem(...)` with `PROBLEM_CONTENT_TYPE`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from libs.archives.rules import NotAnImageArchive, UnreadableArchive, UnsafeArchive
from libs.secrets import InvalidSecretName
from services.gateway.http_checks import BodyTooLarge, MalformedRequest, UnsupportedMediaType
from services.gateway.names import InvalidImageReference, InvalidName
from services.gateway.webhooks import (
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    SignatureError,
    StaleTimestamp,
    WebhookSecretNotSet,
)
from services.gateway.webhooks_gitlab import InvalidWebhookSecret

PROBLEM_CONTENT_TYPE = "application/problem+json"
# A URN: stable and unique without pretending a web page exists behind it.
PROBLEM_TYPE_BASE = "urn:slipway:problem:"


class Problem(Exception):
    """An error with everything an HTTP answer needs."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.extensions = extensions

    def __repr__(self) -> str:
        return f"Problem({self.status}, {self.title!r}, {self.detail!r}, type={self.type!r})"


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_BASE + slug


def render_problem(problem: Problem, *, instance: str | None = None) -> dict[str, Any]:
    """The JSON body; extension members never override the standard ones."""
    body: dict[str, Any] = dict(problem.extensions)
    body.update(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
    )
    if instance is not None:
        body["instance"] = instance
    return body


# Most specific first: the first class in an exception's MRO that is listed wins.
_TABLE: dict[type[BaseException], tuple[int, str, str]] = {
    MissingSignature: (401, "missing-signature", "Webhook signature missing"),
    StaleTimestamp: (401, "stale-timestamp", "Webhook timestamp outside the allowed window"),
    WebhookSecretNotSet: (401, "webhook-secret-not-set", "Webhook secret not configured"),
    InvalidSignature: (401, "invalid-signature", "Webhook signature does not match"),
    SignatureError: (401, "invalid-signature", "Webhook signature rejected"),
    MalformedPayload: (400, "malformed-payload", "Malformed request body"),
    MalformedRequest: (400, "malformed-request", "Malformed request"),
    BodyTooLarge: (413, "too-large", "Request body too large"),
    UnsupportedMediaType: (415, "unsupported-media-type", "Unsupported content type"),
    UnsafeArchive: (422, "unsafe-archive", "Unsafe archive"),
    UnreadableArchive: (422, "unreadable-archive", "Unreadable archive"),
    NotAnImageArchive: (422, "not-an-image-archive", "Not a docker save archive"),
    InvalidImageReference: (422, "invalid-image-reference", "Invalid image reference"),
    InvalidName: (422, "invalid-name", "Invalid name"),
    InvalidWebhookSecret: (422, "invalid-webhook-secret", "Invalid webhook secret"),
    InvalidSecretName: (422, "invalid-variable-name", "Invalid variable name"),
}


def problem_for(exc: BaseException) -> Problem | None:
    """The problem for an error a user can cause; None for ours (log it, answer 500)."""
    if isinstance(exc, Problem):
        return exc
    for cls in type(exc).__mro__:
        entry = _TABLE.get(cls)
        if entry is not None:
            status, slug, title = entry
            return Problem(status, title, _detail(exc), type=problem_type(slug))
    return None


def not_found(detail: str) -> Problem:
    return Problem(404, "Not found", detail, type=problem_type("not-found"))


def conflict(detail: str, **extensions: Any) -> Problem:
    """An illegal state transition, with the rule's reason as the detail."""
    return Problem(409, "Conflict", detail, type=problem_type("conflict"), **extensions)


def unprocessable(detail: str, **extensions: Any) -> Problem:
    return Problem(422, "Invalid content", detail, type=problem_type("invalid"), **extensions)


def malformed(detail: str, **extensions: Any) -> Problem:
    return Problem(
        400, "Malformed request", detail, type=problem_type("malformed-request"), **extensions
    )


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, type=problem_type("unauthorized"))


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, type=problem_type("forbidden"))


def internal_error_problem() -> Problem:
    """What a client sees for an error we caused: nothing internal leaks."""
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    return Problem(status.value, status.phrase, "an unexpected error occurred; it was logged")


def _detail(exc: BaseException) -> str:
    for attr in ("detail", "reason"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(exc) or type(exc).__name__
