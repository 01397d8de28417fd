"""Credentials from the process environment (a stand-in until the secrets KV store lands)."""

from __future__ import annotations

import os


class EnvCredentials:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = environ if environ is not None else dict(os.environ)

    async def get(self, name: str) -> str | None:
        return self.environ.get(name)
