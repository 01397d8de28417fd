"""The HTTP probe against a real server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.health.probe import http_probe


@pytest.fixture
def app() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = {"/health": 200, "/old": 302}.get(self.path, 503)
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "/health")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_http_probe_returns_the_status_without_following_redirects(app: str) -> None:
    async with httpx.AsyncClient() as client:
        assert await http_probe(f"{app}/health", client, timeout_s=5)() == 200
        assert await http_probe(f"{app}/old", client, timeout_s=5)() == 302
        assert await http_probe(f"{app}/broken", client, timeout_s=5)() == 503


async def test_http_probe_returns_the_error_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with httpx.AsyncClient() as client:
        result = await http_probe(f"http://127.0.0.1:{port}/", client, timeout_s=5)()
    assert isinstance(result, httpx.ConnectError)
