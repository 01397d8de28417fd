"""The `Variables` port: an environment's variable values at the KV revisions of a snapshot.

Events carry variable names and revisions only (§2); the values are read and decrypted when a job
needs them and never logged. `KvVariables` (adapters/kv_variables.py) is the real adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

CRON_SECRET = "CRON_SECRET"
REGISTRY_USER = "SLIPWAY_REGISTRY_USER"
REGISTRY_PASSWORD = "SLIPWAY_REGISTRY_PASSWORD"


class VariableError(Exception):
    """A variable cannot be read (gone from the history, undecryptable, no key); the message
    names the variable and revision, never a value."""


class Variables(Protocol):
    async def resolve(
        self, project: str, environment: str, names_to_revisions: Mapping[str, int]
    ) -> dict[str, str]:
        """The value of every name at exactly its revision; raises VariableError."""
        ...

    async def cron_secret(self, project: str, environment: str) -> str:
        """The environment's current CRON_SECRET; raises VariableError when it has none."""
        ...


class FakeVariables:
    """In memory, with the KV's revision semantics (one counter for the whole bucket)."""

    def __init__(self) -> None:
        self._revision = 0
        self._log: dict[int, tuple[tuple[str, str, str], str | None]] = {}

    def put(self, project: str, environment: str, name: str, value: str) -> int:
        self._revision += 1
        self._log[self._revision] = ((project, environment, name), value)
        return self._revision

    def delete(self, project: str, environment: str, name: str) -> int:
        self._revision += 1
        self._log[self._revision] = ((project, environment, name), None)
        return self._revision

    async def resolve(
        self, project: str, environment: str, names_to_revisions: Mapping[str, int]
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, revision in names_to_revisions.items():
            stored = self._log.get(revision)
            if stored is None or stored[0] != (project, environment, name) or stored[1] is None:
                raise VariableError(missing(project, environment, name, revision))
            out[name] = stored[1]
        return out

    async def cron_secret(self, project: str, environment: str) -> str:
        for key, value in reversed(self._log.values()):
            if key == (project, environment, CRON_SECRET):
                if value is None:
                    break
                return value
        raise VariableError(no_cron_secret(project, environment))


def missing(project: str, environment: str, name: str, revision: int) -> str:
    return (
        f"variable {name} of {project}/{environment} has no value at revision {revision} "
        "(deleted, or beyond the bucket's history): set it again and redeploy"
    )


def no_cron_secret(project: str, environment: str) -> str:
    return f"environment {project}/{environment} has no {CRON_SECRET} in the secrets store"
