"""The event store on JetStream (§2): version-checked appends, atomic batches, direct-get loads."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry import trace

from libs.events import registry
from libs.events.envelope import Envelope
from libs.events.fold import Recorded
from libs.events.subjects import EVENTS_ALL, EVENTS_STREAM, Aggregate, aggregate_filter
from libs.eventstore.errors import (
    AppendRejected,
    DuplicateBatch,
    StaleRead,
    VersionConflict,
)
from libs.eventstore.replay import (
    REPLAY_CHUNK,
    REPLAY_STALL_S,
    REPLAY_WINDOW,
    StoredMessage,
    replay_stored,
    reply_fields,
    server_time,
)
from libs.telemetry import inject_headers

ERR_WRONG_LAST_SEQUENCE = 10071
ERR_BATCH_DUPLICATE_ID = 10201
DIRECT_BATCH = 512
# Group commit (see `JetStreamEventStore.append`): how many appends go straight to the server at
# once before further ones are queued and committed together as one atomic batch, and the most
# messages one such batch carries (the server's own limit is 1,000).
GROUP_COMMIT_AFTER = 4
GROUP_COMMIT_MAX = 256


@dataclass(frozen=True)
class Appended:
    """Result of one append: the stored sequence and whether it was already there."""

    seq: int
    duplicate: bool
    envelope: Envelope  # sealed: prev_hash and hash set


@dataclass(frozen=True)
class PendingAppend:
    """One message of an atomic batch: an event and the version its aggregate must be at."""

    envelope: Envelope
    expected_seq: int
    prev_hash: str | None


@dataclass
class _Queued:
    """An append waiting for the next group commit."""

    envelope: Envelope  # sealed
    raw: bytes
    headers: dict[str, str]
    expected_seq: int
    done: asyncio.Future[Appended]


@dataclass
class _DirectBatch:
    done: asyncio.Future[int]  # how many more messages match after this batch
    msgs: list[Msg] = field(default_factory=list)


def _headers(env: Envelope, expected_seq: int, extra: dict[str, str] | None) -> dict[str, str]:
    h = {
        "Nats-Msg-Id": env.event_id,
        "Nats-Expected-Last-Subject-Sequence": str(expected_seq),
        "Nats-Expected-Last-Subject-Sequence-Subject": aggregate_filter(
            env.aggregate, env.aggregate_id
        ),
    }
    if extra:
        h.update(extra)
    if trace.get_current_span().get_span_context().is_valid:
        # The trace travels in headers, never in the stored event (§3).
        h = inject_headers(h)
    return h


def _parse_ts(value: str) -> datetime:
    # Server stamps carry nanoseconds; Python keeps microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def _rfc3339(ts: datetime) -> str:
    if ts.tzinfo is None:
        # The server reads RFC 3339; a naive time would silently mean the host's zone.
        raise ValueError("start_time must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stored_from_delivery(msg: Msg) -> StoredMessage:
    """A consumer's delivery with its stream sequence and exact server time (from its reply:
    nats-py's metadata goes through a float and can be a microsecond off what loads see)."""
    seq, _, ts_ns, _ = reply_fields(msg.reply or "")
    return StoredMessage(seq, msg.subject, server_time(ts_ns), msg.data)


def recorded_from_delivery(msg: Msg) -> Recorded:
    """A consumer's delivery of an event, decoded."""
    stored = stored_from_delivery(msg)
    return Recorded(stored.seq, stored.stored_at, stored.raw, registry.decode(stored.raw))


def recorded_from_msg(msg: Msg) -> Recorded:
    hdr = msg.headers or {}
    return Recorded(
        seq=int(hdr["Nats-Sequence"]),
        stored_at=_parse_ts(hdr["Nats-Time-Stamp"]),
        raw=msg.data,
        envelope=registry.decode(msg.data),
    )


