"""The projector process loop (§8): one active instance, stream order, ack after commit.

Standby: try to `create` the lock key every `projector_standby_poll_s`. Active: keep the lock with
`update(last=revision)`; read the checkpoint; catch up from the store (`replay`, read-ahead
batches) to the stream's end; then fetch from the durable pull consumer. A fetched batch is applied
only when it starts at checkpoint + 1; anything at or below the checkpoint (a redelivery) is acked
and skipped; a gap (deliveries that went to an instance that died, a consumer ahead of a fresh
database) is filled from the store before the fetched events are acked. A lost lock stops the
active loop at once; the conditional checkpoint makes a late write of a stale holder fail anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.events import Recorded
from libs.events.subjects import EVENTS_ALL, KV_LOCKS, PROJECTOR_CONSUMER, PROJECTOR_LOCK
from libs.eventstore import JetStreamEventStore, recorded_from_delivery
from libs.eventstore.pull import PullBatches
from libs.jobs.lease import Lease, LeaseTaken
from libs.settings import Settings
from services.projector.feed import feed
from services.projector.project import CheckpointMismatch, Projector

log = logging.getLogger("slipway.projector")

Role = Literal["starting", "standby", "active", "stopped"]

# A consumer this far behind the checkpoint would redeliver only events already applied: it is
# recreated at the checkpoint instead of being drained one skipped message at a time.
_FAR_BEHIND_BATCHES = 20


@dataclass(frozen=True)
class Status:
    role: Role
    holder: str
    checkpoint: int
    last_seq: int | None

    @property
    def lag(self) -> int | None:
        return None if self.last_seq is None else max(0, self.last_seq - self.checkpoint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "holder": self.holder,
            "checkpoint": self.checkpoint,
            "stream_last_seq": self.last_seq,
            "lag": self.lag,
        }


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ProjectorRunner:
    """Runs one projector instance until `stop` is set; see the module docstring."""

    def __init__(
        self,
        nc: NATS,
        store: JetStreamEventStore,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        projector: Projector | None = None,
        holder: str | None = None,
    ) -> None:
        self.nc = nc
        self.store = store
        self.sessions = sessions
        self.settings = settings
        self.projector = projector or Projector(self._load)
        self.holder = holder or holder_id()
        self.role: Role = "starting"
        self.checkpoint = 0
        self._last_lag_log = 0.0
        self._halt = False

    async def _load(self, aggregate: Any, aggregate_id: str) -> Sequence[Recorded]:
        # Through the leader: the read model may be ahead of a lagging replica's direct gets.
        return await self.store.load_via_leader(aggregate, aggregate_id)

    # ------------------------------------------------------------------ status

    async def read_checkpoint(self) -> int:
        async with self.sessions() as session:
            self.checkpoint = await self.projector.position(session)
        return self.checkpoint

    async def status(self) -> Status:
        checkpoint = await self.read_checkpoint()
        try:
            last: int | None = await self.store.last_seq()
        except Exception:  # NATS down: report what we know
            last = None
        return Status(self.role, self.holder, checkpoint, last)

    async def _log_lag(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_lag_log < self.settings.projector_lag_log_s:
            return
        self._last_lag_log = now
        last = await self.store.last_seq()
        log.info(
            "projector lag %d (checkpoint %d, stream last seq %d)",
            max(0, last - self.checkpoint),
            self.checkpoint,
            last,
        )

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Standby until the lock is ours, active until it is lost or `stop` is set; repeat."""
        kv = await self.nc.jetstream().key_value(KV_LOCKS)
        try:
            while not stop.is_set():
                lease = Lease(kv, PROJECTOR_LOCK, self.holder, 0)
                try:
                    await lease.take()
                except LeaseTaken:
                    if self.role != "standby":
                        log.info("projector %s standing by: the lock is held", self.holder)
                    await self._stand_by(stop)
                    continue
                except Exception as exc:
                    # NATS unreachable for now: an outage must not end the loop (nor the query
                    # API of this process) — stand by and try again.
                    log.warning("projector %s cannot take the lock: %r", self.holder, exc)
                    await self._stand_by(stop)
                    continue
                lease.keep_alive(self.settings.lease_refresh_s)
                self.role = "active"
                log.info("projector %s active", self.holder)
                try:
                    await self._while_held(lease, stop)
                finally:
                    await lease.release()
                    if not stop.is_set():
                        self.role = "standby"
        finally:
            self.role = "stopped"

    async def _stand_by(self, stop: asyncio.Event) -> None:
        self.role = "standby"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.projector_standby_poll_s):
                await stop.wait()

    async def _while_held(self, lease: Lease, stop: asyncio.Event) -> None:
        self._halt = False
        work = asyncio.create_task(self._active(), name="projector-active")
        lost = asyncio.create_task(lease.lost.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if lost.done():
                log.warning("projector %s lost the lock: stopping at once", self.holder)
            if work.done():
                work.result()  # a crash of the loop is the process's crash
        finally:
            self._halt = True
            for task in (lost, stopping):
                task.cancel()
            # Python 3.11's wait_for can swallow a cancellation that races a result: insist.
            while not work.done():
                work.cancel()
                await asyncio.wait({work}, timeout=0.5)
            for waited in (lost, stopping):
                with contextlib.suppress(asyncio.CancelledError):
                    await waited
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            self.projector.forget()

    async def _active(self) -> None:
        while not self._halt:
            try:
                await self._consume()
            except Exception:
                if self._halt:
                    return
                # A database or NATS hiccup: start over from the checkpoint (nothing was acked
                # that was not committed, so nothing is lost).
                log.exception("projector step failed; retrying from the checkpoint")
                self.projector.forget()
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        await self.read_checkpoint()
        await self.catch_up()
        await self._ensure_consumer()
        pull = await PullBatches(self.nc, self.store.stream, PROJECTOR_CONSUMER).start()
        try:
            await self._log_lag(force=True)
            while not self._halt:
                msgs = await pull.fetch(
                    self.settings.projector_batch_size, self.settings.projector_fetch_wait_s
                )
                if msgs:
                    await self.handle(msgs)
                await self._log_lag()
        finally:
            await pull.stop()

    # ------------------------------------------------------------------ steps

    async def apply(self, events: list[Recorded]) -> int:
        async with self.sessions() as session:
            before = self.checkpoint
            self.checkpoint = await self.projector.apply_batch(session, events)
        if self.checkpoint > before:
            log.debug("projector %s applied %d..%d", self.holder, before + 1, self.checkpoint)
        return self.checkpoint

    async def catch_up(self, until_seq: int | None = None) -> int:
        """Applies the store's events after the checkpoint, up to `until_seq` or the stream end."""
        target = until_seq if until_seq is not None else await self.store.last_seq()
        if target <= self.checkpoint:
            return self.checkpoint
        started, before = time.monotonic(), self.checkpoint
        chunks = self.store.replay(from_seq=self.checkpoint + 1, until_seq=target)
        await feed(chunks, self.apply, self.settings.projector_catch_up_batch)
        if self.checkpoint - before > self.settings.projector_batch_size:
            elapsed = time.monotonic() - started
            log.info(
                "projector caught up %d events in %.1fs (%.0f/s), checkpoint %d",
                self.checkpoint - before,
                elapsed,
                (self.checkpoint - before) / max(elapsed, 1e-9),
                self.checkpoint,
            )
        return self.checkpoint

    async def handle(self, msgs: list[Msg]) -> None:
        """Applies one fetched batch (filling any gap from the store), then acks it all."""
        by_seq = {r.seq: r for r in map(recorded_from_delivery, msgs)}
        fresh = [by_seq[s] for s in sorted(by_seq) if s > self.checkpoint]
        if fresh:
            contiguous = all(r.seq == self.checkpoint + 1 + i for i, r in enumerate(fresh))
            try:
                if contiguous:
                    await self.apply(fresh)
                else:
                    log.info(
                        "projector gap: checkpoint %d, fetched %d..%d; reading from the store",
                        self.checkpoint,
                        fresh[0].seq,
                        fresh[-1].seq,
                    )
                    await self.catch_up(fresh[-1].seq)
            except CheckpointMismatch as exc:
                # Another writer (a rebuild's swap) moved the checkpoint: start again from it.
                log.warning("projector: %s; re-reading from the checkpoint", exc)
                self.projector.forget()
                await self.read_checkpoint()
                await self.catch_up(fresh[-1].seq)
        await self.ack(msgs)

    async def ack(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()

    async def _ensure_consumer(self) -> None:
        js = self.nc.jetstream()
        stream = self.store.stream
        try:
            info = await js.consumer_info(stream, PROJECTOR_CONSUMER)
        except NotFoundError:
            info = None
        far = self.settings.projector_batch_size * _FAR_BEHIND_BATCHES
        if info is not None and info.delivered.stream_seq + far < self.checkpoint:
            log.info("projector consumer far behind the checkpoint: recreating it there")
            await js.delete_consumer(stream, PROJECTOR_CONSUMER)
            info = None
        if info is None:
            await js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=PROJECTOR_CONSUMER,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self.checkpoint + 1,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self.settings.ack_wait_s,
                    max_ack_pending=max(10_000, 4 * self.settings.projector_batch_size),
                    filter_subject=EVENTS_ALL,
                ),
            )
