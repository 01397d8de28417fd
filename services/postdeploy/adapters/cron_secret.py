"""`KvCronSecrets`: reads the current CRON_SECRET of an environment from KV `secrets`.

Deliberately minimal (the gateway owns writing secrets): the latest value of
`<project>.<env>.CRON_SECRET`, Fernet-decrypted with SLIPWAY_SECRET_KEY. Values are never logged.
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet, InvalidToken
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from libs.events.subjects import secret_key

CRON_SECRET = "CRON_SECRET"


class CronSecretUnreadable(Exception):
    """No SLIPWAY_SECRET_KEY, or the value was encrypted with another key."""


class KvCronSecrets:
    def __init__(self, kv: KeyValue, fernet_key: str | bytes | None) -> None:
        self.kv = kv
        self._fernet: Fernet | None = None
        self._why: str | None = None
        if not fernet_key:
            self._why = "SLIPWAY_SECRET_KEY is not set, so CRON_SECRET cannot be read"
        else:
            try:
                self._fernet = Fernet(fernet_key)
            except (ValueError, binascii.Error):
                self._why = "SLIPWAY_SECRET_KEY is not a valid Fernet key"

    async def cron_secret(self, project: str, environment: str) -> str | None:
        key = secret_key(project, environment, CRON_SECRET)
        try:
            entry = await self.kv.get(key)
        except NotFoundError:  # missing or deleted
            return None
        if not entry.value:
            return None
        if self._fernet is None:
            raise CronSecretUnreadable(self._why or "no secret key")
        try:
            return self._fernet.decrypt(entry.value).decode("utf-8")
        except InvalidToken:
            raise CronSecretUnreadable(
                f"{key} cannot be decrypted with this SLIPWAY_SECRET_KEY"
            ) from None
