"""A Python app with no dependencies: Slipway's Python preset builds it (requirements.txt)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = os.environ.get("GREETING", "Hello from a Python app")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = b"ok\n"
        elif self.path == "/tasks/tick":  # called by the cron in slipway.toml
            print(f"tick at {datetime.now(UTC).isoformat()}", flush=True)
            body = b"ticked\n"
        else:
            body = f"{GREETING} (deployment {os.environ.get('SLIPWAY_DEPLOYMENT_ID')})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), port), Handler)
    print(f"serving on port {port}", flush=True)
    server.serve_forever()
