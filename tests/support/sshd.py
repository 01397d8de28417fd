"""A real OpenSSH server on loopback for the git-over-ssh tests: its own host key, one client key
authorised for the current user, no password logins. Debian's `openssh-server` provides sshd."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd")


def find_sshd() -> str | None:
    found = next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), None)
    return found or shutil.which("sshd")


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    client_key: str  # the authorised private key (OpenSSH format)
    other_key: str  # a valid key the server does not know

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def _keypair(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_text()


@contextmanager
def ssh_server(root: Path, sshd: str) -> Iterator[SshServer]:
    root.mkdir(parents=True, exist_ok=True)
    _keypair(root / "host_key")
    client = _keypair(root / "client_key")
    other = _keypair(root / "other_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\n"
        "UsePAM no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    log = (root / "sshd.log").open("wb")
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"sshd did not start: {(root / 'sshd.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)
        yield SshServer(port, getpass.getuser(), client, other)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
