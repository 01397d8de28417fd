"""Job leases in KV `leases` (§2): take with `create`, refresh with `update(last=revision)`.

A blind `put` is never used: it would steal a newer holder's lease. A refresh that fails means the
lease is lost and the holder must stop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


class LeaseTaken(Exception):
    """Somebody else holds a live lease on this key."""


class Lease:
    def __init__(self, kv: KeyValue, key: str, holder: str, attempt: int) -> None:
        self.kv = kv
        self.key = key
        self.value = json.dumps({"holder": holder, "attempt": attempt}).encode()
        self.revision = 0
        self.lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def take(self) -> None:
        try:
            self.revision = await self.kv.create(self.key, self.value)
        except KeyWrongLastSequenceError:
            raise LeaseTaken(self.key) from None

    def keep_alive(self, every_s: float) -> None:
        self._task = asyncio.create_task(self._refresh_loop(every_s), name=f"lease:{self.key}")

    async def _refresh_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                self.revision = await self.kv.update(self.key, self.value, last=self.revision)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease %s lost: %s", self.key, exc)
                self.lost.set()
                return

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.lost.is_set():
            return
        with contextlib.suppress(Exception):
            await self.kv.delete(self.key, last=self.revision)


async def lease_alive(kv: KeyValue, key: str) -> bool:
    try:
        entry = await kv.get(key)
    except (NotFoundError, KeyError):
        return False
    except Exception as exc:  # KeyDeletedError subclasses NotFoundError in some versions
        if type(exc).__name__ in {"KeyDeletedError", "KeyNotFoundError"}:
            return False
        raise
    return entry.value is not None and entry.operation is None
