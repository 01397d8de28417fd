"""A real Caddy, tiny upstream HTTP servers and the backends of the proxy contract."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.adapters.fake_proxy import FakeProxy

BASE = "localhost"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def caddy_binary() -> str:
    return shutil.which("caddy") or str(Path(".venv/bin/caddy").resolve())


class CaddyProcess:
    """`caddy run` with its own admin and edge ports and HOME in a temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.admin = f"127.0.0.1:{free_port()}"
        self.edge_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, resume: bool = False) -> None:
        config = self.workdir / "initial.json"
        config.write_text(json.dumps({"admin": {"listen": self.admin}}))
        env = {
            **os.environ,
            "HOME": str(self.workdir),
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
        }
        log = (self.workdir / "caddy.log").open("ab")
        args = [caddy_binary(), "run", "--config", str(config), *(["--resume"] if resume else [])]
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        log.close()
        for _ in range(100):
            try:
                httpx.get(f"http://{self.admin}/config/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("caddy did not start: " + (self.workdir / "caddy.log").read_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


class Upstream:
    """A tiny HTTP server in a thread that answers 200 with its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        body = name.encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stalls

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ProxyBackend:
    name: str
    proxy: CaddyAdminProxy | FakeProxy
    caddy: CaddyProcess | None = None
    writes: int = 0  # config writes sent to Caddy since interfere_once

    def interfere_once(self) -> None:
        """Make another writer change the config between our next read and write."""
        if isinstance(self.proxy, FakeProxy):
            self.proxy.interfere(1)
            return
        assert self.caddy is not None
        admin = self.caddy.admin
        armed = {"left": 1}

        async def change_first(request: httpx.Request) -> None:
            if request.method == "POST":
                self.writes += 1
            if request.method == "POST" and armed["left"]:
                armed["left"] -= 1
                async with httpx.AsyncClient() as other:
                    r = await other.post(
                        f"http://{admin}/config/apps/http/servers/other",
                        json={"listen": [f"127.0.0.1:{free_port()}"], "routes": []},
                    )
                    r.raise_for_status()

        client = self.proxy._client
        client.event_hooks = {"request": [change_first], "response": []}
