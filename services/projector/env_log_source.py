"""Environment logs in SLIPWAY_LOGS (`logs.env.<environment id>`): stored lines and live ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from nats.aio.client import Client as NATS

from libs.events.subjects import LOGS_STREAM, environment_log_subject
from services.projector.adapters.logs import JetStreamLogSource


@dataclass(frozen=True)
class LogMessage:
    """One stored message: a batch of JSON lines, each ending in a newline."""

    seq: int
    data: bytes

    def lines(self) -> list[bytes]:
        return [line for line in self.data.split(b"\n") if line.strip()]


class EnvLogSource(Protocol):
    def history(self, environment_id: str, *, after_seq: int = 0) -> AsyncIterator[LogMessage]:
        """The messages stored so far after `after_seq`; then the iterator ends."""
        ...

    def follow(self, environment_id: str, *, after_seq: int = 0) -> AsyncIterator[LogMessage]:
        """The messages after `after_seq`, then live ones as they are stored; never ends."""
        ...


class JetStreamEnvLogSource:
    """The environment log through the same reader as the job logs (direct gets, then live)."""

    def __init__(self, nc: NATS, *, stream: str = LOGS_STREAM, timeout_s: float = 5.0) -> None:
        self._logs = JetStreamLogSource(nc, stream=stream, timeout=timeout_s)

    async def history(
        self, environment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[LogMessage]:
        subject = environment_log_subject(environment_id)
        async for msg in self._logs.history_of(subject, after_seq=after_seq):
            yield LogMessage(msg.seq, msg.raw)

    async def follow(self, environment_id: str, *, after_seq: int = 0) -> AsyncIterator[LogMessage]:
        subject = environment_log_subject(environment_id)
        async for msg in self._logs.follow_of(subject, after_seq=after_seq):
            yield LogMessage(msg.seq, msg.raw)


@dataclass
class FakeEnvLogSource:
    messages: dict[str, list[LogMessage]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _seq: int = 0

    def add(self, environment_id: str, data: bytes) -> int:
        self._seq += 1
        self.messages.setdefault(environment_id, []).append(LogMessage(self._seq, data))
        self._changed.set()
        return self._seq

    async def history(
        self, environment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[LogMessage]:
        for msg in list(self.messages.get(environment_id, [])):
            if msg.seq > after_seq:
                yield msg

    async def follow(self, environment_id: str, *, after_seq: int = 0) -> AsyncIterator[LogMessage]:
        last = after_seq
        while True:
            self._changed.clear()
            for msg in list(self.messages.get(environment_id, [])):
                if msg.seq > last:
                    last = msg.seq
                    yield msg
            await self._changed.wait()
