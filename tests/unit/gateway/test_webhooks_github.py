from __future__ import annotations

import json

import pytest

from services.gateway.webhooks import (
    Ignored,
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    Ping,
    PushEvent,
    RefKind,
    WebhookSecretNotSet,
)
from services.gateway.webhooks_github import (
    github_delivery_id,
    handle_github,
    parse_github_event,
    sign_github,
    verify_github_signature,
)
from tests.unit.gateway.fixtures import webhook_body

SECRET = "It's a Secret to Everybody"


def signed(body: bytes, event: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": sign_github(body, secret),
        "Content-Type": "application/json",
    }


def test_signature_matches_githubs_documented_example() -> None:
    # From GitHub's "Validating webhook deliveries" page.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign_github(b"Hello, World!", SECRET) == expected
    verify_github_signature({"X-Hub-Signature-256": expected}, b"Hello, World!", SECRET)


def test_valid_signature_with_lowercase_header_names_is_accepted() -> None:
    body = webhook_body("github_push.json")
    headers = {k.lower(): v for k, v in signed(body, "push").items()}
    assert isinstance(handle_github(headers, body, SECRET), PushEvent)


def test_missing_signature_header_is_refused() -> None:
    body = webhook_body("github_push.json")
    with pytest.raises(MissingSignature, match="X-Hub-Signature-256"):
        verify_github_signature({"X-GitHub-Event": "push"}, body, SECRET)


def test_empty_signature_header_is_refused_as_missing() -> None:
    with pytest.raises(MissingSignature):
        verify_github_signature({"X-Hub-Signature-256": "  "}, b"{}", SECRET)


def test_signature_made_with_another_secret_is_refused() -> None:
    body = webhook_body("github_push.json")
    headers = signed(body, "push", secret="not the secret")
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_github_signature(headers, body, SECRET)


def test_signature_over_a_modified_body_is_refused() -> None:
    body = webhook_body("github_push.json")
    headers = signed(body, "push")
    tampered = body.replace(b"refs/heads/main", b"refs/heads/evil")
    with pytest.raises(InvalidSignature):
        verify_github_signature(headers, tampered, SECRET)


def test_legacy_sha1_signature_format_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="sha256="):
        verify_github_signature({"X-Hub-Signature-256": "sha1=abc"}, b"{}", SECRET)


def test_non_ascii_signature_header_is_refused_not_crashing() -> None:
    with pytest.raises(InvalidSignature):
        verify_github_signature({"X-Hub-Signature-256": "sha256=é"}, b"{}", SECRET)


def test_signature_check_refuses_when_project_has_no_secret() -> None:
    body = b"{}"
    with pytest.raises(WebhookSecretNotSet):
        verify_github_signature(signed(body, "push"), body, None)
    with pytest.raises(WebhookSecretNotSet):
        verify_github_signature(signed(body, "push"), body, "")


def test_bytes_secret_works_like_its_string() -> None:
    body = webhook_body("github_push.json")
    verify_github_signature(signed(body, "push"), body, SECRET.encode())


def test_branch_push_becomes_a_push_event() -> None:
    body = webhook_body("github_push.json")
    event = handle_github(signed(body, "push"), body, SECRET)
    assert event == PushEvent(
        kind=RefKind.BRANCH,
        name="main",
        commit_sha="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        commit_message="Update README.md\n\nExplain how to run the app locally.",
        commit_author="The Octocat",
        repo_url="https://github.com/octocat/hello-world.git",
        deleted=False,
        pusher="octocat",
    )


def test_push_event_is_frozen() -> None:
    body = webhook_body("github_push.json")
    event = parse_github_event({"X-GitHub-Event": "push"}, body)
    assert isinstance(event, PushEvent)
    with pytest.raises(AttributeError):
        event.name = "other"  # type: ignore[misc]


