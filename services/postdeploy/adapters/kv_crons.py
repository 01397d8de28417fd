"""`KvCronStore`: the cron records in KV `crons` (nats-py)."""

from __future__ import annotations

import asyncio

from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from services.postdeploy.cron_schedule import CronRecord
from services.postdeploy.ports import CronConflict, StoredCron


class KvCronStore:
    def __init__(self, kv: KeyValue, *, timeout_s: float = 5.0) -> None:
        self.kv = kv
        self.timeout_s = timeout_s

    async def entries(self, key_filter: str = ">") -> list[StoredCron]:
        watcher = await self.kv.watch(key_filter, ignore_deletes=True)
        found: list[StoredCron] = []
        try:
            while True:
                entry = await asyncio.wait_for(watcher.updates(None), self.timeout_s)  # type: ignore[no-untyped-call]
                if entry is None:
                    break
                if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
                    continue
                record = CronRecord.model_validate_json(entry.value)
                found.append(StoredCron(record, int(entry.revision or 0)))
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return sorted(found, key=lambda s: s.record.key)

    async def create(self, record: CronRecord) -> int:
        try:
            return await self.kv.create(record.key, _encode(record))
        except KeyWrongLastSequenceError:
            raise CronConflict(f"cron {record.key} exists already") from None

    async def update(self, record: CronRecord, last: int) -> int:
        try:
            return await self.kv.update(record.key, _encode(record), last=last)
        except KeyWrongLastSequenceError:
            raise CronConflict(f"cron {record.key} is no longer at revision {last}") from None

    async def delete(self, key: str, last: int | None = None) -> None:
        try:
            await self.kv.delete(key, last=last)
        except KeyWrongLastSequenceError:
            raise CronConflict(f"cron {key} is no longer at revision {last}") from None


def _encode(record: CronRecord) -> bytes:
    return record.model_dump_json().encode()
