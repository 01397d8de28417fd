"""A real PostgreSQL for the projector tests: `DATABASE_URL`, else a throwaway cluster.

The cluster is started once per session with initdb/pg_ctl (as `nobody` when run by root, since
initdb refuses root) and every test gets a database of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.unit.projector.support import Db, open_db


def _as_asyncpg(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise pytest.UsageError(f"DATABASE_URL must be a PostgreSQL URL, got {url.split(':')[0]}://…")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], run_as: str | None) -> None:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """An admin URL (postgresql+asyncpg://…/postgres) of a server the tests may create DBs on."""
    if url := os.environ.get("DATABASE_URL"):
        yield _as_asyncpg(url)
        return
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("no DATABASE_URL and no initdb/pg_ctl on PATH")
    run_as = "nobody" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="slipway-pg-"))
    data = base / "data"
    if run_as is not None:
        shutil.chown(base, user=run_as)
    port = _free_port()
    _run(
        ["initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        run_as,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -F"
    log = base / "server.log"
    _run(["pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "start"], run_as)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], run_as)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def db(postgres_server: str) -> AsyncIterator[Db]:
    """A migrated, empty read model in a database of its own."""
    name = f"projector_{uuid.uuid4().hex[:16]}"
    admin = postgres_server.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = postgres_server.rpartition("/")
    database = await open_db(f"{base}/{name}")
    try:
        yield database
    finally:
        await database.engine.dispose()
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
