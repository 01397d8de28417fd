"""A throwaway PostgreSQL cluster for tests (initdb + pg_ctl), and per-test databases in it.

As root, initdb refuses to run, so the cluster belongs to the `postgres` system user (else
`nobody`); the whole cluster lives in one temp dir, removed on `stop()`. Durability is off
(fsync, synchronous_commit, full_page_writes): the data is thrown away anyway.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from libs.infra.process import free_port

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}
BASE_PREFIX = "slipway-testpg-"
_ASYNCPG_URL = re.compile(r"^(postgres|postgresql)(\+[a-z0-9_]+)?://", re.IGNORECASE)


class PostgresUnavailable(RuntimeError):
    """No way to run a local cluster here (binaries or an unprivileged user are missing)."""


class PostgresStartError(RuntimeError):
    """initdb or pg_ctl failed; the message holds their output."""


def asyncpg_url(url: str) -> str:
    """`url` with the SQLAlchemy asyncpg driver: postgres://, postgresql://, postgresql+x://."""
    if not _ASYNCPG_URL.match(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return _ASYNCPG_URL.sub("postgresql+asyncpg://", url, count=1)


def pg_bin_dir() -> Path:
    """The directory of `initdb`/`pg_ctl`: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("pg_ctl")
    if found is not None and shutil.which("initdb") is not None:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresUnavailable("initdb/pg_ctl not found (apt-get install postgresql)")
    return versions[-1].parent


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    name: str


def _cluster_owner() -> _Account | None:
    """None when not root: the cluster then simply belongs to us."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _Account(entry.pw_uid, entry.pw_gid, name)
    raise PostgresUnavailable("running as root and neither `postgres` nor `nobody` exists")


class TemporaryPostgres:
    """A cluster on 127.0.0.1 (a free port), its unix socket in its temp dir, trust auth."""

    def __init__(self, *, superuser: str = "postgres", start_timeout_s: int = 60) -> None:
        self.superuser = superuser
        self.start_timeout_s = start_timeout_s
        self.bin_dir = pg_bin_dir()
        self.owner = _cluster_owner()
        self.base_dir: Path | None = None
        self.port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self._base / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base / "sock"

    @property
    def log_path(self) -> Path:
        return self._base / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (asyncpg driver) of the `postgres` database."""
        if self.port is None:
            raise PostgresStartError("the cluster is not running")
        return f"postgresql+asyncpg://{self.superuser}@127.0.0.1:{self.port}/postgres"

    @property
    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresStartError("the cluster has not been created")
        return self.base_dir

    def start(self, attempts: int = 3) -> TemporaryPostgres:
        self._reap_orphans()
        # Under /tmp (not pytest's 0700 tmp dirs) so the unprivileged owner can reach it.
        self.base_dir = Path(tempfile.mkdtemp(prefix=BASE_PREFIX))
        (self.base_dir / "owner.pid").write_text(str(os.getpid()))
        try:
            self._prepare()
            self._initdb()
            for attempt in range(1, attempts + 1):
                port = free_port()
                if self._pg_ctl("start", port):
                    self.port = port
                    return self
                log = self._log_tail()
                # Another process took the free port between our probe and the bind: retry.
                port_taken = "could not bind" in log or "in use" in log
                if not port_taken or attempt == attempts:
                    raise PostgresStartError(f"pg_ctl start failed:\n{log}")
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.base_dir is None:
            return
        if self.port is not None and not self._pg_ctl("stop", mode="fast"):
            self._pg_ctl("stop", mode="immediate")
        self.port = None
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None

    def _prepare(self) -> None:
        self.socket_dir.mkdir()
        if self.owner is not None:
            for path in (self._base, self.socket_dir):
                os.chown(path, self.owner.uid, self.owner.gid)

    def _initdb(self) -> None:
        command = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser,
            "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        result = self._run(command)
        if result.returncode != 0:
            raise PostgresStartError(f"initdb failed ({result.returncode}):\n{result.stdout}")
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, action: str, port: int | None = None, mode: str = "fast") -> bool:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w"]
        if action == "start":
            command += ["-t", str(self.start_timeout_s), "-l", str(self.log_path)]
            command += ["-o", shlex.join(["-p", str(port)]), "start"]
        else:
            command += ["-t", "30", "-m", mode, "stop"]
        return self._run(command).returncode == 0

    def _reap_orphans(self) -> None:
        """Stop and remove clusters whose test run died without its teardown (killed pytest)."""
        for base in Path(tempfile.gettempdir()).glob(f"{BASE_PREFIX}*"):
            try:
                owner_pid = int((base / "owner.pid").read_text())
            except (OSError, ValueError):
                continue  # being created right now, or not ours to judge
            if _alive(owner_pid):
                continue
            if (base / "data" / "postmaster.pid").exists():
                pg_ctl = str(self.bin_dir / "pg_ctl")
                self._run([pg_ctl, "-D", str(base / "data"), "-w", "-m", "immediate", "stop"], base)
            shutil.rmtree(base, ignore_errors=True)

    def _run(self, command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        cwd = cwd or self._base
        env: Mapping[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "HOME": str(cwd),
        }
        owner = self.owner
        # Output goes to a file, not a pipe: the forked postmaster must not hold our pipe open.
        with tempfile.TemporaryFile(mode="w+") as out:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                user=owner.uid if owner else None,
                group=owner.gid if owner else None,
                extra_groups=[] if owner else None,
                timeout=self.start_timeout_s + 30,
                check=False,
            )
            out.seek(0)
            return subprocess.CompletedProcess(command, result.returncode, out.read())

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_database(server_url: str, name: str) -> str:
    """Create an empty database `name` on the server of `server_url`; return its asyncpg URL."""
    conn = await asyncpg.connect(_plain_dsn(server_url))
    try:
        await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    database_url: str = (
        make_url(asyncpg_url(server_url)).set(database=name).render_as_string(hide_password=False)
    )
    return database_url


async def drop_database(server_url: str, name: str) -> None:
    """Drop `name`, disconnecting whatever still uses it (a leaked pool must not block teardown)."""
    conn = await asyncpg.connect(_plain_dsn(server_url))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()
