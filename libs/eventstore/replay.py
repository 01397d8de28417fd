"""Reading a stretch of the stream in order, in bulk (catch-up, rebuild), with bounded memory.

An ephemeral push consumer whose window is its acknowledgements: AckAll, `max_ack_pending =
window`. The reader acknowledges the last message of each chunk once the chunk is handed over, so
the server never has more than `window` messages out that the reader has not taken, however slow
the reader is. (nats-py's ordered consumer with a callback answers flow control when a message
*arrives*, so a slow reader got the whole stream buffered in client memory, and past the
subscription's pending limits nats-py dropped messages: the replay had holes.)

Every delivery is checked (`Cursor`): the consumer's delivery sequence must grow by one, so a
delivery lost on the way (a reconnect, a client-side drop) is seen, and the replay starts a new
consumer right after the last event it handed over. Redeliveries (an acknowledgement later than
`ack_wait`) repeat what was taken and are skipped. A consumer that vanished (a server restart)
is noticed after `stall_s` without a delivery and replaced the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

REPLAY_CHUNK = 500
REPLAY_WINDOW = 2000
REPLAY_STALL_S = 10.0
# Long enough that a reader blocked on a slow database does not get its window redelivered.
REPLAY_ACK_WAIT_S = 300.0
# The server deletes a consumer whose reader went away (no cleanup request needed).
REPLAY_INACTIVE_S = 60.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoredMessage:
    """A message as the stream holds it: sequence, subject, server time and exact bytes."""

    seq: int
    subject: str
    stored_at: datetime
    raw: bytes


class Verdict(Enum):
    TAKE = "take"
    SKIP = "skip"  # a redelivery of something already seen or taken
    GAP = "gap"  # a delivery is missing: start over after the last one taken


@dataclass
class Cursor:
    """Where a replay stands: the last stream sequence handed over, the last delivery seen."""

    last_seq: int
    last_delivery: int = 0

    def restart(self) -> None:
        """A new consumer numbers its deliveries from 1 again."""
        self.last_delivery = 0

    def classify(self, seq: int, delivery: int) -> Verdict:
        if delivery <= self.last_delivery:
            return Verdict.SKIP
        if delivery != self.last_delivery + 1:
            return Verdict.GAP
        self.last_delivery = delivery
        if seq <= self.last_seq:
            return Verdict.SKIP
        self.last_seq = seq
        return Verdict.TAKE


def server_time(ts_ns: int) -> datetime:
    """A delivery's server timestamp (ns since the epoch) as Python keeps it (microseconds)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1000)


def reply_fields(reply: str) -> tuple[int, int, int, int]:
    """(stream sequence, delivery sequence, server time in ns, pending) of a delivery's reply.

    $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> (9 tokens), or with
    <domain>.<account hash> after ACK and a random last token (12).
    """
    tokens = reply.split(".")
    off = 0 if len(tokens) == 9 else 2
    return int(tokens[5 + off]), int(tokens[6 + off]), int(tokens[7 + off]), int(tokens[8 + off])


_END = object()
_RESTART = object()


