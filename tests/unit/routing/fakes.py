"""An in-memory event log for the reconciler's unit tests; its contract is
tests/integration/routing/test_event_log_contract.py (also run against JetStreamEventStore)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from libs.events.envelope import Envelope
from libs.events.fold import Recorded


class MemoryLog:
    """What `CaddyReconciler` reads of the event store (`EventLog`), in a list."""

    def __init__(self, chunk: int = 3) -> None:
        self.records: list[Recorded] = []
        self.unseen = 0  # events stored but not delivered to followers yet (a lagging consumer)
        self.chunk = chunk
        self._grew = asyncio.Event()

    def append(self, envelope: Envelope) -> int:
        seq = len(self.records) + 1
        self.records.append(Recorded(seq, datetime.now(UTC), b"", envelope))
        self._grew.set()
        return seq

    async def last_seq(self) -> int:
        return len(self.records) + self.unseen

    async def replay(
        self, subject_filter: str = "", *, from_seq: int = 1, until_seq: int | None = None
    ) -> AsyncIterator[list[Recorded]]:
        end = len(self.records) if until_seq is None else min(until_seq, len(self.records))
        for start in range(max(1, from_seq) - 1, end, self.chunk):
            yield self.records[start : min(start + self.chunk, end)]

    async def follow(
        self, subject_filter: str = "", *, from_seq: int = 1
    ) -> AsyncIterator[Recorded]:
        while True:
            while from_seq <= len(self.records):
                yield self.records[from_seq - 1]
                from_seq += 1
            self._grew.clear()
            await self._grew.wait()
