"""Slipway started as `slipway up` starts it, and helpers to drive it: the end-to-end test and
`bench/e2e.py` use the same ones."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from libs.infra.process import free_port
from services.gateway.webhooks_github import sign_github

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "webhooks" / "github_push.json"
SECRET = "e2e-webhook-secret"
SERVER = """\
import http.server, os
STATUS, BODY = {status}, {body!r}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(STATUS)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(BODY.encode())
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""


@dataclass
class Slipway:
    env: dict[str, str]
    gateway: str
    api: str
    edge: int
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@contextlib.contextmanager
def start_slipway(
    tmp_path: Path, python_base_image: str, database_url: str | None = None
) -> Iterator[Slipway]:
    """`slipway up` in its own process group, on free ports; stopped with Ctrl-C at the end."""
    data = tmp_path / "data"
    ports = {k: free_port() for k in ("gateway", "api", "edge", "nats", "admin")}
    env = dict(os.environ)
    env.update(
        SLIPWAY_DATA_DIR=str(data),
        SLIPWAY_GATEWAY_PORT=str(ports["gateway"]),
        SLIPWAY_API_PORT=str(ports["api"]),
        SLIPWAY_EDGE_PORT=str(ports["edge"]),
        SLIPWAY_NATS_PORT=str(ports["nats"]),
        SLIPWAY_CADDY_ADMIN=f"127.0.0.1:{ports['admin']}",
        SLIPWAY_BASE_IMAGE_PYTHON=python_base_image,
        SLIPWAY_HEALTH_5XX_LIMIT_S="3",
        SLIPWAY_HEALTH_TOTAL_LIMIT_S="30",
        SLIPWAY_DRAIN_S="1",
        SLIPWAY_STOP_GRACE_S="2",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    env.pop("SLIPWAY_NATS_URL", None)
    env.pop("NATS_URL", None)
    log = tmp_path / "slipway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slipway.cli", "up"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while b"Slipway is up." not in log.read_bytes():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield Slipway(
            env=env,
            gateway=f"http://127.0.0.1:{ports['gateway']}",
            api=f"http://127.0.0.1:{ports['api']}",
            edge=ports["edge"],
            token=(data / "token").read_text().strip(),
            proc=proc,
            log=log,
        )
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _remove_containers()


def _remove_containers() -> None:
    import docker

    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": "slipway.managed=true"}):
        if c.labels.get("slipway.project", "").startswith(("e2e-", "bench-")):
            c.remove(force=True)
    client.close()


class Repo:
    def __init__(self, path: Path, base_image: str) -> None:
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        (path / "Dockerfile").write_text(
            f'FROM {base_image}\nCOPY server.py /app/server.py\nCMD ["python3", "/app/server.py"]\n'
        )

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.com"}
        env |= {"GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.com"}
        out = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def commit(self, body: str, status: int = 200) -> str:
        (self.path / "server.py").write_text(SERVER.format(status=status, body=body))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"serve {body}")
        return self.git("rev-parse", "HEAD")


@dataclass
class Poller:
    """A client polling the app through Caddy all the time: every failure is recorded."""

    url: str
    host: str
    bodies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    r = client.get(self.url, headers={"Host": self.host})
                    if r.status_code >= 300:
                        self.failures.append(f"{r.status_code} {r.text[:80]}")
                    else:
                        self.bodies.append(r.text)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)


def push(s: Slipway, project: str, repo: Repo, sha: str) -> list[dict[str, Any]]:
    payload = json.loads(FIXTURE.read_text())
    payload["ref"] = "refs/heads/main"
    payload["before"] = payload.get("after", "0" * 40)
    payload["after"] = sha
    payload["deleted"] = False
    payload["head_commit"] = {**(payload.get("head_commit") or {}), "id": sha, "message": "e2e"}
    payload["repository"]["clone_url"] = str(repo.path)
    body = json.dumps(payload).encode()
    r = httpx.post(
        f"{s.gateway}/webhooks/github/{project}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign_github(body, SECRET),
        },
        timeout=30,
    )
    assert r.status_code == 202, r.text
    deployments: list[dict[str, Any]] = r.json()["deployments"]
    return deployments


def wait_status(s: Slipway, dep_id: str, wanted: set[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.get(f"{s.api}/api/deployments/{dep_id}", headers=s.headers(), timeout=10)
        if r.status_code == 200:
            record = r.json()
            if record["status"] in wanted:
                return record
        time.sleep(0.3)
    raise AssertionError(f"{dep_id} never reached {wanted}: {json.dumps(record)[:2000]}")


def served(s: Slipway, host: str) -> tuple[int, str]:
    r = httpx.get(f"http://127.0.0.1:{s.edge}/", headers={"Host": host}, timeout=10)
    return r.status_code, r.text


def create_project(s: Slipway, name: str, repo: Repo) -> None:
    """A project whose production environment tracks `main` of `repo`, signed with SECRET."""
    r = httpx.post(
        f"{s.gateway}/api/projects",
        headers=s.headers(),
        json={
            "name": name,
            "repo_url": str(repo.path),
            "webhook_secret": SECRET,
            "environments": [{"name": "production", "branch": "main"}],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
