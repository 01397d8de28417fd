"""Feeding a stretch of the log into a projector: read ahead while the database commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from libs.events import Recorded

Apply = Callable[[list[Recorded]], Awaitable[int]]

_END = object()


async def feed(
    chunks: AsyncIterator[Sequence[Recorded]],
    apply: Apply,
    batch_size: int,
    *,
    read_ahead: int = 4,
) -> int | None:
    """Applies the events of `chunks` in batches of `batch_size`; returns the last checkpoint
    `apply` reached.

    The next batches are read (and decoded) while the current one is applied, so the store's
    read time and the database's commit time overlap instead of adding up.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=read_ahead)

    async def produce() -> None:
        batch: list[Recorded] = []
        try:
            async for chunk in chunks:
                batch.extend(chunk)
                while len(batch) >= batch_size:
                    await queue.put(batch[:batch_size])
                    batch = batch[batch_size:]
            if batch:
                await queue.put(batch)
            await queue.put(_END)
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)

    producer = asyncio.create_task(produce(), name="projector-read-ahead")
    reached: int | None = None
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return reached
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, list)
            reached = await apply(item)
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
