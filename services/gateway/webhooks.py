"""What every webhook parser returns, the errors it raises, and the JSON helpers they share.

A parser is pure: it gets the raw body, the request headers and the project's secret, and either
returns a `WebhookResult` or raises a `WebhookError`. The handler maps errors to problem+json
(`problems.py`) and turns a `PushEvent` into a `DeploymentRequested`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ZERO_SHA_RE = re.compile(r"^0+$")
# Git object names: SHA-1 (40 hex) or SHA-256 (64 hex) repositories.
SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


@dataclass(frozen=True)
class PushEvent:
    """A push of a branch or a tag, reduced to what a deployment needs."""

    kind: RefKind
    name: str
    commit_sha: str | None
    """The commit now at the ref (a tag's commit, never the tag object); None for a deletion."""
    commit_message: str | None
    commit_author: str | None
    repo_url: str | None
    deleted: bool
    pusher: str | None


@dataclass(frozen=True)
class Ping:
    """GitHub's check that a newly configured hook reaches us."""

    hook_id: int | None
    zen: str | None


@dataclass(frozen=True)
class Ignored:
    """A well-formed, authentic delivery that never starts a deployment (answered 202)."""

    reason: str


WebhookResult = PushEvent | Ping | Ignored


class WebhookError(Exception):
    """Base of every error a webhook delivery can cause; `detail` is safe to show the sender."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SignatureError(WebhookError):
    """The delivery cannot be proven to come from the configured hook (401)."""


class MissingSignature(SignatureError):
    pass


class InvalidSignature(SignatureError):
    pass


class StaleTimestamp(SignatureError):
    """A signed delivery outside the tolerance window: possibly a replay."""


class WebhookSecretNotSet(SignatureError):
    pass


class MalformedPayload(WebhookError):
    """The body is not JSON or not the documented shape of its event (400)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts and Starlette's `Headers` alike."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def secret_bytes(secret: str | bytes | None) -> bytes:
    if not secret:
        raise WebhookSecretNotSet(
            "the project has no webhook secret; set one to receive signed webhooks"
        )
    return secret.encode() if isinstance(secret, str) else secret


def load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object")
    return payload


def get_str(obj: Mapping[str, Any], key: str, *, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{where}.{key} must be a non-empty string")
    return value


def opt_str(obj: Mapping[str, Any] | None, key: str, *, where: str) -> str | None:
    if obj is None:
        return None
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{where}.{key} must be a string")
    return value


def opt_obj(obj: Mapping[str, Any], key: str, *, where: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where}.{key} must be an object")
    return value


def check_sha(value: str, *, where: str) -> str:
    if not SHA_RE.match(value):
        raise MalformedPayload(f"{where} must be a 40 or 64 character hex commit id")
    return value


def is_zero_sha(value: str | None) -> bool:
    return value is not None and ZERO_SHA_RE.match(value) is not None


def split_ref(ref: str) -> tuple[RefKind, str] | None:
    """`refs/heads/x` → branch x, `refs/tags/v1` → tag v1, anything else → None."""
    for prefix, kind in ((BRANCH_PREFIX, RefKind.BRANCH), (TAG_PREFIX, RefKind.TAG)):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix) :]
    return None
