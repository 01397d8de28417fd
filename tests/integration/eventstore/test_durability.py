from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from libs.events.encoding import verify_chain
from libs.events.subjects import Aggregate
from libs.eventstore import JetStreamEventStore, bootstrap
from libs.infra import find_binary, free_port
from tests.factories import dep_event, requested, uid


async def _spawn(argv: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


async def _connect_when_ready(url: str) -> NATS:
    """Connects once JetStream answers: after a restart the server first recovers its store."""
    for _ in range(200):
        try:
            nc = await nats.connect(url, allow_reconnect=False, connect_timeout=0.5)
        except Exception:  # refused while the process starts; nats-py raises several kinds
            await asyncio.sleep(0.05)
            continue
        resp = await nc.request("$JS.API.INFO", b"", timeout=2)
        if "error" not in json.loads(resp.data):
            return nc
        await nc.close()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no JetStream at {url}")


async def test_an_acknowledged_append_survives_a_sigkill_of_a_server_syncing_always(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "nats.conf"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"jetstream {{\n  store_dir: {json.dumps(str(tmp_path / 'js'))}\n"
        "  sync_interval: always\n}\n"
    )
    argv = [str(find_binary("nats-server")), "-c", str(config)]
    url = f"nats://127.0.0.1:{port}"
    server = await _spawn(argv)
    try:
        nc = await _connect_when_ready(url)
        await bootstrap(nc)
        d = uid("d")
        stored = await JetStreamEventStore(nc).append(
            dep_event(d, requested(d)), expected_seq=0, prev_hash=None
        )
        server.send_signal(signal.SIGKILL)  # no shutdown, no flush: only what is on disk counts
        await server.wait()
        await nc.close()

        server = await _spawn(argv)
        nc = await _connect_when_ready(url)
        try:
            events = await JetStreamEventStore(nc).load(Aggregate.DEPLOYMENT, d)
            assert [(e.seq, e.envelope.event_id) for e in events] == [
                (stored.seq, stored.envelope.event_id)
            ]
            assert verify_chain((e.seq, e.raw) for e in events) == 1
            await bootstrap(nc)  # the recovered stream still meets every requirement
        finally:
            await nc.close()
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()
