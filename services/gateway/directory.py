"""Projects and environment settings, folded from the log and kept in memory.

Any gateway may have stored the latest change, so every use starts with `sync()`, which returns
once everything stored before the call is folded. Reading the stream on every request would put
a JetStream round trip (queued behind the stream's writes) in front of every webhook, so:

- a core subscription on the project and environment-config subjects sees every such publish
  (the server routes a message to core subscribers before the stream stores it);
- `sync()` sends a PING and waits for the PONG: whatever the server routed to us before, we have;
- only when such a publish is not folded yet (or after a reconnect) does it catch up: a probe
  through the stream's queue (a publish that is always rejected, so it stores nothing) proves the
  stream has handled that publish, then the new events are read from where we are.

So the usual cost is one PING/PONG, shared by concurrent callers, and a change made through any
gateway is seen by a request that arrives after it was stored (on one server; in a cluster the
hint travels one route hop, like any read from a replica).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.subscription import Subscription

from libs.events import catalog as ev
from libs.events.fold import evolve
from libs.events.states import ProjectState
from libs.events.subjects import Aggregate, aggregate_kind_filter, event_subject, events_of_type
from libs.eventstore import JetStreamEventStore

ERR_WRONG_LAST_SEQUENCE = 10071
# Never a project name (`_` is not in a DNS label): the probe subject, never stored.
PROBE_SUBJECT = event_subject(Aggregate.PROJECT, "_probe", "Probe")


@dataclass(frozen=True)
class EnvironmentView:
    """The latest EnvironmentConfigured of one environment and the sequence it was stored at."""

    config: ev.EnvironmentConfigured
    seq: int


class SingleFlight:
    """Runs `fn` for callers; each caller waits for a run that started after it called."""

    def __init__(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._fn = fn
        self._arrivals = 0
        self._done = 0
        self._running: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        self._arrivals += 1
        ticket = self._arrivals
        while self._done < ticket:
            if self._running is None:
                self._running = asyncio.ensure_future(self._run(self._arrivals))
            await asyncio.shield(self._running)

    async def _run(self, upto: int) -> None:
        try:
            await self._fn()
            self._done = max(self._done, upto)
        finally:
            self._running = None


class Directory:
    def __init__(self, store: JetStreamEventStore) -> None:
        self._store = store
        self._nc = store.nc
        self._projects: dict[str, ProjectState] = {}
        self._environments: dict[str, dict[str, EnvironmentView]] = {}
        self._project_seq = 0
        self._env_seq = 0
        self._known: set[str] = set()  # event ids folded
        self._pending: set[str] = set()  # event ids published, not folded yet
        self._stale = True
        self._subs: list[Subscription] = []
        self._reconnects = 0
        self._start_lock = asyncio.Lock()
        self._flush = SingleFlight(self._ping)
        self._catch_up = SingleFlight(self._probe_and_read)

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    # ------------------------------------------------------------------ reads (after sync)

    def project(self, name: str) -> ProjectState | None:
        state = self._projects.get(name)
        return state if state is not None and state.registered else None

    def environments(self, project: str) -> dict[str, EnvironmentView]:
        return dict(self._environments.get(project, {}))

    def environment(self, project: str, environment: str) -> EnvironmentView | None:
        return self._environments.get(project, {}).get(environment)

    # ------------------------------------------------------------------ sync

    async def sync(self) -> None:
        """Returns once every project and environment event stored before the call is folded."""
        if not self._subs:
            await self._start()
        await self._flush()
        await self._drain()
        if self._stale or self._pending:
            await self._catch_up()

    async def stop(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            await sub.unsubscribe()
        self._stale = True

    async def _start(self) -> None:
        async with self._start_lock:
            if self._subs:
                return
            limit = 1_000_000  # a dropped hint would be a missed change: never drop
            for flt in (
                aggregate_kind_filter(Aggregate.PROJECT),
                events_of_type(ev.EnvironmentConfigured.event_type(), Aggregate.ENVIRONMENT),
            ):
                self._subs.append(
                    await self._nc.subscribe(
                        flt, pending_msgs_limit=limit, pending_bytes_limit=limit * 1024
                    )
                )
            self._reconnects = self._reconnect_count()
            self._stale = True  # subscribed first, then read: nothing falls in between

    def _reconnect_count(self) -> int:
        return int(self._nc.stats.get("reconnects", 0))

    async def _ping(self) -> None:
        await self._nc.flush(timeout=5)

    async def _drain(self) -> None:
        for sub in self._subs:
            # Filled in order by the read loop, before the PONG: `next_msg` returns at once.
            while sub.pending_msgs > 0:
                msg = await sub.next_msg(timeout=1)
                if msg.subject == PROBE_SUBJECT:
                    continue
                event_id = (msg.headers or {}).get("Nats-Msg-Id")
                if event_id is None:
                    self._stale = True
                elif event_id not in self._known:
                    self._pending.add(event_id)
        reconnects = self._reconnect_count()
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self._stale = True  # hints may have been missed while disconnected

    async def _probe_and_read(self) -> None:
        waiting, stale = set(self._pending), self._stale
        if waiting:
            await self._probe()
        await asyncio.gather(self._read_projects(), self._read_environments())
        self._pending -= waiting
        if stale:
            self._stale = False

    async def _probe(self) -> None:
        """Waits until the stream has handled every publish routed before this one."""
        resp = await self._nc.request(
            PROBE_SUBJECT,
            b"",
            timeout=self._store.timeout,
            headers={"Nats-Expected-Last-Subject-Sequence": "1"},
        )
        error = json.loads(resp.data).get("error") or {}
        if error.get("err_code") != ERR_WRONG_LAST_SEQUENCE:
            raise RuntimeError(f"unexpected answer to the directory probe: {resp.data[:200]!r}")

    async def _read_projects(self) -> None:
        flt = aggregate_kind_filter(Aggregate.PROJECT)
        async for rec in self._store.read_subjects(flt, from_seq=self._project_seq + 1):
            pid = rec.envelope.aggregate_id
            state = self._projects.get(pid) or ProjectState(id=pid)
            self._projects[pid] = evolve(state, rec)
            self._project_seq = rec.seq
            self._known.add(rec.envelope.event_id)

    async def _read_environments(self) -> None:
        flt = events_of_type(ev.EnvironmentConfigured.event_type(), Aggregate.ENVIRONMENT)
        async for rec in self._store.read_subjects(flt, from_seq=self._env_seq + 1):
            data = rec.envelope.data
            if isinstance(data, ev.EnvironmentConfigured):
                envs = self._environments.setdefault(data.project, {})
                envs[data.environment] = EnvironmentView(data, rec.seq)
            self._env_seq = rec.seq
            self._known.add(rec.envelope.event_id)
