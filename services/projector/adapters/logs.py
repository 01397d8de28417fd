"""Deployment logs of SLIPWAY_LOGS: direct gets for the history, an ordered consumer live."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.events.subjects import LOGS_STREAM, deployment_logs_filter
from libs.eventstore import JetStreamEventStore, StoredMessage, stored_from_delivery


class JetStreamLogSource:
    def __init__(self, nc: NATS, *, stream: str = LOGS_STREAM, timeout: float = 5.0) -> None:
        self.nc = nc
        self.stream = stream
        # The store's direct reads work on any stream with allow_direct: here, the logs.
        self._reader = JetStreamEventStore(nc, stream=stream, timeout=timeout)

    def history(self, deployment_id: str, *, after_seq: int = 0) -> AsyncIterator[StoredMessage]:
        return self.history_of(deployment_logs_filter(deployment_id), after_seq=after_seq)

    def follow(self, deployment_id: str, *, after_seq: int = 0) -> AsyncIterator[StoredMessage]:
        return self.follow_of(deployment_logs_filter(deployment_id), after_seq=after_seq)

    async def history_of(
        self, subject_filter: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        """Stored messages of any log subject (job logs, environment logs) after `after_seq`."""
        async for msg in self._reader.read_raw(subject_filter, from_seq=after_seq + 1):
            yield msg

    async def follow_of(
        self, subject_filter: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        """Stored then live messages of any log subject, through an ordered consumer."""
        sub = await self.nc.jetstream().subscribe(
            subject_filter,
            ordered_consumer=True,
            stream=self.stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1
            ),
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=3600)
                except NatsTimeout:
                    continue
                yield stored_from_delivery(msg)
        finally:
            await sub.unsubscribe()
