from __future__ import annotations

import base64
import json

import pytest

from services.gateway.webhooks import (
    Ignored,
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    PushEvent,
    RefKind,
    StaleTimestamp,
    WebhookSecretNotSet,
)
from services.gateway.webhooks_gitlab import (
    InvalidWebhookSecret,
    gitlab_delivery_id,
    handle_gitlab,
    parse_gitlab_event,
    sign_gitlab,
    signing_key,
    verify_gitlab_request,
)
from tests.unit.gateway.fixtures import webhook_body

TOKEN = "gl-hook-token-7f3a"
KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
NOW = 1_715_786_421
WEBHOOK_ID = "7d3b2b1e-2f4a-4a55-9c0b-3c1f0e6a9d12"


def token_headers(event: str, token: str = TOKEN) -> dict[str, str]:
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": token}


def signed_headers(
    body: bytes, event: str, secret: str = WHSEC, *, timestamp: int = NOW
) -> dict[str, str]:
    return {
        "X-Gitlab-Event": event,
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_gitlab(body, secret, webhook_id=WEBHOOK_ID, timestamp=timestamp),
    }


def test_matching_token_is_accepted() -> None:
    verify_gitlab_request(token_headers("Push Hook"), b"{}", TOKEN, now=NOW)


def test_wrong_token_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="X-Gitlab-Token"):
        verify_gitlab_request(token_headers("Push Hook", "guess"), b"{}", TOKEN, now=NOW)


def test_delivery_without_token_or_signature_is_refused() -> None:
    with pytest.raises(MissingSignature, match="X-Gitlab-Token"):
        verify_gitlab_request({"X-Gitlab-Event": "Push Hook"}, b"{}", TOKEN, now=NOW)


def test_project_without_secret_refuses_every_delivery() -> None:
    with pytest.raises(WebhookSecretNotSet):
        verify_gitlab_request(token_headers("Push Hook"), b"{}", None, now=NOW)


def test_whsec_token_is_compared_as_the_whole_string() -> None:
    verify_gitlab_request(token_headers("Push Hook", WHSEC), b"{}", WHSEC, now=NOW)


def test_signed_delivery_with_whsec_key_is_accepted() -> None:
    body = webhook_body("gitlab_push.json")
    event = handle_gitlab(signed_headers(body, "Push Hook"), body, WHSEC, now=NOW)
    assert isinstance(event, PushEvent)


def test_signature_follows_the_standard_webhooks_construction() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    mac = hmac.new(KEY, f"{WEBHOOK_ID}.{NOW}.".encode() + body, hashlib.sha256).digest()
    assert sign_gitlab(body, WHSEC, webhook_id=WEBHOOK_ID, timestamp=NOW) == (
        "v1," + base64.b64encode(mac).decode()
    )


def test_plain_secret_bytes_are_the_signing_key() -> None:
    body = webhook_body("gitlab_push.json")
    headers = signed_headers(body, "Push Hook", secret="plain-secret")
    verify_gitlab_request(headers, body, "plain-secret", now=NOW)
    assert signing_key("plain-secret") == b"plain-secret"
    assert signing_key(WHSEC) == KEY


def test_signature_made_with_another_key_is_refused() -> None:
    body = webhook_body("gitlab_push.json")
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_gitlab_request(signed_headers(body, "Push Hook", other), body, WHSEC, now=NOW)


