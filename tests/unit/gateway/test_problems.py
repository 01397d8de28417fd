from __future__ import annotations

import json

import pytest

from libs.archives import NotAnImageArchive, UnreadableArchive, UnsafeArchive
from services.gateway.http_checks import (
    BodyTooLarge,
    MalformedRequest,
    UnsupportedMediaType,
    check_body_size,
    check_content_length,
    check_content_type,
    media_type,
)
from services.gateway.names import InvalidImageReference, InvalidName
from services.gateway.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    internal_error_problem,
    problem_for,
    render_problem,
)
from services.gateway.webhooks import (
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    StaleTimestamp,
    WebhookSecretNotSet,
)
from services.gateway.webhooks_gitlab import InvalidWebhookSecret


def test_problem_renders_the_rfc_9457_members() -> None:
    problem = Problem(409, "Conflict", "deployment already ended", type="urn:x", seq=12)
    assert render_problem(problem, instance="/api/deployments/1/cancel") == {
        "type": "urn:x",
        "title": "Conflict",
        "status": 409,
        "detail": "deployment already ended",
        "instance": "/api/deployments/1/cancel",
        "seq": 12,
    }
    assert json.loads(json.dumps(render_problem(problem)))["status"] == 409


def test_problem_type_defaults_to_about_blank() -> None:
    assert render_problem(Problem(404, "Not Found", "no such project"))["type"] == "about:blank"


def test_extensions_cannot_override_standard_members() -> None:
    problem = Problem(400, "Bad Request", "x")
    problem.extensions.update(status=999, title="spoof")
    body = render_problem(problem)
    assert (body["status"], body["title"]) == (400, "Bad Request")


def test_content_type_is_problem_json() -> None:
    assert PROBLEM_CONTENT_TYPE == "application/problem+json"


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (MissingSignature("no header"), 401, "missing-signature"),
        (InvalidSignature("mismatch"), 401, "invalid-signature"),
        (StaleTimestamp("old"), 401, "stale-timestamp"),
        (WebhookSecretNotSet("unset"), 401, "webhook-secret-not-set"),
        (MalformedPayload("not json"), 400, "malformed-payload"),
        (MalformedRequest("bad length"), 400, "malformed-request"),
        (BodyTooLarge("big"), 413, "too-large"),
        (UnsupportedMediaType("form"), 415, "unsupported-media-type"),
        (UnsafeArchive("../x"), 422, "unsafe-archive"),
        (UnreadableArchive("corrupt"), 422, "unreadable-archive"),
        (NotAnImageArchive("no manifest"), 422, "not-an-image-archive"),
        (InvalidImageReference("Nginx"), 422, "invalid-image-reference"),
        (InvalidName("MyApp"), 422, "invalid-name"),
        (InvalidWebhookSecret("whsec_"), 422, "invalid-webhook-secret"),
    ],
)
def test_typed_errors_map_to_their_status(error: Exception, status: int, slug: str) -> None:
    problem = problem_for(error)
    assert problem is not None
    assert problem.status == status
    assert problem.type == f"urn:slipway:problem:{slug}"
    assert problem.detail == str(error)
    assert problem.title


def test_subclass_of_a_mapped_error_uses_the_nearest_mapping() -> None:
    class VeryStale(StaleTimestamp):
        pass

    problem = problem_for(VeryStale("ancient"))
    assert problem is not None and problem.type.endswith("stale-timestamp")


def test_a_problem_maps_to_itself() -> None:
    problem = Problem(403, "Forbidden", "read-only token")
    assert problem_for(problem) is problem


def test_unknown_errors_are_not_mapped_and_leak_nothing() -> None:
    assert problem_for(RuntimeError("db password is hunter2")) is None
    body = render_problem(internal_error_problem())
    assert body["status"] == 500 and "hunter2" not in json.dumps(body)


def test_declared_length_over_the_limit_is_too_large() -> None:
    check_content_length("1024", 1024)
    check_content_length(None, 1024)
    with pytest.raises(BodyTooLarge, match="1024 bytes"):
        check_content_length("1025", 1024)
    with pytest.raises(BodyTooLarge):
        check_body_size(2048, 1024)


@pytest.mark.parametrize("value", ["ten", "-1", ""])
def test_nonsense_content_length_is_malformed(value: str) -> None:
    with pytest.raises(MalformedRequest):
        check_content_length(value, 1024)


def test_content_type_parameters_and_case_are_ignored() -> None:
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert check_content_type("application/json; charset=utf-8", {"application/json"}) == (
        "application/json"
    )


def test_form_encoded_webhook_is_refused_with_a_hint() -> None:
    with pytest.raises(UnsupportedMediaType, match="set the webhook's content type"):
        check_content_type(
            "application/x-www-form-urlencoded",
            {"application/json"},
            hint="In GitHub, set the webhook's content type to application/json.",
        )


def test_missing_content_type_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="missing"):
        check_content_type(None, {"application/json"})
