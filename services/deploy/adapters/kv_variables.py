"""`KvVariables`: variable values from KV `secrets`, Fernet-encrypted, read at exact revisions."""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from libs.events.subjects import secret_key
from services.deploy.variables import CRON_SECRET, VariableError, missing, no_cron_secret


class KvVariables:
    """Implements `Variables` on the `secrets` bucket; key `<project>.<env>.<NAME>`."""

    def __init__(self, kv: KeyValue, secret_key_value: str | bytes | None) -> None:
        self._kv = kv
        self._key = secret_key_value
        self._fernet: Fernet | None = None

    def _cipher(self) -> Fernet:
        # Checked on use, not at start: a deploy service without secrets still runs image jobs.
        if self._fernet is None:
            if not self._key:
                raise VariableError("SLIPWAY_SECRET_KEY is not set: variables cannot be decrypted")
            try:
                self._fernet = Fernet(self._key)
            except (ValueError, binascii.Error):
                raise VariableError("SLIPWAY_SECRET_KEY is not a valid Fernet key") from None
        return self._fernet

    def _decrypt(self, what: str, token: bytes) -> str:
        try:
            return self._cipher().decrypt(token).decode("utf-8")
        except InvalidToken:
            raise VariableError(
                f"{what} cannot be decrypted with this SLIPWAY_SECRET_KEY"
            ) from None

    async def _at(self, project: str, environment: str, name: str, revision: int) -> str:
        key = _key(project, environment, name)
        try:
            entry = await self._kv.get(key, revision=revision) if revision > 0 else None
        except NotFoundError:  # also a revision of another key, or a delete marker
            entry = None
        if entry is None or entry.value is None:
            raise VariableError(missing(project, environment, name, revision))
        return self._decrypt(f"variable {name} at revision {revision}", entry.value)

    async def resolve(
        self, project: str, environment: str, names_to_revisions: Mapping[str, int]
    ) -> dict[str, str]:
        names = list(names_to_revisions)
        values = await asyncio.gather(
            *(self._at(project, environment, n, names_to_revisions[n]) for n in names)
        )
        return dict(zip(names, values, strict=True))

    async def cron_secret(self, project: str, environment: str) -> str:
        try:
            entry = await self._kv.get(_key(project, environment, CRON_SECRET))
        except NotFoundError:
            raise VariableError(no_cron_secret(project, environment)) from None
        if entry.value is None:
            raise VariableError(no_cron_secret(project, environment))
        return self._decrypt(f"{CRON_SECRET} of {project}/{environment}", entry.value)


def _key(project: str, environment: str, name: str) -> str:
    try:
        return secret_key(project, environment, name)
    except ValueError:
        raise VariableError(f"{name!r} is not a valid variable name") from None