class _Reader:
    """One replay: the current consumer, the chunk being filled, the queue to the consumer."""

    def __init__(
        self,
        nc: NATS,
        stream: str,
        subject_filter: str,
        *,
        from_seq: int,
        target: int,
        chunk: int,
        window: int,
    ) -> None:
        self.js = nc.jetstream()
        self.stream = stream
        self.subject_filter = subject_filter
        self.target = target
        self.chunk = chunk
        self.window = window
        self.cursor = Cursor(last_seq=from_seq - 1)
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(2, window // chunk))
        self.buf: list[StoredMessage] = []
        self.sub: Any = None
        self.consumer = ""
        self.generation = 0
        self.finished = False

    async def start(self) -> None:
        """Starts a consumer right after the last event handed over (the first, or a new one)."""
        await self.stop_consumer()
        self.generation += 1
        self.cursor.restart()
        self.consumer = f"replay-{uuid.uuid4().hex[:12]}"
        self.sub = await self.js.subscribe(
            self.subject_filter,
            stream=self.stream,
            cb=self._callback(self.generation),
            manual_ack=True,
            config=ConsumerConfig(
                name=self.consumer,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.cursor.last_seq + 1,
                ack_policy=AckPolicy.ALL,
                max_ack_pending=self.window,
                ack_wait=REPLAY_ACK_WAIT_S,
                inactive_threshold=REPLAY_INACTIVE_S,
                mem_storage=True,
                num_replicas=1,
            ),
        )

    async def restart(self, why: str) -> list[StoredMessage]:
        """Starts a new consumer after the last event taken; returns what was taken but not
        handed over yet (the caller passes it on first)."""
        self.generation += 1  # the old consumer's deliveries are ignored from here on
        leftover, self.buf = self.buf, []
        log.warning("replay: %s; resuming after seq %d", why, self.cursor.last_seq)
        await self.start()
        return leftover

    async def stop_consumer(self) -> None:
        sub, self.sub = self.sub, None
        self.generation += 1  # deliveries still queued in nats-py for it are ignored
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            with contextlib.suppress(Exception):  # else the server drops it when inactive
                await self.js.delete_consumer(self.stream, self.consumer)

    async def stalled(self) -> str | None:
        """Why nothing arrives, when it is a reason to start over: the consumer is gone, or it
        delivered more than arrived (deliveries lost at the end of the stretch, which no later
        delivery would show)."""
        try:
            info = await self.js.consumer_info(self.stream, self.consumer)
        except NotFoundError:
            return "the consumer is gone"
        if info.delivered.consumer_seq > self.cursor.last_delivery:
            return "deliveries were lost"
        return None

    def _callback(self, generation: int) -> Any:
        async def on_msg(msg: Msg) -> None:
            if generation != self.generation or self.finished:
                return
            seq, delivery, ts_ns, pending = reply_fields(msg.reply or "")
            verdict = self.cursor.classify(seq, delivery)
            if verdict is Verdict.SKIP:
                return
            if verdict is Verdict.GAP:
                self.generation += 1  # nothing more from this consumer
                await self._hand_over(None)
                await self.queue.put(_RESTART)
                return
            end = seq >= self.target or pending == 0
            if seq <= self.target:
                self.buf.append(StoredMessage(seq, msg.subject, server_time(ts_ns), msg.data))
            if len(self.buf) >= self.chunk or end:
                await self._hand_over(msg)
            if end:
                self.finished = True
                await self.queue.put(_END)

        return on_msg

    async def _hand_over(self, last: Msg | None) -> None:
        if self.buf:
            out, self.buf = self.buf, []
            await self.queue.put(out)  # holds the consumer back while the reader is behind
        if last is not None:
            with contextlib.suppress(Exception):
                await last.ack()  # AckAll: everything up to here is the reader's now


async def replay_stored(
    nc: NATS,
    stream: str,
    subject_filter: str,
    *,
    from_seq: int,
    target: int,
    chunk: int = REPLAY_CHUNK,
    window: int = REPLAY_WINDOW,
    stall_s: float = REPLAY_STALL_S,
) -> AsyncGenerator[list[StoredMessage], None]:
    """The stream's messages matching `subject_filter` from `from_seq` through `target`, in
    order, in chunks of at most `chunk`; at most `window` messages wait in memory beyond the
    chunks the caller has not taken yet (the queue holds `window // chunk` chunks)."""
    if target < from_seq:
        return
    if window < 2 * chunk:
        raise ValueError(f"window ({window}) must be at least twice the chunk ({chunk})")
    reader = _Reader(
        nc,
        stream,
        subject_filter,
        from_seq=from_seq,
        target=target,
        chunk=chunk,
        window=window,
    )
    await reader.start()
    try:
        while True:
            try:
                async with asyncio.timeout(stall_s):
                    item = await reader.queue.get()
            except TimeoutError:
                why = await reader.stalled()
                if why is None:
                    continue
                item = await reader.restart(why)
            else:
                if item is _END:
                    return
                if item is _RESTART:
                    item = await reader.restart("a delivery was lost")
            assert isinstance(item, list)
            if item:
                yield item
    finally:
        reader.finished = True
        await reader.stop_consumer()
