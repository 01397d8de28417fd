"""`KvCronStore`: the cron records in KV `crons` (nats-py).

Listing does not use nats-py's KV watcher: it may report "no more values" before the first one
has arrived (it compares the consumer's pending count with what the client has received so far),
which made a busy bucket look empty now and then. A pull consumer delivers nothing before it is
asked, so its pending count at creation is exactly the number of messages to fetch.
"""

from __future__ import annotations

import contextlib
import uuid

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue

from libs.events.subjects import KV_CRONS
from services.postdeploy.cron_schedule import CronRecord
from services.postdeploy.ports import CronConflict, StoredCron

WRONG_LAST = (10071, 10164)
FETCH_BATCH = 256


class KvCronStore:
    def __init__(
        self, kv: KeyValue, js: JetStreamContext, *, bucket: str = KV_CRONS, timeout_s: float = 5.0
    ) -> None:
        self.kv = kv
        self.js = js
        self.stream = f"KV_{bucket}"
        self.prefix = f"$KV.{bucket}."
        self.timeout_s = timeout_s

    async def entries(self, key_filter: str = ">") -> list[StoredCron]:
        name = f"crons-list-{uuid.uuid4().hex}"
        config = ConsumerConfig(
            name=name,
            filter_subject=self.prefix + key_filter,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            mem_storage=True,
            inactive_threshold=60.0,
        )
        info = await self.js.add_consumer(self.stream, config=config)
        try:
            left = int(info.num_pending or 0)
            found: list[StoredCron] = []
            if left == 0:
                return found
            psub = await self.js.pull_subscribe_bind(name=name, stream=self.stream)
            try:
                while left > 0:
                    msgs = await psub.fetch(min(left, FETCH_BATCH), timeout=self.timeout_s)
                    left -= len(msgs)
                    for msg in msgs:
                        if (msg.headers or {}).get(KV_OP) in (KV_DEL, KV_PURGE) or not msg.data:
                            continue
                        record = CronRecord.model_validate_json(msg.data)
                        found.append(StoredCron(record, msg.metadata.sequence.stream))
            finally:
                await psub.unsubscribe()
            # A write during the listing is delivered too: keep each key's newest revision.
            newest = {s.record.key: s for s in sorted(found, key=lambda s: s.revision)}
            return [newest[k] for k in sorted(newest)]
        finally:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, name)

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
        except APIError as exc:
            # nats-py maps 10071 to KeyWrongLastSequenceError for updates only, not deletes.
            if isinstance(exc, KeyWrongLastSequenceError) or exc.err_code in WRONG_LAST:
                raise CronConflict(f"cron {key} is no longer at revision {last}") from None
            raise


def _encode(record: CronRecord) -> bytes:
    return record.model_dump_json().encode()
