"""GitLab webhooks: the plain `X-Gitlab-Token` or the signed Standard-Webhooks scheme.

Signed deliveries carry `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`:
space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` entries, any one of which may
match (several appear while a key is rotated). Payload shapes follow GitLab's "Webhook events".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from services.gateway.webhooks import (
    Ignored,
    InvalidSignature,
    MalformedPayload,
    MissingSignature,
    PushEvent,
    StaleTimestamp,
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

TOKEN_HEADER = "X-Gitlab-Token"
EVENT_HEADER = "X-Gitlab-Event"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 300.0
WHSEC_PREFIX = "whsec_"
_EVENT_KINDS = {"Push Hook": "push", "Tag Push Hook": "tag_push"}


class InvalidWebhookSecret(ValueError):
    """A `whsec_` secret whose remainder is not base64 (refuse it when the project is saved)."""


def signing_key(secret: str | bytes) -> bytes:
    """`whsec_<base64>` is key material; any other secret is used as its own bytes."""
    raw = secret_bytes(secret)
    if not raw.startswith(WHSEC_PREFIX.encode()):
        return raw
    try:
        key = base64.b64decode(raw[len(WHSEC_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret("a whsec_ secret must be followed by base64") from None
    if not key:
        raise InvalidWebhookSecret("a whsec_ secret must hold key material")
    return key


def sign_gitlab(body: bytes, secret: str | bytes, *, webhook_id: str, timestamp: int) -> str:
    """The `webhook-signature` value GitLab would send (tests and the CLI use it)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_gitlab_request(
    headers: Mapping[str, str],
    body: bytes,
    secret: str | bytes | None,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise a `SignatureError` unless the delivery proves it knows the secret.

    A signed delivery is checked by signature (the stronger proof) even if a token is also sent.
    """
    key = secret_bytes(secret)
    if header(headers, SIGNATURE_HEADER) is not None:
        _verify_signed(headers, body, key, now=time.time() if now is None else now, tol=tolerance)
        return
    token = header(headers, TOKEN_HEADER)
    if token is None:
        raise MissingSignature(
            f"neither {TOKEN_HEADER} nor {SIGNATURE_HEADER} is present; "
            "set the project's webhook secret as the hook's secret or signing token"
        )
    if not hmac.compare_digest(token.encode("utf-8", "replace"), key):
        raise InvalidSignature(f"{TOKEN_HEADER} does not match the project's webhook secret")


def _verify_signed(
    headers: Mapping[str, str], body: bytes, key: bytes, *, now: float, tol: float
) -> None:
    webhook_id = header(headers, ID_HEADER)
    stamp = header(headers, TIMESTAMP_HEADER)
    signatures = header(headers, SIGNATURE_HEADER) or ""
    if not webhook_id or not stamp:
        raise MissingSignature(f"a signed delivery needs {ID_HEADER} and {TIMESTAMP_HEADER}")
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now - timestamp) > tol:
        raise StaleTimestamp(
            f"{TIMESTAMP_HEADER} is {int(now - timestamp)} s away from our clock "
            f"(at most {int(tol)} s allowed)"
        )
    try:
        expected = sign_gitlab(body, key, webhook_id=webhook_id, timestamp=timestamp)
    except InvalidWebhookSecret as exc:
        raise InvalidSignature(f"cannot verify: {exc}") from None
    candidates = [s for s in signatures.split() if s.startswith("v1,")]
    if not candidates:
        raise InvalidSignature(f"{SIGNATURE_HEADER} holds no v1,<base64> signature")
    wanted = expected.encode()
    if not any(hmac.compare_digest(wanted, c.encode("utf-8", "replace")) for c in candidates):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body and the secret")


def gitlab_delivery_id(headers: Mapping[str, str]) -> str | None:
    """Stable across GitLab's retries of one delivery (`Idempotency-Key` since GitLab 17.4)."""
    for name in ("Idempotency-Key", ID_HEADER, "X-Gitlab-Event-UUID"):
        value = header(headers, name)
        if value:
            return value
    return None


def parse_gitlab_event(headers: Mapping[str, str], body: bytes) -> WebhookResult:
    """Classify an authenticated delivery. Call only after `verify_gitlab_request`."""
    event = header(headers, EVENT_HEADER)
    if not event:
        raise MalformedPayload(f"the {EVENT_HEADER} header is missing")
    payload = load_object(body)
    kind = _EVENT_KINDS.get(event)
    if kind is None:
        return Ignored(f"GitLab event '{event}' does not trigger deployments")
    object_kind = payload.get("object_kind")
    if object_kind != kind:
        raise MalformedPayload(f"a {event} must have object_kind '{kind}', not {object_kind!r}")
    return _push(payload, where=kind)


def handle_gitlab(
    headers: Mapping[str, str],
    body: bytes,
    secret: str | bytes | None,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> WebhookResult:
    verify_gitlab_request(headers, body, secret, now=now, tolerance=tolerance)
    return parse_gitlab_event(headers, body)


def _push(payload: dict[str, Any], *, where: str) -> WebhookResult:
    ref = get_str(payload, "ref", where=where)
    after = check_sha(get_str(payload, "after", where=where), where=f"{where}.after")
    split = split_ref(ref)
    if split is None:
        return Ignored(f"ref '{ref}' is neither a branch nor a tag")
    kind, name = split
    checkout = opt_str(payload, "checkout_sha", where=where)
    if is_zero_sha(after) or not checkout:
        return Ignored(f"{kind.value} '{name}' was deleted")
    commit_sha = check_sha(checkout, where=f"{where}.checkout_sha")
    commit = _commit(payload, commit_sha, where=where)
    author = opt_obj(commit, "author", where=f"{where}.commits[]") if commit else None
    project = opt_obj(payload, "project", where=where)
    repository = opt_obj(payload, "repository", where=where)
    return PushEvent(
        kind=kind,
        name=name,
        commit_sha=commit_sha,
        commit_message=opt_str(commit, "message", where=f"{where}.commits[]"),
        commit_author=opt_str(author, "name", where=f"{where}.commits[].author"),
        repo_url=opt_str(project, "git_http_url", where=f"{where}.project")
        or opt_str(repository, "git_http_url", where=f"{where}.repository"),
        deleted=False,
        pusher=opt_str(payload, "user_username", where=where)
        or opt_str(payload, "user_name", where=where),
    )


def _commit(payload: dict[str, Any], sha: str, *, where: str) -> dict[str, Any] | None:
    commits = payload.get("commits")
    if commits is None:
        return None
    if not isinstance(commits, list):
        raise MalformedPayload(f"{where}.commits must be a list")
    for commit in commits:
        if isinstance(commit, dict) and commit.get("id") == sha:
            return commit
    return None
