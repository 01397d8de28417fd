"""Rebuild (§8): a fresh read model fed from sequence 1, then an atomic swap with the live one.

The rebuilt model is caught up to the *live checkpoint*, never beyond it, so the swap replaces the
live rows with rows of exactly the same events: a running projector carries on from its own
checkpoint and its cached states stay true. Queries are answered from the live model all along.

- PostgreSQL: the fresh model is built in a new schema `rebuild_<n>` (migrated there). The swap
  is one transaction: lock the live `checkpoint` table (the live projector's next write waits),
  apply the few events the live projector committed meanwhile, then rename the live schema to
  `retired_<n>` and `rebuild_<n>` to the live name; commit; drop `retired_<n>`. A session-level
  advisory lock keeps two rebuilds from running at once.
- SQLite: the fresh model is built in a new file next to the database. The swap ATTACHes it and,
  in one `BEGIN IMMEDIATE` transaction on the live file, checks that the live checkpoint still
  equals the rebuilt one (else catches up again and retries) and copies every table over; WAL
  readers see the old rows until the commit. A file swap (rename) is not used: open connections
  and the `-wal`/`-shm` files belong to a path, and replacing the file under them corrupts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.events import Recorded
from libs.eventstore import JetStreamEventStore
from services.projector.db import check_url, make_engine, migrate, migrate_engine, sessions
from services.projector.feed import feed
from services.projector.project import DEFAULT_CHECKPOINT, Projector, read_checkpoint
from services.projector.schema import metadata

# Some 64-bit number of our own for pg_try_advisory_lock.
_REBUILD_LOCK_KEY = 0x5C1F_3A7E_0B11_D000 >> 1
_CLOSE_ENOUGH_BATCHES = 4
_SQLITE_SWAP_ATTEMPTS = 50


class RebuildError(RuntimeError):
    pass


class RebuildInProgress(RebuildError):
    """Another rebuild of this database is running."""


@dataclass(frozen=True)
class RebuildReport:
    events: int
    checkpoint: int
    seconds: float
    built_in: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            "checkpoint": self.checkpoint,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate),
            "built_in": self.built_in,
        }


class _Filler:
    """Feeds the fresh model from the store, sequence by sequence, up to a target."""

    def __init__(
        self, engine: AsyncEngine, store: JetStreamEventStore, checkpoint: str, batch: int
    ) -> None:
        self.sessions = sessions(engine)
        self.store = store
        self.batch = batch
        self.reached = 0
        self.projector = Projector(store.load_via_leader, checkpoint=checkpoint, cache_size=50_000)

    async def _apply(self, events: list[Recorded]) -> int:
        async with self.sessions() as session:
            self.reached = await self.projector.apply_batch(session, events)
        return self.reached

    async def to(self, target: int) -> int:
        if target < self.reached:
            raise RebuildError(
                f"the live checkpoint went back to {target} (rebuilt {self.reached})"
            )
        if target > self.reached:
            chunks = self.store.replay(from_seq=self.reached + 1, until_seq=target)
            await feed(chunks, self._apply, self.batch)
        if self.reached != target:
            raise RebuildError(f"the store ended at {self.reached}, before seq {target}")
        return self.reached

    async def until_close(self, live: AsyncEngine, checkpoint: str) -> None:
        while True:
            async with sessions(live)() as session:
                target = await read_checkpoint(session, checkpoint)
            if target - self.reached <= self.batch * _CLOSE_ENOUGH_BATCHES:
                return
            await self.to(target)


async def rebuild(
    url: str,
    store: JetStreamEventStore,
    *,
    batch_size: int = 2000,
    checkpoint: str = DEFAULT_CHECKPOINT,
) -> RebuildReport:
    """Rebuilds the read model at `url` from the event store and swaps it in atomically."""
    check_url(url)
    await migrate(url)  # both models have the same, current shape before rows move between them
    started = time.monotonic()
    if url.startswith("postgresql"):
        reached, where = await _rebuild_postgres(url, store, batch_size, checkpoint)
    else:
        reached, where = await _rebuild_sqlite(url, store, batch_size, checkpoint)
    return RebuildReport(reached, reached, time.monotonic() - started, where)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _rebuild_postgres(
    url: str, store: JetStreamEventStore, batch: int, checkpoint: str
) -> tuple[int, str]:
    live = make_engine(url)
    try:
        async with live.connect() as guard:
            got = await guard.scalar(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _REBUILD_LOCK_KEY}
            )
            await guard.commit()
            if not got:
                raise RebuildInProgress("another rebuild of this database is running")
            try:
                return await _postgres_locked(url, live, store, batch, checkpoint)
            finally:
                await guard.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _REBUILD_LOCK_KEY})
                await guard.commit()
    finally:
        await live.dispose()


async def _postgres_locked(
    url: str, live: AsyncEngine, store: JetStreamEventStore, batch: int, checkpoint: str
) -> tuple[int, str]:
    async with live.begin() as conn:
        live_schema = str(await conn.scalar(text("SELECT current_schema()")))
        stale = await conn.scalars(
            text(
                "SELECT nspname FROM pg_namespace "
                "WHERE nspname LIKE 'rebuild\\_%' OR nspname LIKE 'retired\\_%'"
            )
        )
        for name in list(stale):  # left by a rebuild that died; we hold the rebuild lock
            await conn.execute(text(f"DROP SCHEMA {_quote(name)} CASCADE"))
        n = int(time.time() * 1000)
        fresh, retired = f"rebuild_{n}", f"retired_{n}"
        await conn.execute(text(f"CREATE SCHEMA {_quote(fresh)}"))
    built = make_engine(url, schema=fresh)
    try:
        await migrate_engine(built)
        filler = _Filler(built, store, checkpoint, batch)
        await filler.until_close(live, checkpoint)
        async with live.begin() as conn:
            # The live projector's next batch waits here; reads go on.
            await conn.execute(text("LOCK TABLE checkpoint IN EXCLUSIVE MODE"))
            rows = await conn.execute(
                text("SELECT seq FROM checkpoint WHERE name = :n"), {"n": checkpoint}
            )
            target = int(rows.scalar() or 0)
            reached = await filler.to(target)
            await conn.execute(
                text(f"ALTER SCHEMA {_quote(live_schema)} RENAME TO {_quote(retired)}")
            )
            await conn.execute(
                text(f"ALTER SCHEMA {_quote(fresh)} RENAME TO {_quote(live_schema)}")
            )
    except BaseException:
        await built.dispose()
        with contextlib.suppress(Exception):
            async with live.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA IF EXISTS {_quote(fresh)} CASCADE"))
        raise
    await built.dispose()
    async with live.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {_quote(retired)} CASCADE"))
    return reached, fresh


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise RebuildError("an in-memory SQLite database cannot be rebuilt")
    return Path(database)


async def _rebuild_sqlite(
    url: str, store: JetStreamEventStore, batch: int, checkpoint: str
) -> tuple[int, str]:
    path = _sqlite_path(url)
    fresh = path.with_name(f"{path.name}.rebuild-{int(time.time() * 1000)}")
    live, built = make_engine(url), make_engine(f"sqlite+aiosqlite:///{fresh}")
    try:
        await migrate_engine(built)
        filler = _Filler(built, store, checkpoint, batch)
        for _ in range(_SQLITE_SWAP_ATTEMPTS):
            await filler.until_close(live, checkpoint)
            async with sessions(live)() as session:
                await filler.to(await read_checkpoint(session, checkpoint))
            await built.dispose()  # every page on disk before another connection reads the file
            if await asyncio.to_thread(_sqlite_swap, path, fresh, checkpoint, filler.reached):
                return filler.reached, fresh.name
        raise RebuildError("the live projector kept moving; run the rebuild again")
    finally:
        await built.dispose()
        await live.dispose()
        await asyncio.to_thread(_remove_sqlite_files, fresh)


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _sqlite_swap(live: Path, fresh: Path, checkpoint: str, reached: int) -> bool:
    """Copies the fresh model over the live one in one transaction, if the live one is still at
    `reached`; False when the live projector moved on meanwhile."""
    conn = sqlite3.connect(live, isolation_level=None, timeout=30)
    try:
        conn.execute("ATTACH DATABASE ? AS rebuild", (str(fresh),))
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT seq FROM main.checkpoint WHERE name = ?", (checkpoint,)
            ).fetchone()
            if int(row[0] if row else 0) != reached:
                conn.execute("ROLLBACK")
                return False
            tables = metadata.sorted_tables
            for table in reversed(tables):
                conn.execute(f"DELETE FROM main.{_quote(table.name)}")
            for table in tables:
                cols = ", ".join(_quote(c.name) for c in table.columns)
                conn.execute(
                    f"INSERT INTO main.{_quote(table.name)} ({cols}) "
                    f"SELECT {cols} FROM rebuild.{_quote(table.name)}"
                )
            conn.execute("COMMIT")
            return True
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
