"""The projection: recorded events, in stream order, to rows and the checkpoint in one transaction.

A deployment's rows are always rewritten from its folded state (`records.deployment_record`), so
the projected record equals the fold by construction. Folded states are cached; on a miss the
aggregate's earlier events are re-read through the injected `load_events` (the projector only has
events), unless the deployment has no row yet — then nothing came before and the state is fresh.

A batch is folded in memory first and written at the end, one bulk upsert per table: a
deployment touched by twenty events of the batch costs one row write, not twenty, and every
statement is an executemany (few round trips; §8's catch-up rate depends on it).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import JSON, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from libs.events import Aggregate, DeploymentState, Recorded, evolve, fold_deployment
from libs.events import catalog as ev
from services.projector import records
from services.projector.records import Record
from services.projector.schema import (
    Artifact,
    Base,
    Checkpoint,
    Container,
    Deployment,
    Environment,
    Job,
    Project,
)

LoadEvents = Callable[[Aggregate, str], Awaitable[Sequence[Recorded]]]

DEFAULT_CHECKPOINT = "events"


class CheckpointMismatch(RuntimeError):
    """The batch does not start right after the checkpoint: a gap, or a second writer."""

    def __init__(self, name: str, expected: int, actual: int | None) -> None:
        self.name, self.expected, self.actual = name, expected, actual
        super().__init__(
            f"checkpoint {name!r} is at {actual}, the batch needs it at {expected}: "
            "another writer advanced it or events are missing"
        )


class BatchOutOfOrder(ValueError):
    """A batch whose sequences are not strictly increasing and contiguous."""


class StaleHistory(RuntimeError):
    """`load_events` returned less than the read model already holds (a lagging replica)."""


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def _upsert_statement(dialect: str, table: Table, keys: Sequence[str], cols: Sequence[str]) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE, in the one syntax PostgreSQL and SQLite share."""
    cache_key = (dialect, table.name, tuple(keys), tuple(cols))
    stmt = _STATEMENTS.get(cache_key)
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table)
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        _STATEMENTS[cache_key] = stmt
    return stmt


async def upsert(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_cols: Sequence[str] | None = None,
) -> None:
    """Upserts `rows` (all with the same columns) in one executemany."""
    if not rows:
        return
    conn = await session.connection()
    cols = update_cols if update_cols is not None else [c for c in rows[0] if c not in keys]
    table = model.__table__
    assert isinstance(table, Table)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg":
        # Straight to asyncpg's executemany with positional rows: SQLAlchemy's per-row parameter
        # processing (and its stdlib JSON encoder) cost more than everything else per event.
        sql, convert = _pg_upsert(table, tuple(rows[0]), tuple(keys), tuple(cols))
        await conn.exec_driver_sql(sql, [convert(row) for row in rows])
        return
    await conn.execute(_upsert_statement(conn.dialect.name, table, keys, cols), list(rows))


