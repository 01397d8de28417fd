from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.names import unique_identifier
from tests.support.postgres import TemporaryPostgres, create_database, drop_database


async def test_a_cluster_starts_answers_and_leaves_nothing_behind() -> None:
    cluster = TemporaryPostgres().start()
    base = cluster.base_dir
    assert base is not None
    try:
        assert cluster.socket_dir.exists()
        engine = create_async_engine(cluster.url)
        try:
            async with engine.connect() as conn:
                setting = await conn.execute(text("SHOW fsync"))
                assert setting.scalar_one() == "off"
        finally:
            await engine.dispose()
    finally:
        cluster.stop()
    assert not base.exists()
    assert cluster.base_dir is None


async def test_a_database_in_use_is_still_dropped(postgres_url: str) -> None:
    name = unique_identifier("leak")
    url = await create_database(postgres_url, name)
    leaked = await asyncpg.connect(url.replace("+asyncpg", ""))
    await drop_database(postgres_url, name)  # with the connection still open
    leaked.terminate()
    server = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        count = await server.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await server.close()
    assert count == 0


async def test_two_test_databases_do_not_share_tables(postgres_url: str) -> None:
    names = [unique_identifier("iso"), unique_identifier("iso")]
    urls = [await create_database(postgres_url, name) for name in names]
    try:
        first, second = (create_async_engine(url) for url in urls)
        async with first.begin() as conn:
            await conn.execute(text("CREATE TABLE only_here (id int)"))
        async with second.connect() as conn:
            found = await conn.execute(text("SELECT to_regclass('only_here') IS NULL"))
            assert found.scalar_one() is True
        await first.dispose()
        await second.dispose()
    finally:
        for name in names:
            await drop_database(postgres_url, name)


def test_a_cluster_left_by_a_killed_run_is_reaped_at_the_next_start() -> None:
    orphan = TemporaryPostgres().start()
    assert orphan.base_dir is not None
    orphan_base = orphan.base_dir
    postmaster = int((orphan_base / "data" / "postmaster.pid").read_text().splitlines()[0])
    gone = subprocess.Popen(["true"])  # stands for the pytest run that was killed
    gone.wait()
    (orphan_base / "owner.pid").write_text(str(gone.pid))
    fresh = TemporaryPostgres().start()
    try:
        assert not orphan_base.exists()
        assert not _running(postmaster)
    finally:
        fresh.stop()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # A stopped postmaster may linger as a zombie until its parent reaps it: that is not running.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
