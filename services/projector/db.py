"""Engines and migrations of the read model (PostgreSQL via asyncpg, SQLite via aiosqlite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

MIGRATIONS = Path(__file__).parent / "migrations"


class UnsupportedDatabase(ValueError):
    """The URL names a driver the read model does not run on."""


def check_url(url: str) -> str:
    if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise UnsupportedDatabase(
            f"unsupported database URL {url.split('://')[0]!r}://…: use "
            "postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///path/to/file.db"
        )
    return url


def make_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine; SQLite gets WAL and foreign keys so it behaves like the real thing.

    `schema` (PostgreSQL): the schema unqualified names resolve to, e.g. a rebuild's fresh one.
    """
    check_url(url)
    if schema is not None:
        if not url.startswith("postgresql"):
            raise UnsupportedDatabase("a schema other than the default needs PostgreSQL")
        engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
        return engine
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


# pg_advisory_xact_lock key: two processes starting at once migrate one after the other.
_MIGRATION_LOCK_KEY = 0x51_1B_4A_7E


async def migrate_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Runs the migrations on an existing async engine (inside a running event loop)."""
    url = engine.url.render_as_string(hide_password=False)
    for attempt in range(10):
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                    )
                await conn.run_sync(_upgrade, url, revision)
            return
        except OperationalError:
            # SQLite: another process migrates the same file right now ("database is locked").
            if engine.dialect.name != "sqlite" or attempt == 9:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def migrate(url: str, revision: str = "head") -> None:
    """Brings the schema at `url` to `revision` (postgresql+asyncpg:// or sqlite+aiosqlite://)."""
    engine = make_engine(url)
    try:
        await migrate_engine(engine, revision)
    finally:
        await engine.dispose()


def migrate_sync(url: str, revision: str = "head") -> None:
    """The same, for callers without an event loop (runs env.py's own asyncio.run)."""
    command.upgrade(alembic_config(check_url(url)), revision)