RowParams = Callable[[dict[str, Any]], tuple[Any, ...]]
_PG_UPSERTS: dict[
    tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], tuple[str, RowParams]
] = {}


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _pg_upsert(
    table: Table, names: tuple[str, ...], keys: tuple[str, ...], cols: tuple[str, ...]
) -> tuple[str, RowParams]:
    """The upsert as PostgreSQL text with $n parameters, and a row -> parameters function.

    JSON columns are sent as text (the dialect's json codec takes text); timestamps are aware
    datetimes already (the records write UTC), which asyncpg sends as they are.
    """
    cache_key = (table.name, names, keys, cols)
    cached = _PG_UPSERTS.get(cache_key)
    if cached is not None:
        return cached
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    sets = ", ".join(f"{_quoted(c)} = EXCLUDED.{_quoted(c)}" for c in cols)
    conflict = f"DO UPDATE SET {sets}" if cols else "DO NOTHING"
    columns = ", ".join(_quoted(n) for n in names)
    conflict_keys = ", ".join(_quoted(k) for k in keys)
    sql = (
        f"INSERT INTO {_quoted(table.name)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({conflict_keys}) {conflict}"
    )
    is_json = [isinstance(table.c[n].type, JSON) for n in names]
    if not any(is_json):

        def convert(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(row[n] for n in names)

    else:
        pairs = list(zip(names, is_json, strict=True))

        def convert(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(_json_text(row[n]) if j else row[n] for n, j in pairs)

    _PG_UPSERTS[cache_key] = (sql, convert)
    return sql, convert


def _quoted(name: str) -> str:
    return f'"{name}"'


async def read_checkpoint(session: AsyncSession, name: str = DEFAULT_CHECKPOINT) -> int:
    seq = await session.scalar(select(Checkpoint.seq).where(Checkpoint.name == name))
    return int(seq or 0)


async def advance_checkpoint(session: AsyncSession, name: str, first: int, last: int) -> None:
    """Moves the checkpoint from `first - 1` to `last`; never overwrites a newer writer."""
    result = await session.execute(
        update(Checkpoint)
        .where(Checkpoint.name == name, Checkpoint.seq == first - 1)
        .values(seq=last)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    if first == 1:
        # The very first batch creates the row; a concurrent first writer waits on the key and
        # then inserts nothing.
        conn = await session.connection()
        table = Checkpoint.__table__
        assert isinstance(table, Table)
        stmt = _upsert_statement(conn.dialect.name, table, ["name"], [])
        created = await conn.execute(stmt, {"name": name, "seq": last})
        if created.rowcount == 1:
            return
    raise CheckpointMismatch(name, first - 1, await read_checkpoint(session, name))


def _check_order(events: Sequence[Recorded]) -> None:
    for before, after in itertools.pairwise(events):
        if after.seq != before.seq + 1:
            raise BatchOutOfOrder(
                f"batch sequences must be contiguous and increasing: {before.seq} then {after.seq}"
            )


@dataclass
class Staged:
    """What a batch changes, folded in memory until the batch is written."""

    # deployment id -> (state before the batch (None: no rows yet), state after the last event)
    deployments: dict[str, tuple[DeploymentState | None, DeploymentState]] = field(
        default_factory=dict
    )
    # Records already written for the states before the batch (from the cache), and written now.
    before_records: dict[str, Record] = field(default_factory=dict)
    written: dict[str, Record] = field(default_factory=dict)
    # environment id -> (row to insert, columns to update on conflict)
    environments: dict[str, tuple[dict[str, Any], list[str]]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> full row
    projected: dict[str, int] = field(default_factory=dict)  # deployments with rows -> their seq
    prefetched: set[str] = field(default_factory=set)  # ids whose `projected` entry is known

    def state(self, deployment_id: str) -> DeploymentState | None:
        entry = self.deployments.get(deployment_id)
        return entry[1] if entry is not None else None

    async def prefetch(self, session: AsyncSession, events: Sequence[Recorded]) -> None:
        """One query for the projected rows of every deployment and project in the batch."""
        dids: set[str] = set()
        for rec in events:
            env = rec.envelope
            if env.aggregate is not Aggregate.DEPLOYMENT or env.aggregate_id in self.prefetched:
                continue
            if isinstance(env.data, ev.DeploymentRequested) and env.aggregate_id not in dids:
                # A deployment is created once, with this event first: nothing came before it.
                self.prefetched.add(env.aggregate_id)
                continue
            dids.add(env.aggregate_id)
        for chunk in _chunks(sorted(dids)):
            rows = await session.execute(
                select(Deployment.id, Deployment.seq).where(Deployment.id.in_(chunk))
            )
            self.projected.update({did: int(seq) for did, seq in rows})
        self.prefetched.update(dids)
        pids = {
            r.envelope.aggregate_id for r in events if r.envelope.aggregate is Aggregate.PROJECT
        } - set(self.projects)
        for chunk in _chunks(sorted(pids)):
            for row in await session.scalars(select(Project).where(Project.id.in_(chunk))):
                self.projects[row.id] = {
                    c: getattr(row, c) for c in Project.__table__.columns.keys()
                }

    async def write(self, session: AsyncSession) -> None:
        deployment_rows: list[dict[str, Any]] = []
        job_rows: list[dict[str, Any]] = []
        container_rows: list[dict[str, Any]] = []
        artifact_rows: list[dict[str, Any]] = []
        replace_containers: list[str] = []
        replace_artifacts: list[str] = []
        for did, (before, after) in self.deployments.items():
            new = records.deployment_record(after)
            self.written[did] = new
            old = self.before_records.get(did)
            if old is None and before is not None:
                old = records.deployment_record(before)
            deployment_rows.append(records.deployment_columns(new))
            old_jobs = {j["id"]: j for j in old["jobs"]} if old else {}
            job_rows += [
                records.job_columns(did, j) for j in new["jobs"] if old_jobs.get(j["id"]) != j
            ]
            if old is None or old["containers"] != new["containers"]:
                if old is not None:
                    replace_containers.append(did)
                container_rows += records.container_columns(did, new["containers"])
            arts = records.artifacts_of(after)
            if before is None or records.artifacts_of(before) != arts:
                if before is not None:
                    replace_artifacts.append(did)
                artifact_rows += [{"deployment_id": did, **a} for a in arts]
        await upsert(session, Deployment, deployment_rows, ["id"])
        await upsert(session, Job, job_rows, ["deployment_id", "job_id"])
        for chunk in _chunks(replace_containers):
            await session.execute(delete(Container).where(Container.deployment_id.in_(chunk)))
        await upsert(session, Container, container_rows, ["deployment_id", "container_id"])
        for chunk in _chunks(replace_artifacts):
            await session.execute(delete(Artifact).where(Artifact.deployment_id.in_(chunk)))
        await upsert(session, Artifact, artifact_rows, ["deployment_id", "name"])
        by_shape: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        for row, env_cols in self.environments.values():
            by_shape.setdefault((tuple(sorted(row)), tuple(sorted(env_cols))), []).append(row)
        for (_, shape_cols), rows in by_shape.items():
            await upsert(session, Environment, rows, ["id"], list(shape_cols))
        await upsert(session, Project, list(self.projects.values()), ["id"])


def _chunks(items: Sequence[str], size: int = 1000) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Projector:
    """Applies batches of recorded events to the read model (one active instance, §8)."""

    def __init__(
        self,
        load_events: LoadEvents,
        *,
        checkpoint: str = DEFAULT_CHECKPOINT,
        cache_size: int = 4096,
    ) -> None:
        self._load_events = load_events
        self.checkpoint = checkpoint
        # Folded states, each with the record last written for it (the next diff's old side).
        self._cache: OrderedDict[str, tuple[DeploymentState, Record]] = OrderedDict()
        self._cache_size = cache_size
        self._reached: int | None = None  # the checkpoint this instance last committed

    def forget(self) -> None:
        """Drops the cached states (e.g. after a rebuild swapped the schema)."""
        self._cache.clear()
        self._reached = None

    async def position(self, session: AsyncSession) -> int:
        return await read_checkpoint(session, self.checkpoint)

    async def apply_batch(self, session: AsyncSession, events: Sequence[Recorded]) -> int:
        """Applies `events` (stream order) in one transaction; returns the checkpoint reached.

        Events at or below the checkpoint are skipped (redeliveries). The rest must start at
        checkpoint + 1, else `CheckpointMismatch` and nothing is written.
        """
        staged = Staged()
        async with session.begin():
            current = await read_checkpoint(session, self.checkpoint)
            if self._reached is not None and current != self._reached:
                # Someone else moved the checkpoint (a rebuild's swap): the cache may be stale.
                self.forget()
            fresh = [e for e in events if e.seq > current]
            if not fresh:
                self._reached = current
                return current
            _check_order(fresh)
            # First, so a concurrent writer blocks here on the row lock and then finds 0 rows.
            await advance_checkpoint(session, self.checkpoint, fresh[0].seq, fresh[-1].seq)
            uncached = [
                r
                for r in fresh
                if r.envelope.aggregate is not Aggregate.DEPLOYMENT
                or r.envelope.aggregate_id not in self._cache
            ]
            await staged.prefetch(session, uncached)
            for rec in fresh:
                await self._apply(session, rec, staged)
            await staged.write(session)
            reached = fresh[-1].seq
        self._reached = reached
        for did, (_, state) in staged.deployments.items():  # only once committed
            self._remember(did, state, staged.written[did])
        return reached

    def _remember(self, deployment_id: str, state: DeploymentState, record: Record) -> None:
        self._cache[deployment_id] = (state, record)
        self._cache.move_to_end(deployment_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _apply(self, session: AsyncSession, rec: Recorded, staged: Staged) -> None:
        aggregate = rec.envelope.aggregate
        if aggregate is Aggregate.DEPLOYMENT:
            await self._apply_deployment(session, rec, staged)
        elif aggregate is Aggregate.ENVIRONMENT:
            stage_environment_event(staged, rec)
        else:
            await stage_project_event(session, staged, rec)

    async def _state_before(
        self, session: AsyncSession, rec: Recorded, staged: Staged
    ) -> DeploymentState | None:
        """The deployment's state before `rec`, or None when it has no rows yet."""
        did = rec.envelope.aggregate_id
        state = staged.state(did)
        if state is not None:
            return state
        cached = self._cache.get(did)
        if cached is not None:
            staged.before_records[did] = cached[1]
            return cached[0]
        if did not in staged.prefetched:
            await staged.prefetch(session, [rec])
        projected = staged.projected.get(did)
        if projected is None:
            return None
        history = [r for r in await self._load_events(Aggregate.DEPLOYMENT, did) if r.seq < rec.seq]
        state = fold_deployment(history, did)
        if state.last_seq != projected:
            raise StaleHistory(
                f"deployment {did}: loaded history ends at seq {state.last_seq}, "
                f"the read model holds {projected}"
            )
        return state

    async def _apply_deployment(self, session: AsyncSession, rec: Recorded, staged: Staged) -> None:
        did = rec.envelope.aggregate_id
        entry = staged.deployments.get(did)
        if entry is not None:
            staged.deployments[did] = (entry[0], evolve(entry[1], rec))
            return
        before = await self._state_before(session, rec, staged)
        staged.deployments[did] = (before, evolve(before or DeploymentState(id=did), rec))


def _environment_names(aggregate_id: str) -> tuple[str, str]:
    # The aggregate id is `<project>_<environment>`; a DNS label cannot contain `_`.
    project, _, name = aggregate_id.partition("_")
    return project, name


def stage_environment_event(staged: Staged, rec: Recorded) -> None:
    """Merges the event's columns into the environment's pending upsert."""
    env, d = rec.envelope, rec.envelope.data
    project, name = _environment_names(env.aggregate_id)
    row: dict[str, Any] = {
        "id": env.aggregate_id,
        "project": project,
        "name": name,
        "updated_at": env.occurred_at,
        "seq": rec.seq,
    }
    cols = ["updated_at", "seq"]
    if isinstance(d, ev.EnvironmentConfigured):
        row.update(
            project=d.project,
            name=d.environment,
            branch=d.branch,
            config=d.model_dump(mode="json", exclude={"project", "environment"}),
        )
        cols += ["branch", "config"]
    elif isinstance(d, ev.TrafficSwitched):
        row.update(
            current_deployment_id=d.deployment_id,
            route={
                "mode": d.mode,
                "deployment_id": d.deployment_id,
                "upstreams": list(d.upstreams),
                "static_root": d.static_root,
                "admission_seq": d.admission_seq,
                "seq": rec.seq,
            },
        )
        cols += ["current_deployment_id", "route"]
    pending = staged.environments.get(env.aggregate_id)
    if pending is None:
        staged.environments[env.aggregate_id] = (row, cols)
        return
    # Like two upserts in a row: the first insert's values stay, later events set their columns.
    merged, merged_cols = pending
    merged.update({c: row[c] for c in cols})
    merged.update({k: v for k, v in row.items() if k not in merged})
    merged_cols += [c for c in cols if c not in merged_cols]


async def stage_project_event(session: AsyncSession, staged: Staged, rec: Recorded) -> None:
    env, d = rec.envelope, rec.envelope.data
    pid = env.aggregate_id
    if pid not in staged.projects:
        await staged.prefetch(session, [rec])
    row = staged.projects.setdefault(
        pid,
        {
            "id": pid,
            "name": pid,
            "repo_url": None,
            "webhook_secret_revision": None,
            "registered": False,
            "created_at": None,
            "updated_at": None,
            "seq": 0,
        },
    )
    if isinstance(d, ev.ProjectRegistered) and not row["registered"]:
        row.update(
            registered=True,
            name=d.name,
            repo_url=d.repo_url,
            webhook_secret_revision=d.webhook_secret_revision,
            created_at=env.occurred_at,
        )
    elif isinstance(d, ev.ProjectUpdated):
        if d.repo_url is not None:
            row["repo_url"] = d.repo_url
        if d.webhook_secret_revision is not None:
            row["webhook_secret_revision"] = d.webhook_secret_revision
    row["updated_at"] = env.occurred_at
    row["seq"] = rec.seq
