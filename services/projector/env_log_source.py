"""Environment logs in SLIPWAY_LOGS (`logs.env.<environment id>`): stored lines and live ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.events.subjects import LOGS_STREAM, environment_log_subject


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
    def __init__(self, nc: NATS, *, stream: str = LOGS_STREAM, timeout_s: float = 5.0) -> None:
        self.nc = nc
        self.stream = stream
        self.timeout_s = timeout_s

    async def history(
        self, environment_id: str, *, after_seq: int = 0
    ) -> AsyncIterator[LogMessage]:
        request: dict[str, Any] = {
            "next_by_subj": environment_log_subject(environment_id),
            "seq": after_seq + 1,
            "batch": 256,
        }
        while True:
            batch, more = await self._direct_batch(request)
            for msg in batch:
                yield msg
            if not batch or not more:
                return
            request["seq"] = batch[-1].seq + 1

    async def _direct_batch(self, request: dict[str, Any]) -> tuple[list[LogMessage], bool]:
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        try:
            await self.nc.publish(
                f"$JS.API.DIRECT.GET.{self.stream}", json.dumps(request).encode(), reply=inbox
            )
            out: list[LogMessage] = []
            while True:
                msg = await sub.next_msg(timeout=self.timeout_s)
                hdr = msg.headers or {}
                status = hdr.get("Status")
                if status == "404":
                    return out, False
                if status == "204":  # end of this batch
                    return out, int(hdr.get("Nats-Num-Pending", "0")) > 0
                if status:
                    raise RuntimeError(f"direct get failed: {status} {hdr.get('Description')}")
                out.append(LogMessage(int(hdr["Nats-Sequence"]), msg.data))
        finally:
            await sub.unsubscribe()

    async def follow(self, environment_id: str, *, after_seq: int = 0) -> AsyncIterator[LogMessage]:
        sub = await self.nc.jetstream().subscribe(
            environment_log_subject(environment_id),
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
                yield LogMessage(msg.metadata.sequence.stream, msg.data)
        finally:
            await sub.unsubscribe()


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