def test_annotated_tag_push_uses_the_commit_not_the_tag_object() -> None:
    body = webhook_body("github_push_tag.json")
    event = parse_github_event({"X-GitHub-Event": "push"}, body)
    assert isinstance(event, PushEvent)
    assert event.kind is RefKind.TAG
    assert event.name == "v1.2.0"
    assert event.commit_sha == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    assert event.pusher == "hubot"
    assert not event.deleted


def test_branch_deletion_is_a_deleted_push_without_commit() -> None:
    body = webhook_body("github_push_branch_deleted.json")
    event = parse_github_event({"X-GitHub-Event": "push"}, body)
    assert isinstance(event, PushEvent)
    assert event.deleted
    assert event.kind is RefKind.BRANCH
    assert event.name == "feature/login-form"
    assert event.commit_sha is None
    assert event.commit_message is None


def test_all_zero_after_means_deletion_even_without_deleted_flag() -> None:
    payload = json.loads(webhook_body("github_push_branch_deleted.json"))
    del payload["deleted"]
    event = parse_github_event({"X-GitHub-Event": "push"}, json.dumps(payload).encode())
    assert isinstance(event, PushEvent) and event.deleted


def test_push_without_head_commit_falls_back_to_after() -> None:
    payload = json.loads(webhook_body("github_push.json"))
    payload["head_commit"] = None
    event = parse_github_event({"X-GitHub-Event": "push"}, json.dumps(payload).encode())
    assert isinstance(event, PushEvent)
    assert event.commit_sha == payload["after"]
    assert event.commit_message is None


def test_push_of_an_unusual_ref_is_ignored() -> None:
    payload = json.loads(webhook_body("github_push.json"))
    payload["ref"] = "refs/notes/commits"
    event = parse_github_event({"X-GitHub-Event": "push"}, json.dumps(payload).encode())
    assert isinstance(event, Ignored)
    assert "refs/notes/commits" in event.reason


def test_pusher_name_is_used_when_sender_is_absent() -> None:
    payload = json.loads(webhook_body("github_push.json"))
    del payload["sender"]
    event = parse_github_event({"X-GitHub-Event": "push"}, json.dumps(payload).encode())
    assert isinstance(event, PushEvent) and event.pusher == "octocat"


def test_ping_is_recognised() -> None:
    body = webhook_body("github_ping.json")
    assert handle_github(signed(body, "ping"), body, SECRET) == Ping(
        hook_id=478362129, zen="Design for failure."
    )


def test_issues_event_is_ignored_with_its_name() -> None:
    body = webhook_body("github_issues.json")
    result = handle_github(signed(body, "issues"), body, SECRET)
    assert isinstance(result, Ignored)
    assert "issues" in result.reason


def test_missing_event_header_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="X-GitHub-Event"):
        parse_github_event({}, webhook_body("github_push.json"))


def test_signature_is_checked_before_the_json() -> None:
    body = b"{not json"
    with pytest.raises(InvalidSignature):
        handle_github(signed(b"{}", "push"), body, SECRET)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}', "push.ref"),
        (b'{"ref": "refs/heads/main"}', "push.after"),
        (b'{"ref": "refs/heads/main", "after": "xyz"}', "hex commit id"),
        (
            b'{"ref": "refs/heads/main", "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",'
            b' "deleted": "no"}',
            "deleted",
        ),
        (
            b'{"ref": "refs/heads/main", "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",'
            b' "head_commit": "abc"}',
            "head_commit",
        ),
        (
            b'{"ref": "refs/heads/main", "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",'
            b' "head_commit": {"id": "nothex"}}',
            "head_commit.id",
        ),
        (
            b'{"ref": "refs/heads/main", "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",'
            b' "repository": {"clone_url": 5}}',
            "clone_url",
        ),
    ],
)
def test_malformed_push_payloads_are_refused_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message):
        parse_github_event({"X-GitHub-Event": "push"}, body)


def test_delivery_id_comes_from_the_delivery_header() -> None:
    headers = signed(b"{}", "push")
    assert github_delivery_id(headers) == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert github_delivery_id({}) is None
