"""Credentials in memory, for tests."""

from __future__ import annotations


class FakeCredentials:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.asked: list[str] = []

    async def get(self, name: str) -> str | None:
        self.asked.append(name)
        return self.values.get(name)
