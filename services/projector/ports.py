"""The query API's ports: the event store it reads and the log stream it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from libs.events import Aggregate, Recorded
from libs.eventstore import StoredMessage


class EventSource(Protocol):
    """Reads of SLIPWAY_EVENTS (the real one is `libs.eventstore.JetStreamEventStore`)."""

    def read_raw(
        self, subject_filter: str, *, from_seq: int = 1, start_time: datetime | None = None
    ) -> AsyncIterator[StoredMessage]:
        """Stored messages matching a filter, in stream order, undecoded."""
        ...

    async def last_seq(self) -> int:
        """The stream's last sequence (0 when empty)."""
        ...

    async def load_via_leader(
        self, aggregate: Aggregate, aggregate_id: str, *, after_seq: int = 0
    ) -> list[Recorded]:
        """One aggregate's events read through the stream leader (never a lagging replica)."""
        ...


class LogSource(Protocol):
    """Deployment log messages of SLIPWAY_LOGS: `logs.<deployment>.<job>`, JSON lines each."""

    def history(self, deployment_id: str, *, after_seq: int = 0) -> AsyncIterator[StoredMessage]:
        """The messages stored so far after `after_seq`, then the iterator ends."""
        ...

    def follow(self, deployment_id: str, *, after_seq: int = 0) -> AsyncIterator[StoredMessage]:
        """The messages after `after_seq`, then live ones as they are stored; never ends."""
        ...
