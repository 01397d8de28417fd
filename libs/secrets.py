"""Secrets (§2): values encrypted with Fernet in KV `secrets`, addressed by (key, revision).

Events carry variable names and KV revisions, never values. A revision is immutable, so a
deployment reads exactly the values of its snapshot however often they change afterwards
(within the bucket's history of 64 revisions per key). Values are never logged: errors name the
key and the revision only.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from libs.events.subjects import secret_key

# The "environment" part of project-wide secrets: `_` never appears in a DNS label.
PROJECT_SCOPE = "_project"
WEBHOOK_SECRET = "WEBHOOK_SECRET"
CRON_SECRET = "CRON_SECRET"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class SecretError(Exception):
    pass


class InvalidSecretKey(SecretError):
    """SLIPWAY_SECRET_KEY is missing or not a Fernet key."""


class InvalidSecretName(SecretError, ValueError):
    """A variable name that cannot be an environment variable (or a KV key)."""


class SecretNotFound(SecretError):
    """No value at that key and revision (deleted, beyond the history, or another key's)."""


class UndecryptableSecret(SecretError):
    """Stored with another SLIPWAY_SECRET_KEY, or tampered with."""


def validate_secret_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise InvalidSecretName(
            f"variable name {name[:40]!r} must be letters, digits and '_', not starting with a "
            "digit, at most 128 characters"
        )
    return name


def load_fernet(key: str | bytes | None) -> Fernet:
    if not key:
        raise InvalidSecretKey(
            "SLIPWAY_SECRET_KEY is not set; generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
        )
    try:
        return Fernet(key)
    except (ValueError, binascii.Error):
        raise InvalidSecretKey("SLIPWAY_SECRET_KEY is not a valid Fernet key") from None


class Secrets(Protocol):
    """Port: encrypted, revisioned secret values."""

    async def put(self, project: str, environment: str, name: str, value: str) -> int:
        """Stores a new value; returns its revision."""
        ...

    async def get(self, project: str, environment: str, name: str, revision: int) -> str:
        """The value stored at exactly that revision; raises SecretNotFound."""
        ...

    async def delete(self, project: str, environment: str, name: str) -> None:
        """Marks the key deleted; earlier revisions stay readable within the history."""
        ...


def _key(project: str, environment: str, name: str) -> str:
    return secret_key(project, environment, validate_secret_name(name))


class SecretStore:
    """The real adapter: nats-py KV bucket `secrets`."""

    def __init__(self, kv: KeyValue, key: str | bytes | None) -> None:
        self._kv = kv
        self._fernet = load_fernet(key)

    async def put(self, project: str, environment: str, name: str, value: str) -> int:
        token = self._fernet.encrypt(value.encode("utf-8"))
        return await self._kv.put(_key(project, environment, name), token)

    async def get(self, project: str, environment: str, name: str, revision: int) -> str:
        key = _key(project, environment, name)
        if revision < 1:
            raise SecretNotFound(f"{key}: revision {revision} does not exist")
        try:
            entry = await self._kv.get(key, revision=revision)
        except KeyNotFoundError:
            raise SecretNotFound(f"{key}: no value at revision {revision}") from None
        if entry.value is None:
            raise SecretNotFound(f"{key}: no value at revision {revision}")
        return self._decrypt(key, revision, entry.value)

    async def delete(self, project: str, environment: str, name: str) -> None:
        await self._kv.delete(_key(project, environment, name))

    def _decrypt(self, key: str, revision: int, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise UndecryptableSecret(
                f"{key}@{revision} cannot be decrypted with this SLIPWAY_SECRET_KEY"
            ) from None


class FakeSecretStore:
    """In-memory twin with the same revision semantics (one counter for the whole bucket)."""

    def __init__(self) -> None:
        self._revision = 0
        # revision -> (key, value or None for a delete marker)
        self._log: dict[int, tuple[str, str | None]] = {}

    async def put(self, project: str, environment: str, name: str, value: str) -> int:
        self._revision += 1
        self._log[self._revision] = (_key(project, environment, name), value)
        return self._revision

    async def get(self, project: str, environment: str, name: str, revision: int) -> str:
        key = _key(project, environment, name)
        stored = self._log.get(revision)
        if stored is None or stored[0] != key or stored[1] is None:
            raise SecretNotFound(f"{key}: no value at revision {revision}")
        return stored[1]

    async def delete(self, project: str, environment: str, name: str) -> None:
        self._revision += 1
        self._log[self._revision] = (_key(project, environment, name), None)

    def values(self) -> Iterator[str]:
        """Every value ever stored (tests check none of them leaks)."""
        return (v for _, v in self._log.values() if v is not None)
