"""A tiny HTTP app (standard library only) that says which deployment is serving."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body, ctype = b"ok\n", "text/plain"
        else:
            info = {
                "hello": "from a Dockerfile app",
                "deployment": os.environ.get("SLIPWAY_DEPLOYMENT_ID"),
                "environment": os.environ.get("SLIPWAY_ENVIRONMENT"),
                "commit": os.environ.get("SLIPWAY_COMMIT_SHA"),
            }
            body, ctype = (json.dumps(info) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"listening on {os.environ.get('HOST', '0.0.0.0')}:{port}", flush=True)
    ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), port), Handler).serve_forever()
