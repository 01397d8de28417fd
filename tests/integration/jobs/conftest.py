from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.eventstore import BootstrapOptions, JetStreamEventStore, Repository, bootstrap
from tests.integration.jobs.toy import TEST_SETTINGS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jobs_nats_url() -> Iterator[str]:
    """A server per test: durable job consumers and the short lease TTL are its own."""
    binary = Path(sys.executable).parent / "nats-server"
    d = tempfile.mkdtemp()
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "-js", "-sd", d, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def jnc(jobs_nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(jobs_nats_url)
    await bootstrap(conn, BootstrapOptions(lease_ttl_s=TEST_SETTINGS["lease_ttl_s"]))
    yield conn
    await conn.close()


@pytest.fixture
def jrepo(jnc: NATS) -> Repository:
    return Repository(JetStreamEventStore(jnc))
