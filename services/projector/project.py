"""The projection: recorded events, in stream order, to rows and the checkpoint in one transaction.

A deployment's rows are always rewritten from its folded state (`records.deployment_record`), so
the projected record equals the fold by construction. Folded states are cached; on a miss the
aggregate's earlier events are re-read through the injected `load_events` (the projector only has
events), unless the deployment has no row yet — then nothing came before and the state is fresh.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from libs.events import Aggregate, DeploymentState, Recorded, evolve, fold_deployment
from libs.events import catalog as ev
from services.projector import records
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


async def upsert(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_cols: Sequence[str] | None = None,
) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE, in the one syntax PostgreSQL and SQLite share."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(list(rows))
    cols = update_cols if update_cols is not None else [c for c in rows[0] if c not in keys]
    if cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(stmt)


async def read_checkpoint(session: AsyncSession, name: str = DEFAULT_CHECKPOINT) -> int:
    seq = await session.scalar(select(Checkpoint.seq).where(Checkpoint.name == name))
    return int(seq or 0)


async def advance_checkpoint(session: AsyncSession, name: str, first: int, last: int) -> None:
    """Moves the checkpoint from `first - 1` to `last`; never overwrites a newer writer."""
    await upsert(session, Checkpoint, [{"name": name, "seq": 0}], ["name"], [])
    result = await session.execute(
        update(Checkpoint)
        .where(Checkpoint.name == name, Checkpoint.seq == first - 1)
        .values(seq=last)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CheckpointMismatch(name, first - 1, await read_checkpoint(session, name))


def _check_order(events: Sequence[Recorded]) -> None:
    for before, after in itertools.pairwise(events):
        if after.seq != before.seq + 1:
            raise BatchOutOfOrder(
                f"batch sequences must be contiguous and increasing: {before.seq} then {after.seq}"
            )


class Projector:
    """Applies batches of recorded events to the read model (one active instance, §8)."""

    def __init__(
        self,
        load_events: LoadEvents,
        *,
        checkpoint: str = DEFAULT_CHECKPOINT,
        cache_size: int = 1024,
    ) -> None:
        self._load_events = load_events
        self.checkpoint = checkpoint
        self._cache: OrderedDict[str, DeploymentState] = OrderedDict()
        self._cache_size = cache_size

    def forget(self) -> None:
        """Drops the cached states (e.g. after a rebuild swapped the schema)."""
        self._cache.clear()

    async def position(self, session: AsyncSession) -> int:
        return await read_checkpoint(session, self.checkpoint)

    async def apply_batch(self, session: AsyncSession, events: Sequence[Recorded]) -> int:
        """Applies `events` (stream order) in one transaction; returns the checkpoint reached.

        Events at or below the checkpoint are skipped (redeliveries). The rest must start at
        checkpoint + 1, else `CheckpointMismatch` and nothing is written.
        """
        staged: dict[str, DeploymentState] = {}
        async with session.begin():
            current = await read_checkpoint(session, self.checkpoint)
            fresh = [e for e in events if e.seq > current]
            if not fresh:
                return current
            _check_order(fresh)
            # First, so a concurrent writer blocks here on the row lock and then finds 0 rows.
            await advance_checkpoint(session, self.checkpoint, fresh[0].seq, fresh[-1].seq)
            for rec in fresh:
                await self._apply(session, rec, staged)
            reached = fresh[-1].seq
        for did, state in staged.items():  # only once committed: a rollback must not leak
            self._remember(did, state)
        return reached

    def _remember(self, deployment_id: str, state: DeploymentState) -> None:
        self._cache[deployment_id] = state
        self._cache.move_to_end(deployment_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _apply(
        self, session: AsyncSession, rec: Recorded, staged: dict[str, DeploymentState]
    ) -> None:
        aggregate = rec.envelope.aggregate
        if aggregate is Aggregate.DEPLOYMENT:
            await self._apply_deployment(session, rec, staged)
        elif aggregate is Aggregate.ENVIRONMENT:
            await apply_environment_event(session, rec)
        else:
            await apply_project_event(session, rec)

    async def _state_before(
        self, session: AsyncSession, rec: Recorded, staged: dict[str, DeploymentState]
    ) -> DeploymentState | None:
        """The deployment's state before `rec`, or None when it has no rows yet."""
        did = rec.envelope.aggregate_id
        state = staged.get(did) or self._cache.get(did)
        if state is not None:
            return state
        projected = await session.scalar(select(Deployment.seq).where(Deployment.id == did))
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

    async def _apply_deployment(
        self, session: AsyncSession, rec: Recorded, staged: dict[str, DeploymentState]
    ) -> None:
        did = rec.envelope.aggregate_id
        before = await self._state_before(session, rec, staged)
        after = evolve(before or DeploymentState(id=did), rec)
        staged[did] = after
        await write_deployment(session, before, after)


async def write_deployment(
    session: AsyncSession, before: DeploymentState | None, after: DeploymentState
) -> None:
    """Rewrites the rows of `after`, touching only what differs from `before` (None: all)."""
    new = records.deployment_record(after)
    old = records.deployment_record(before) if before is not None else None
    did = after.id
    await upsert(session, Deployment, [records.deployment_columns(new)], ["id"])
    old_jobs = {j["id"]: j for j in old["jobs"]} if old else {}
    changed = [records.job_columns(did, j) for j in new["jobs"] if old_jobs.get(j["id"]) != j]
    await upsert(session, Job, changed, ["deployment_id", "job_id"])
    if old is None or old["containers"] != new["containers"]:
        await session.execute(delete(Container).where(Container.deployment_id == did))
        rows = records.container_columns(did, new["containers"])
        await upsert(session, Container, rows, ["deployment_id", "container_id"])
    arts = records.artifacts_of(after)
    if before is None or records.artifacts_of(before) != arts:
        await session.execute(delete(Artifact).where(Artifact.deployment_id == did))
        rows = [{"deployment_id": did, **a} for a in arts]
        await upsert(session, Artifact, rows, ["deployment_id", "name"])


def _environment_names(aggregate_id: str) -> tuple[str, str]:
    # The aggregate id is `<project>_<environment>`; a DNS label cannot contain `_`.
    project, _, name = aggregate_id.partition("_")
    return project, name


async def apply_environment_event(session: AsyncSession, rec: Recorded) -> None:
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
    await upsert(session, Environment, [row], ["id"], cols)


async def apply_project_event(session: AsyncSession, rec: Recorded) -> None:
    env, d = rec.envelope, rec.envelope.data
    pid = env.aggregate_id
    row = await session.get(Project, pid)
    if row is None:
        row = Project(id=pid, name=pid, registered=False, seq=0)
        session.add(row)
    if isinstance(d, ev.ProjectRegistered) and not row.registered:
        row.registered = True
        row.name = d.name
        row.repo_url = d.repo_url
        row.webhook_secret_revision = d.webhook_secret_revision
        row.created_at = env.occurred_at
    elif isinstance(d, ev.ProjectUpdated):
        if d.repo_url is not None:
            row.repo_url = d.repo_url
        if d.webhook_secret_revision is not None:
            row.webhook_secret_revision = d.webhook_secret_revision
    row.updated_at = env.occurred_at
    row.seq = rec.seq
    await session.flush()
