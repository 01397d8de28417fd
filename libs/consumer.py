"""A durable pull consumer on the event stream, served by one task in stream order.

Admission, the routing lifecycle and the cron lifecycle all read this way: fetch, handle each
message (the handler acks or naks it), keep going through connection trouble, stop on cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig

from libs.events.subjects import EVENTS_STREAM
from libs.eventstore.pull import PullBatches

log = logging.getLogger("slipway.consumer")

Handle = Callable[[Msg], Awaitable[None]]


class DurableLoop:
    def __init__(
        self, nc: NATS, config: ConsumerConfig, handle: Handle, *, name: str, batch: int = 1
    ) -> None:
        self.nc = nc
        self.config = config
        self.handle = handle
        self.name = name
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        js = self.nc.jetstream()
        await js.add_consumer(EVENTS_STREAM, config=self.config)
        assert self.config.durable_name is not None
        pull = await PullBatches(self.nc, EVENTS_STREAM, self.config.durable_name).start()
        self._task = asyncio.create_task(self._loop(pull), name=self.name)

    async def stop(self) -> None:
        # The flag ends the loop even when a cancellation is lost inside a client call.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)

    async def _loop(self, pull: PullBatches) -> None:
        try:
            while not self._stopping:
                try:
                    msgs = await pull.fetch(self.batch, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # connection trouble: back off and keep serving
                    log.warning("%s: fetch failed: %s", self.name, exc)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    await self.handle(msg)
        finally:
            await pull.stop()
