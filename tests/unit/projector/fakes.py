"""In-memory twins of the query API's ports (`EventSource`, `LogSource`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from libs.events import Aggregate, Recorded, decode
from libs.events.envelope import Envelope
from libs.events.subjects import aggregate_filter, deployment_logs_filter
from libs.eventstore import StoredMessage

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def matches(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    want, have = subject_filter.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


class FakeEventSource:
    """A stream held in a list: sequences from 1, server times a millisecond apart."""

    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []
        self._last: dict[tuple[Aggregate, str], str | None] = {}

    def append(self, envelope: Envelope, *, at: datetime | None = None) -> StoredMessage:
        key = (envelope.aggregate, envelope.aggregate_id)
        sealed, raw = envelope.sealed(self._last.get(key))
        self._last[key] = sealed.hash
        seq = len(self.messages) + 1
        stamp = at or T0 + timedelta(milliseconds=seq)
        msg = StoredMessage(seq, sealed.subject, stamp, raw)
        self.messages.append(msg)
        return msg

    async def read_raw(
        self, subject_filter: str, *, from_seq: int = 1, start_time: datetime | None = None
    ) -> AsyncIterator[StoredMessage]:
        for msg in list(self.messages):
            if start_time is not None and msg.stored_at < start_time:
                continue
            if start_time is None and msg.seq < from_seq:
                continue
            if matches(subject_filter, msg.subject):
                yield msg

    async def last_seq(self) -> int:
        return len(self.messages)

    async def load_via_leader(
        self, aggregate: Aggregate, aggregate_id: str, *, after_seq: int = 0
    ) -> list[Recorded]:
        return [
            Recorded(m.seq, m.stored_at, m.raw, decode(m.raw))
            async for m in self.read_raw(aggregate_filter(aggregate, aggregate_id))
            if m.seq > after_seq
        ]


class FakeLogSource:
    """Log messages in a list; `follow` wakes up when one is added."""

    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []
        self._added = asyncio.Condition()

    async def publish(self, subject: str, data: bytes) -> None:
        async with self._added:
            seq = len(self.messages) + 1
            self.messages.append(StoredMessage(seq, subject, T0 + timedelta(seconds=seq), data))
            self._added.notify_all()

    async def history(
        self, deployment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        wanted = deployment_logs_filter(deployment_id)
        for msg in list(self.messages):
            if msg.seq > after_seq and matches(wanted, msg.subject):
                yield msg

    async def follow(
        self, deployment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[StoredMessage]:
        wanted = deployment_logs_filter(deployment_id)
        last = after_seq
        while True:
            async with self._added:
                await self._added.wait_for(lambda seen=last: len(self.messages) > seen)  # type: ignore[misc]
                new = self.messages[last:]
            for msg in new:
                last = msg.seq
                if matches(wanted, msg.subject):
                    yield msg
