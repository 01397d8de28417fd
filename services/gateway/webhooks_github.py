"""GitHub webhooks: `X-Hub-Signature-256` over the raw body, then `push` / `ping` / the rest.

Payload shapes follow GitHub's "Webhook events and payloads" reference. The body must be sent
with content type `application/json` (the form-encoded variant is refused before we get here).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from services.gateway.webhooks import (
    Ignored,
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    Ping,
    PushEvent,
    WebhookResult,
    check_sha,
    get_str,
    header,
    is_zero_sha,
    load_object,
    opt_obj,
    opt_str,
    secret_bytes,
    split_ref,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_PREFIX = "sha256="


def sign_github(body: bytes, secret: str | bytes) -> str:
    """The header value GitHub would send for `body` (also used by tests and the CLI)."""
    digest = hmac.new(secret_bytes(secret), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_github_signature(
    headers: Mapping[str, str], body: bytes, secret: str | bytes | None
) -> None:
    """Raise a `SignatureError` unless `X-Hub-Signature-256` is the HMAC of the raw body."""
    key = secret_bytes(secret)
    given = header(headers, SIGNATURE_HEADER)
    if given is None or not given.strip():
        raise MissingSignature(f"the {SIGNATURE_HEADER} header is missing")
    given = given.strip()
    if not given.startswith(_PREFIX):
        raise InvalidSignature(f"{SIGNATURE_HEADER} must look like sha256=<hex digest>")
    expected = sign_github(body, key)
    if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body and the secret")


def github_delivery_id(headers: Mapping[str, str]) -> str | None:
    return header(headers, DELIVERY_HEADER)


def parse_github_event(headers: Mapping[str, str], body: bytes) -> WebhookResult:
    """Classify an authenticated delivery. Call only after `verify_github_signature`."""
    event = header(headers, EVENT_HEADER)
    if not event:
        raise MalformedPayload(f"the {EVENT_HEADER} header is missing")
    payload = load_object(body)
    if event == "ping":
        return _ping(payload)
    if event == "push":
        return _push(payload)
    return Ignored(f"GitHub event '{event}' does not trigger deployments")


def handle_github(
    headers: Mapping[str, str], body: bytes, secret: str | bytes | None
) -> WebhookResult:
    """Signature first, then JSON and the event — the order of §10."""
    verify_github_signature(headers, body, secret)
    return parse_github_event(headers, body)


def _ping(payload: dict[str, Any]) -> Ping:
    hook_id = payload.get("hook_id")
    return Ping(
        hook_id=hook_id if isinstance(hook_id, int) else None,
        zen=opt_str(payload, "zen", where="ping"),
    )


def _push(payload: dict[str, Any]) -> WebhookResult:
    ref = get_str(payload, "ref", where="push")
    after = check_sha(get_str(payload, "after", where="push"), where="push.after")
    split = split_ref(ref)
    if split is None:
        return Ignored(f"ref '{ref}' is neither a branch nor a tag")
    kind, name = split
    deleted_flag = payload.get("deleted", False)
    if not isinstance(deleted_flag, bool):
        raise MalformedPayload("push.deleted must be a boolean")
    deleted = deleted_flag or is_zero_sha(after)

    head = opt_obj(payload, "head_commit", where="push")
    commit_sha: str | None = None
    if not deleted:
        # For an annotated tag `after` is the tag object; head_commit.id is the commit itself.
        head_id = opt_str(head, "id", where="push.head_commit")
        commit_sha = check_sha(head_id, where="push.head_commit.id") if head_id else after
    author = opt_obj(head, "author", where="push.head_commit") if head else None
    repository = opt_obj(payload, "repository", where="push")
    sender = opt_obj(payload, "sender", where="push")
    pusher = opt_obj(payload, "pusher", where="push")
    return PushEvent(
        kind=kind,
        name=name,
        commit_sha=commit_sha,
        commit_message=None if deleted else opt_str(head, "message", where="push.head_commit"),
        commit_author=None if deleted else opt_str(author, "name", where="head_commit.author"),
        repo_url=opt_str(repository, "clone_url", where="push.repository"),
        deleted=deleted,
        pusher=opt_str(sender, "login", where="push.sender")
        or opt_str(pusher, "name", where="push.pusher"),
    )
