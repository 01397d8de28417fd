"""Feeding a stretch of the log into a projector: read ahead while the database commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

from nats.aio.msg import Msg

from libs.events import Recorded, decode
from libs.eventstore import StoredMessage

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


def stored_from_consumer_msg(msg: Msg) -> StoredMessage:
    """A consumer delivery with its stream sequence and exact server time.

    The time is read from the ack subject's nanoseconds and cut to microseconds, the way the
    store's direct reads do, rather than through a float (which can round to the next µs).
    """
    tokens = (msg.reply or "").split(".")
    # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (v1, 9 tokens), or
    # with <domain>.<account hash> after ACK and a trailing random token (v2).
    stamp = tokens[7] if len(tokens) == 9 else tokens[Msg.Ack.Timestamp]
    secs, nanos = divmod(int(stamp), 1_000_000_000)
    stored_at = datetime.fromtimestamp(secs, UTC).replace(microsecond=nanos // 1000)
    return StoredMessage(msg.metadata.sequence.stream, msg.subject, stored_at, msg.data)


def recorded_from_consumer_msg(msg: Msg) -> Recorded:
    stored = stored_from_consumer_msg(msg)
    return Recorded(stored.seq, stored.stored_at, stored.raw, decode(stored.raw))
