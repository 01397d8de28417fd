"""`KvRunnerLock`: the single-runner lock in KV `locks` (take with `create`, refresh with
`update(last=revision)`; the bucket's max_age is the TTL, so a dead holder's lock expires)."""

from __future__ import annotations

import logging

from nats.js.kv import KeyValue

from libs.events.subjects import CRON_RUNNER_LOCK
from libs.jobs.lease import Lease, LeaseTaken

log = logging.getLogger("slipway.postdeploy.lock")


class KvRunnerLock:
    def __init__(
        self, kv: KeyValue, holder: str, *, refresh_s: float, key: str = CRON_RUNNER_LOCK
    ) -> None:
        self.kv = kv
        self.holder = holder
        self.refresh_s = refresh_s
        self.key = key
        self._lease: Lease | None = None

    async def hold(self) -> bool:
        if self._lease is not None:
            if not self._lease.lost.is_set():
                return True
            log.warning("%s lost the %s lock", self.holder, self.key)
            await self._lease.release()
            self._lease = None
        lease = Lease(self.kv, self.key, self.holder, 0)
        try:
            await lease.take()
        except LeaseTaken:
            return False
        lease.keep_alive(self.refresh_s)
        self._lease = lease
        log.info("%s holds the %s lock", self.holder, self.key)
        return True

    async def release(self) -> None:
        if self._lease is not None:
            await self._lease.release()
            self._lease = None
