"""Deployment logs of SLIPWAY_LOGS: direct gets for the history, an ordered consumer live."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.events.subjects import LOGS_STREAM, deployment_logs_filter
from libs.eventstore import JetStreamEventStore, StoredMessage
from services.projector.feed import stored_from_consumer_msg


class JetStreamLogSource:
    def __init__(self, nc: NATS, *, stream: str = LOGS_STREAM, timeout: float = 5.0) -> None:
        self.nc = nc
        self.stream = stream
        # The store's direct reads work on any stream with allow_direct: here, the logs.
        self._reader = JetStreamEventStore(nc, stream=stream, timeout=timeout)

    async def history(
        self, deployment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        async for msg in self._reader.read_raw(
            deployment_logs_filter(deployment_id), from_seq=after_seq + 1
        ):
            yield msg

    async def follow(
        self, deployment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        sub = await self.nc.jetstream().subscribe(
            deployment_logs_filter(deployment_id),
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
                yield stored_from_consumer_msg(msg)
        finally:
            await sub.unsubscribe()