class JetStreamEventStore:
    """Appends and reads events of SLIPWAY_EVENTS. Owns no state beyond the connection."""

    def __init__(
        self,
        nc: NATS,
        *,
        stream: str = EVENTS_STREAM,
        timeout: float = 5.0,
        stale_retry_s: float = 0.1,
        stale_budget_s: float = 2.0,
        group_commit_after: int | None = GROUP_COMMIT_AFTER,
    ) -> None:
        self.nc = nc
        self.stream = stream
        self.timeout = timeout
        # A load behind the caller's sequence is retried every `stale_retry_s` for at most
        # `stale_budget_s` (§2: "reload or nak for 100 ms") before StaleRead.
        self.stale_retry_s = stale_retry_s
        self.stale_budget_s = stale_budget_s
        self._direct_prefix: str | None = None
        self._direct_lock = asyncio.Lock()
        self._direct_pending: dict[str, _DirectBatch] = {}
        # None turns group commit off: every append is its own request; 0 queues every append.
        self.group_commit_after = group_commit_after
        self.group_commits = 0  # batches committed for queued appends (observability, tests)
        self._in_flight = 0
        self._queue: list[_Queued] = []
        self._committer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ appends

    async def append(
        self,
        envelope: Envelope,
        *,
        expected_seq: int,
        prev_hash: str | None,
        headers: dict[str, str] | None = None,
    ) -> Appended:
        """Appends one event if its aggregate is still at `expected_seq` (0 = create-once).

        Returns the stored sequence; a duplicate id returns the original sequence with
        `duplicate=True` (the caller reloads before anything else). Raises VersionConflict.

        With `sync_interval: always` the server syncs every message to disk, one after the other,
        so many concurrent appends are bounded by the disk's sync rate. Group commit: while
        `group_commit_after` appends are in flight, further ones queue and go together as one
        atomic batch — one sync for all, each message still with its own id and version check.
        If the batch is refused (a conflict or a stored id in any of them: all-or-nothing, nothing
        was stored) each queued append is sent on its own, so every caller gets exactly the
        answer a lone append would have had.
        """
        sealed, raw = envelope.sealed(prev_hash)
        headers = _headers(sealed, expected_seq, headers)
        limit = self.group_commit_after
        if limit is not None and self._in_flight >= limit:
            done: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
            # Retrieved even when the caller was cancelled meanwhile (no "never retrieved").
            done.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._queue.append(_Queued(sealed, raw, headers, expected_seq, done))
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._commit_queued(), name="group-commit")
            return await asyncio.shield(done)
        self._in_flight += 1
        try:
            return await self._append_one(sealed, raw, headers, expected_seq)
        finally:
            self._in_flight -= 1

    async def _append_one(
        self, sealed: Envelope, raw: bytes, headers: dict[str, str], expected_seq: int
    ) -> Appended:
        resp = await self.nc.request(sealed.subject, raw, timeout=self.timeout, headers=headers)
        data = json.loads(resp.data)
        err = data.get("error")
        if err:
            code = err.get("err_code")
            if code == ERR_WRONG_LAST_SEQUENCE:
                raise VersionConflict(
                    aggregate_filter(sealed.aggregate, sealed.aggregate_id),
                    expected_seq,
                    err.get("description", ""),
                )
            raise AppendRejected(code, err.get("description", ""))
        return Appended(int(data["seq"]), bool(data.get("duplicate")), sealed)

    async def _commit_queued(self) -> None:
        """Commits the queue batch by batch until it is empty (one committer per store)."""
        take: list[_Queued] = []
        try:
            while self._queue:
                # One message per aggregate in a batch: a second one's version check would fail
                # the whole batch. It waits for the next.
                take, rest, keys = [], [], set()
                for q in self._queue:
                    key = aggregate_filter(q.envelope.aggregate, q.envelope.aggregate_id)
                    if key in keys or len(take) >= GROUP_COMMIT_MAX:
                        rest.append(q)
                    else:
                        keys.add(key)
                        take.append(q)
                self._queue = rest
                self._in_flight += 1
                try:
                    await self._commit(take)
                finally:
                    self._in_flight -= 1
        except BaseException as exc:  # cancelled (the loop is closing): nobody may wait forever
            for q in take + self._queue:
                if not q.done.done():
                    q.done.set_exception(ConnectionError(f"append not confirmed: {exc!r}"))
            self._queue = []
            raise

    async def _commit(self, take: list[_Queued]) -> None:
        async def alone(q: _Queued) -> None:
            try:
                result = await self._append_one(q.envelope, q.raw, q.headers, q.expected_seq)
            except Exception as exc:
                if not q.done.done():
                    q.done.set_exception(exc)
                return
            if not q.done.done():
                q.done.set_result(result)

        if len(take) == 1:
            await alone(take[0])
            return
        batch_id = uuid.uuid4().hex
        try:
            for n, q in enumerate(take, 1):
                h = dict(q.headers)
                h["Nats-Batch-Id"] = batch_id
                h["Nats-Batch-Sequence"] = str(n)
                if n < len(take):
                    await self.nc.publish(q.envelope.subject, q.raw, headers=h)
                    continue
                h["Nats-Batch-Commit"] = "1"
                reply = await self.nc.request(
                    q.envelope.subject, q.raw, timeout=self.timeout, headers=h
                )
            data = json.loads(reply.data)
        except Exception as exc:  # no answer: like a lone append's timeout, the caller decides
            for q in take:
                if not q.done.done():
                    q.done.set_exception(exc)
            return
        if data.get("error"):
            # All or nothing, and it was nothing: each one alone gets its own exact answer.
            await asyncio.gather(*(alone(q) for q in take))
            return
        if data.get("batch") != batch_id or data.get("count") != len(take):
            # Not confirmed as one batch (a server without atomic batches stores each message
            # on its own): the ids tell each append where it went.
            await asyncio.gather(*(alone(q) for q in take))
            return
        self.group_commits += 1
        first = int(data["seq"]) - len(take) + 1
        for i, q in enumerate(take):
            if not q.done.done():
                q.done.set_result(Appended(first + i, False, q.envelope))

    async def append_batch(
        self, items: Sequence[PendingAppend], *, headers: dict[str, str] | None = None
    ) -> list[Appended]:
        """Appends events of several aggregates atomically: all are stored or none.

        Each message carries its own version check. A batch replayed with stored ids raises
        DuplicateBatch (err 10201); a stale version raises VersionConflict and stores nothing.
        """
        if not items:
            return []
        batch_id = uuid.uuid4().hex
        sealed: list[tuple[Envelope, bytes, dict[str, str]]] = []
        chain: dict[tuple[Aggregate, str], tuple[int, str | None]] = {}
        for n, item in enumerate(items, 1):
            key = (item.envelope.aggregate, item.envelope.aggregate_id)
            prev = chain.get(key)
            # Two events of one aggregate in a batch: the second links to the first.
            prev_hash = prev[1] if prev else item.prev_hash
            env, raw = item.envelope.sealed(prev_hash)
            h = _headers(env, item.expected_seq, headers)
            if prev is not None:
                del h["Nats-Expected-Last-Subject-Sequence"]
                del h["Nats-Expected-Last-Subject-Sequence-Subject"]
            h["Nats-Batch-Id"] = batch_id
            h["Nats-Batch-Sequence"] = str(n)
            if n == len(items):
                h["Nats-Batch-Commit"] = "1"
            chain[key] = (item.expected_seq, env.hash)
            sealed.append((env, raw, h))

        reply: Msg | None = None
        for n, (env, raw, h) in enumerate(sealed, 1):
            if n == len(sealed) or n == 1:
                reply = await self.nc.request(env.subject, raw, timeout=self.timeout, headers=h)
                if n < len(sealed) and reply.data:
                    self._raise_batch_error(json.loads(reply.data), items)
            else:
                await self.nc.publish(env.subject, raw, headers=h)
        assert reply is not None
        data = json.loads(reply.data)
        self._raise_batch_error(data, items)
        last = int(data["seq"])
        first = last - len(sealed) + 1
        return [Appended(first + i, False, env) for i, (env, _, _) in enumerate(sealed)]

    @staticmethod
    def _raise_batch_error(data: dict[str, Any], items: Sequence[PendingAppend]) -> None:
        err = data.get("error")
        if not err:
            return
        code = err.get("err_code")
        if code == ERR_BATCH_DUPLICATE_ID:
            raise DuplicateBatch(err.get("description", ""))
        if code == ERR_WRONG_LAST_SEQUENCE:
            first = items[0].envelope
            raise VersionConflict(
                aggregate_filter(first.aggregate, first.aggregate_id),
                items[0].expected_seq,
                err.get("description", ""),
            )
        raise AppendRejected(code, err.get("description", ""))

    # ------------------------------------------------------------------ reads

    async def _direct_inbox(self) -> str:
        # One wildcard reply subscription for every direct get of this store, made on first use:
        # a subscription per read would cost a SUB, an UNSUB and a task each time.
        if self._direct_prefix is None:
            async with self._direct_lock:
                if self._direct_prefix is None:
                    prefix = self.nc.new_inbox() + "."
                    await self.nc.subscribe(prefix + "*", cb=self._on_direct_reply)
                    self._direct_prefix = prefix
        return self._direct_prefix

    async def _on_direct_reply(self, msg: Msg) -> None:
        batch = self._direct_pending.get(msg.subject.rpartition(".")[2])
        if batch is None or batch.done.done():
            return
        hdr = msg.headers or {}
        status = hdr.get("Status")
        if not status:
            batch.msgs.append(msg)
        elif status == "404":
            batch.done.set_result(0)
        elif status == "204":  # end of batch
            batch.done.set_result(int(hdr.get("Nats-Num-Pending", "0")))
        else:
            description = hdr.get("Description", "direct get failed")
            batch.done.set_exception(AppendRejected(int(status), description))

    async def _direct_batch(self, request: dict[str, Any]) -> tuple[list[Msg], int]:
        """One batch direct get; returns the messages and how many more match."""
        prefix = await self._direct_inbox()
        token = uuid.uuid4().hex
        batch = _DirectBatch(asyncio.get_running_loop().create_future())
        self._direct_pending[token] = batch
        try:
            await self.nc.publish(
                f"$JS.API.DIRECT.GET.{self.stream}",
                json.dumps(request).encode(),
                reply=prefix + token,
            )
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that arrives as the reply completes, and a cancelled reader would run on.
                async with asyncio.timeout(self.timeout):
                    pending = await batch.done
            except TimeoutError:
                raise NatsTimeout from None
            return batch.msgs, pending
        finally:
            del self._direct_pending[token]

    async def read_raw(
        self,
        subject_filter: str,
        *,
        from_seq: int = 1,
        start_time: datetime | None = None,
        batch: int = DIRECT_BATCH,
    ) -> AsyncGenerator[StoredMessage, None]:
        """Stored messages matching a filter, in stream order, undecoded: export and
        verification work on the exact bytes, and any stream with `allow_direct` can be read
        (the query API reads SLIPWAY_LOGS through a store named after it)."""
        request: dict[str, Any] = {"next_by_subj": subject_filter, "batch": batch}
        if start_time is not None:
            request["start_time"] = _rfc3339(start_time)
        else:
            request["seq"] = max(1, from_seq)
        while True:
            msgs, pending = await self._direct_batch(request)
            for msg in msgs:
                hdr = msg.headers or {}
                yield StoredMessage(
                    seq=int(hdr["Nats-Sequence"]),
                    subject=hdr.get("Nats-Subject", msg.subject),
                    stored_at=_parse_ts(hdr["Nats-Time-Stamp"]),
                    raw=msg.data,
                )
            if not msgs or pending == 0:
                return
            request.pop("start_time", None)
            request["seq"] = int((msgs[-1].headers or {})["Nats-Sequence"]) + 1

    async def read_subjects(
        self,
        subject_filter: str,
        *,
        from_seq: int = 1,
        start_time: datetime | None = None,
        until_seq: int | None = None,
        batch: int = DIRECT_BATCH,
    ) -> AsyncGenerator[Recorded, None]:
        """Stored events matching a filter, in stream order, from a sequence or a time.

        `start_time` (timezone-aware) selects events stored at or after that server time;
        `until_seq` stops after that stream sequence.
        """
        request: dict[str, Any] = {"next_by_subj": subject_filter, "batch": batch}
        if start_time is not None:
            request["start_time"] = _rfc3339(start_time)
        else:
            request["seq"] = max(1, from_seq)
        while True:
            if until_seq is not None:
                if request.get("seq", 1) > until_seq:
                    return
                if "seq" in request:
                    request["batch"] = min(batch, until_seq - request["seq"] + 1)
            msgs, pending = await self._direct_batch(request)
            for msg in msgs:
                rec = recorded_from_msg(msg)
                if until_seq is not None and rec.seq > until_seq:
                    return
                yield rec
            if not msgs or pending == 0:
                return
            request.pop("start_time", None)
            request["seq"] = int((msgs[-1].headers or {})["Nats-Sequence"]) + 1

    async def load(
        self, aggregate: Aggregate, aggregate_id: str, *, min_seq: int = 0, after_seq: int = 0
    ) -> list[Recorded]:
        """One aggregate's events by batch direct get, with the sequence guard of §2.

        `min_seq`: the stream sequence of the message that caused this load; the aggregate's
        last event must be at or beyond it, else the read came from a lagging replica and is
        retried every `stale_retry_s` (raises StaleRead after `stale_budget_s`).
        """
        deadline = asyncio.get_running_loop().time() + self.stale_budget_s
        while True:
            events = [
                e
                async for e in self.read_subjects(
                    aggregate_filter(aggregate, aggregate_id), from_seq=after_seq + 1
                )
            ]
            last = events[-1].seq if events else after_seq
            if last >= min_seq:
                return events
            if asyncio.get_running_loop().time() + self.stale_retry_s > deadline:
                break
            await asyncio.sleep(self.stale_retry_s)
        raise StaleRead(f"{aggregate.value} {aggregate_id}: not at seq {min_seq} yet")

    async def load_via_leader(
        self, aggregate: Aggregate, aggregate_id: str, *, after_seq: int = 0
    ) -> list[Recorded]:
        """Other aggregates are read through the stream leader (STREAM.MSG.GET), never a replica."""
        out: list[Recorded] = []
        seq = after_seq + 1
        subj = aggregate_filter(aggregate, aggregate_id)
        while True:
            resp = await self.nc.request(
                f"$JS.API.STREAM.MSG.GET.{self.stream}",
                json.dumps({"seq": seq, "next_by_subj": subj}).encode(),
                timeout=self.timeout,
            )
            data = json.loads(resp.data)
            if "error" in data:
                if data["error"].get("code") == 404:
                    return out
                raise AppendRejected(data["error"].get("err_code"), data["error"]["description"])
            m = data["message"]
            raw = base64.b64decode(m["data"])
            out.append(
                Recorded(
                    seq=int(m["seq"]),
                    stored_at=_parse_ts(m["time"]),
                    raw=raw,
                    envelope=registry.decode(raw),
                )
            )
            seq = int(m["seq"]) + 1

    async def count_via_leader(self, aggregate: Aggregate, aggregate_id: str) -> int | None:
        """How many events the aggregate has, from the leader's subject index: no message is
        read, and no block is searched. None when the server does not say."""
        resp = await self.nc.request(
            f"$JS.API.STREAM.INFO.{self.stream}",
            json.dumps({"subjects_filter": aggregate_filter(aggregate, aggregate_id)}).encode(),
            timeout=self.timeout,
        )
        data = json.loads(resp.data)
        state = data.get("state")
        if "error" in data or not isinstance(state, dict):
            return None
        if int(data.get("total", 0)) > len(state.get("subjects") or {}):
            return None  # a paged answer: not all subjects are here
        return sum(int(n) for n in (state.get("subjects") or {}).values())

    async def last_seq(self) -> int:
        resp = await self.nc.request(
            f"$JS.API.STREAM.INFO.{self.stream}", b"", timeout=self.timeout
        )
        return int(json.loads(resp.data)["state"]["last_seq"])

    async def read_all(
        self, *, from_seq: int = 1, start_time: datetime | None = None, until_seq: int | None = None
    ) -> AsyncGenerator[Recorded, None]:
        async for rec in self.read_subjects(
            EVENTS_ALL, from_seq=from_seq, start_time=start_time, until_seq=until_seq
        ):
            yield rec

    async def replay(
        self,
        subject_filter: str = EVENTS_ALL,
        *,
        from_seq: int = 1,
        until_seq: int | None = None,
        chunk: int = REPLAY_CHUNK,
        window: int = REPLAY_WINDOW,
    ) -> AsyncGenerator[list[Recorded], None]:
        """Stored events in stream order, decoded, in chunks, up to `until_seq` or to the last
        event stored when the replay began: the bulk reader (catch-up, rebuild)."""
        async for batch in self.replay_stored(
            subject_filter, from_seq=from_seq, until_seq=until_seq, chunk=chunk, window=window
        ):
            yield [Recorded(m.seq, m.stored_at, m.raw, registry.decode(m.raw)) for m in batch]

    async def replay_stored(
        self,
        subject_filter: str = EVENTS_ALL,
        *,
        from_seq: int = 1,
        until_seq: int | None = None,
        chunk: int = REPLAY_CHUNK,
        window: int = REPLAY_WINDOW,
        stall_s: float = REPLAY_STALL_S,
    ) -> AsyncGenerator[list[StoredMessage], None]:
        """`replay` without decoding: the stored messages (see `libs.eventstore.replay`).

        A push consumer served by the stream leader, several times faster than direct gets;
        at most `window` messages wait in memory however slow the reader is.
        """
        target = until_seq if until_seq is not None else await self.last_seq()
        async for batch in replay_stored(
            self.nc,
            self.stream,
            subject_filter,
            from_seq=max(1, from_seq),
            target=target,
            chunk=chunk,
            window=window,
            stall_s=stall_s,
        ):
            yield batch

    async def follow(
        self, subject_filter: str = EVENTS_ALL, *, from_seq: int = 1
    ) -> AsyncGenerator[Recorded, None]:
        """Stored events from `from_seq`, then live ones as they are appended (ordered consumer)."""
        js = self.nc.jetstream()
        sub = await js.subscribe(
            subject_filter,
            ordered_consumer=True,
            stream=self.stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, from_seq)
            ),
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=3600)
                except NatsTimeout:
                    continue
                yield recorded_from_delivery(msg)
        finally:
            await sub.unsubscribe()
