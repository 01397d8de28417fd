from __future__ import annotations

import socket
from pathlib import Path

import nats
import pytest

from libs.infra import EmbeddedNats, EmbeddedServerError, free_port
from tests.support.names import unique


async def _publish(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        await js.publish(f"{stream}.a", b"kept")
    finally:
        await nc.close()


async def _stored_messages(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await nc.close()


async def test_async_context_serves_jetstream_on_a_picked_port(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path) as server:
        assert server.port > 0
        nc = await nats.connect(server.url)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()
    assert not server.running


async def test_stream_survives_a_restart_on_the_same_url(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    stream = unique("restart")
    server.start()
    try:
        url = server.url
        await _publish(url, stream)
        server.stop()
        assert not server.running
        server.start()
        assert server.url == url
        assert await _stored_messages(url, stream) == 1
    finally:
        server.stop()


def test_a_requested_port_is_used(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedNats(tmp_path, port=port) as server:
        assert server.url == f"nats://127.0.0.1:{port}"
        assert server.monitor_url.startswith("http://127.0.0.1:")


def test_a_taken_port_fails_with_the_server_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedNats(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(EmbeddedServerError, match="nats-server exited"):
            server.start()
    assert not server.running


def test_stop_twice_is_harmless(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path).start()
    server.stop()
    server.stop()
    assert not server.running
