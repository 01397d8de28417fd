"""`slipway up`: the whole platform on one machine, each service its own supervised process.

Starts the embedded NATS (unless SLIPWAY_NATS_URL names one) and Caddy on loopback, bootstraps the
streams, runs the read-model migrations (PostgreSQL when DATABASE_URL is set, else SQLite under
the data dir), then every service; restarts a crashed one with backoff, prefixes its log lines,
and stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
from cryptography.fernet import Fernet

from libs.eventstore import BootstrapOptions, bootstrap
from libs.infra import EmbeddedCaddy, EmbeddedNats
from libs.settings import Settings

SERVICES = ("gateway", "projector", "clone", "build", "deploy", "health", "routing", "postdeploy")
COLORS = ("36", "35", "33", "32", "34", "31", "96", "93")
HTTP_HEALTH = {"gateway": "gateway_port", "projector": "api_port"}


def _secret_file(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.write_text(make + "\n")
    path.chmod(0o600)
    return make


def docker_available() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0][:200]


@dataclass
class Child:
    name: str
    color: str
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    healthy: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(self, settings: Settings, env: dict[str, str], services: list[str]) -> None:
        self.settings = settings
        self.env = env
        self.children = [Child(n, COLORS[i % len(COLORS)]) for i, n in enumerate(services)]
        self.stopping = asyncio.Event()

    def say(self, child: Child | None, line: str) -> None:
        if child is None:
            print(f"\033[1m[slipway]\033[0m {line}", flush=True)
        else:
            print(f"\033[{child.color}m[{child.name:<10}]\033[0m {line}", flush=True)

    async def _pump(self, child: Child, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.say(child, line.decode(errors="replace").rstrip())

    async def _run(self, child: Child) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            child.started_at = time.monotonic()
            child.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"services.{child.name}.main",
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            assert child.proc.stdout is not None
            pump = asyncio.create_task(self._pump(child, child.proc.stdout))
            health = asyncio.create_task(self._wait_healthy(child))
            code = await child.proc.wait()
            health.cancel()
            await pump
            if self.stopping.is_set():
                return
            child.healthy.clear()
            if time.monotonic() - child.started_at > 30:
                backoff = 1.0
            child.restarts += 1
            self.say(None, f"{child.name} exited with {code}; restarting in {backoff:.0f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), backoff)
            backoff = min(backoff * 2, 30.0)

    async def _wait_healthy(self, child: Child) -> None:
        port_attr = HTTP_HEALTH.get(child.name)
        if port_attr is None:
            await asyncio.sleep(1.0)  # executors: alive after a second is healthy
            child.healthy.set()
            return
        url = f"http://127.0.0.1:{getattr(self.settings, port_attr)}/healthz"
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        child.healthy.set()
                        return
                await asyncio.sleep(0.2)

    async def run(self, banner: str) -> None:
        tasks = [asyncio.create_task(self._run(c)) for c in self.children]
        waiter = asyncio.create_task(self._all_healthy())
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait(
            [waiter, stop],
            timeout=120,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not self.stopping.is_set():
            if waiter.done():
                self.say(None, banner)
            else:
                late = [c.name for c in self.children if not c.healthy.is_set()]
                self.say(None, f"still waiting for: {', '.join(late)}")
        await self.stopping.wait()
        await self.shutdown()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _all_healthy(self) -> bool:
        for c in self.children:
            await c.healthy.wait()
        return True

    async def shutdown(self) -> None:
        for c in self.children:
            if c.proc and c.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    c.proc.terminate()
        deadline = time.monotonic() + 10
        for c in self.children:
            if c.proc and c.proc.returncode is None:
                try:
                    await asyncio.wait_for(c.proc.wait(), max(0.1, deadline - time.monotonic()))
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        c.proc.kill()


def available_services() -> list[str]:
    def present(name: str) -> bool:
        try:
            return importlib.util.find_spec(f"services.{name}.main") is not None
        except ModuleNotFoundError:
            return False

    return [s for s in SERVICES if present(s)]


async def _prepare(settings: Settings, nats_url: str, database_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await bootstrap(
            nc,
            BootstrapOptions(
                lease_ttl_s=settings.lease_ttl_s,
                logs_max_age_s=settings.logs_retention_days * 86400,
            ),
        )
    finally:
        await nc.close()
    from services.projector.db import migrate

    await migrate(database_url)


def up(settings: Settings) -> int:
    data = settings.data_dir.absolute()
    data.mkdir(parents=True, exist_ok=True)
    token = settings.admin_token or _secret_file(data / "token", secrets.token_urlsafe(32))
    secret_key = settings.secret_key or _secret_file(
        data / "secret.key", Fernet.generate_key().decode()
    )
    database_url = settings.database_url or f"sqlite+aiosqlite:///{data / 'slipway.db'}"

    embedded_nats: EmbeddedNats | None = None
    caddy: EmbeddedCaddy | None = None
    try:
        if settings.nats_url:
            nats_url = settings.nats_url
        else:
            embedded_nats = EmbeddedNats(data / "nats", port=settings.nats_port).start()
            nats_url = embedded_nats.url
        print(f"[slipway] NATS JetStream at {nats_url}", flush=True)
        caddy = EmbeddedCaddy(
            data / "caddy", admin=settings.caddy_admin, edge_listen=f":{settings.edge_port}"
        ).start()
        print(f"[slipway] Caddy admin at {settings.caddy_admin}", flush=True)
        asyncio.run(_prepare(settings, nats_url, database_url))
        why = docker_available()
        if why:
            print(
                "[slipway] WARNING: no Docker engine "
                f"({why}). Static bundles and static git sites deploy; image builds and "
                "containers need Docker.",
                flush=True,
            )
        env = dict(os.environ)
        env.update(
            SLIPWAY_NATS_URL=nats_url,
            DATABASE_URL=database_url,
            SLIPWAY_ADMIN_TOKEN=token,
            SLIPWAY_SECRET_KEY=secret_key,
            SLIPWAY_DATA_DIR=str(data),
            SLIPWAY_ALLOW_LOCAL_REPOS=os.environ.get("SLIPWAY_ALLOW_LOCAL_REPOS", "true"),
            PYTHONUNBUFFERED="1",
        )
        if why:
            env["SLIPWAY_DOCKER_UNAVAILABLE"] = why
        base = settings.base_domain
        banner = "\n".join(
            [
                "Slipway is up.",
                f"  gateway    http://127.0.0.1:{settings.gateway_port}",
                f"  query API  http://127.0.0.1:{settings.api_port}",
                f"  apps       http://<environment>.<project>.{base}:{settings.edge_port}",
                f"  admin token in {data / 'token'} (the CLI reads it from there)",
                "  Ctrl-C stops everything.",
            ]
        )
        return asyncio.run(_supervise(settings, env, banner))
    finally:
        if caddy is not None:
            caddy.stop()
        if embedded_nats is not None:
            embedded_nats.stop()


async def _supervise(settings: Settings, env: dict[str, str], banner: str) -> int:
    sup = Supervisor(settings, env, available_services())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sup.stopping.set)
    await sup.run(banner)
    print("[slipway] stopped", flush=True)
    return 0