def test_signature_over_a_modified_body_is_refused() -> None:
    body = webhook_body("gitlab_push.json")
    headers = signed_headers(body, "Push Hook")
    with pytest.raises(InvalidSignature):
        verify_gitlab_request(headers, body + b" ", WHSEC, now=NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    body = webhook_body("gitlab_push.json")
    headers = signed_headers(body, "Push Hook")
    wrong = "v1," + base64.b64encode(b"\0" * 32).decode()
    headers["webhook-signature"] = f"v2,abc {wrong} {headers['webhook-signature']}"
    verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_signature_header_without_v1_entry_is_refused() -> None:
    body = b"{}"
    headers = signed_headers(body, "Push Hook")
    headers["webhook-signature"] = "v1a,abc"
    with pytest.raises(InvalidSignature, match="no v1"):
        verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_stale_timestamp_is_refused_even_with_a_valid_signature() -> None:
    body = webhook_body("gitlab_push.json")
    headers = signed_headers(body, "Push Hook", timestamp=NOW - 301)
    with pytest.raises(StaleTimestamp, match="301 s"):
        verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_timestamp_too_far_in_the_future_is_refused() -> None:
    body = b"{}"
    headers = signed_headers(body, "Push Hook", timestamp=NOW + 600)
    with pytest.raises(StaleTimestamp):
        verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_timestamp_tolerance_is_a_parameter() -> None:
    body = b"{}"
    headers = signed_headers(body, "Push Hook", timestamp=NOW - 200)
    verify_gitlab_request(headers, body, WHSEC, now=NOW)
    with pytest.raises(StaleTimestamp):
        verify_gitlab_request(headers, body, WHSEC, now=NOW, tolerance=60)


def test_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    body = b"{}"
    headers = signed_headers(body, "Push Hook", timestamp=NOW - 300)
    verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_non_numeric_timestamp_is_refused() -> None:
    headers = signed_headers(b"{}", "Push Hook")
    headers["webhook-timestamp"] = "yesterday"
    with pytest.raises(InvalidSignature, match="Unix seconds"):
        verify_gitlab_request(headers, b"{}", WHSEC, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp"])
def test_signed_delivery_missing_id_or_timestamp_is_refused(missing: str) -> None:
    headers = signed_headers(b"{}", "Push Hook")
    del headers[missing]
    with pytest.raises(MissingSignature, match=missing):
        verify_gitlab_request(headers, b"{}", WHSEC, now=NOW)


def test_signature_is_preferred_over_a_token_when_both_are_sent() -> None:
    body = b"{}"
    headers = signed_headers(body, "Push Hook")
    headers["webhook-signature"] = "v1," + base64.b64encode(b"\0" * 32).decode()
    headers["X-Gitlab-Token"] = WHSEC
    with pytest.raises(InvalidSignature):
        verify_gitlab_request(headers, body, WHSEC, now=NOW)


def test_whsec_secret_that_is_not_base64_is_rejected() -> None:
    with pytest.raises(InvalidWebhookSecret):
        signing_key("whsec_not base64!")
    with pytest.raises(InvalidWebhookSecret):
        signing_key("whsec_")
    headers = signed_headers(b"{}", "Push Hook", secret="irrelevant")
    with pytest.raises(InvalidSignature, match="cannot verify"):
        verify_gitlab_request(headers, b"{}", "whsec_@@@", now=NOW)


def test_branch_push_uses_checkout_sha_and_its_commit() -> None:
    body = webhook_body("gitlab_push.json")
    event = handle_gitlab(token_headers("Push Hook"), body, TOKEN, now=NOW)
    assert event == PushEvent(
        kind=RefKind.BRANCH,
        name="master",
        commit_sha="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        commit_message="fixed readme",
        commit_author="GitLab dev user",
        repo_url="http://example.com/mike/diaspora.git",
        deleted=False,
        pusher="jsmith",
    )


def test_tag_push_takes_the_commit_from_checkout_sha() -> None:
    body = webhook_body("gitlab_tag_push.json")
    event = handle_gitlab(token_headers("Tag Push Hook"), body, TOKEN, now=NOW)
    assert isinstance(event, PushEvent)
    assert event.kind is RefKind.TAG
    assert event.name == "v1.0.0"
    assert event.commit_sha == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert event.commit_message is None
    assert event.repo_url == "http://example.com/jsmith/example.git"


@pytest.mark.parametrize(
    ("fixture", "event", "what"),
    [
        ("gitlab_push_branch_deleted.json", "Push Hook", "branch 'feature/old-login'"),
        ("gitlab_tag_push_deleted.json", "Tag Push Hook", "tag 'v1.0.0'"),
    ],
)
def test_deletions_are_ignored(fixture: str, event: str, what: str) -> None:
    result = parse_gitlab_event({"X-Gitlab-Event": event}, webhook_body(fixture))
    assert isinstance(result, Ignored)
    assert what in result.reason and "deleted" in result.reason


def test_null_checkout_sha_alone_counts_as_deletion() -> None:
    payload = json.loads(webhook_body("gitlab_push.json"))
    payload["checkout_sha"] = None
    result = parse_gitlab_event({"X-Gitlab-Event": "Push Hook"}, json.dumps(payload).encode())
    assert isinstance(result, Ignored)


def test_issue_hook_is_ignored() -> None:
    result = parse_gitlab_event({"X-Gitlab-Event": "Issue Hook"}, webhook_body("gitlab_issue.json"))
    assert isinstance(result, Ignored)
    assert "Issue Hook" in result.reason


def test_missing_event_header_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="X-Gitlab-Event"):
        parse_gitlab_event({}, webhook_body("gitlab_push.json"))


def test_event_header_that_contradicts_object_kind_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="object_kind"):
        parse_gitlab_event({"X-Gitlab-Event": "Tag Push Hook"}, webhook_body("gitlab_push.json"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'"push"', "JSON object"),
        (b'{"object_kind": "push", "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}', "ref"),
        (b'{"object_kind": "push", "ref": "refs/heads/x", "after": "zz"}', "hex commit id"),
        (
            b'{"object_kind": "push", "ref": "refs/heads/x",'
            b' "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "checkout_sha": "nope"}',
            "checkout_sha",
        ),
        (
            b'{"object_kind": "push", "ref": "refs/heads/x",'
            b' "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",'
            b' "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "commits": {}}',
            "commits",
        ),
    ],
)
def test_malformed_push_payloads_are_refused_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message):
        parse_gitlab_event({"X-Gitlab-Event": "Push Hook"}, body)


def test_signature_is_checked_before_the_json() -> None:
    headers = signed_headers(b"{}", "Push Hook")
    with pytest.raises(InvalidSignature):
        handle_gitlab(headers, b"not json", WHSEC, now=NOW)


def test_delivery_id_prefers_the_idempotency_key() -> None:
    assert gitlab_delivery_id({"Idempotency-Key": "k1", "X-Gitlab-Event-UUID": "u1"}) == "k1"
    assert gitlab_delivery_id({"webhook-id": "w1", "X-Gitlab-Event-UUID": "u1"}) == "w1"
    assert gitlab_delivery_id({"x-gitlab-event-uuid": "u1"}) == "u1"
    assert gitlab_delivery_id({}) is None
