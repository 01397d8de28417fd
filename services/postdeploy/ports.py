"""The ports of the post-deploy service: every side effect sits behind one of these.

Real adapters live in `adapters/`, their in-memory twins in `adapters/fakes.py`; contract tests
hold both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from services.postdeploy.cron_schedule import CronRecord

Level = Literal["debug", "info", "warning", "error"]


# ---------------------------------------------------------------- crons


class CronConflict(Exception):
    """The record changed (or appeared, or vanished) since the revision the caller holds."""


@dataclass(frozen=True)
class StoredCron:
    record: CronRecord
    revision: int


class CronStore(Protocol):
    """KV `crons`: one record per (environment, deployment, index)."""

    async def entries(self, key_filter: str = ">") -> list[StoredCron]:
        """Every record whose key matches the filter (`subjects.cron_filter`), sorted by key."""
        ...

    async def create(self, record: CronRecord) -> int:
        """Store a record whose key does not exist yet; raises CronConflict if it does."""
        ...

    async def update(self, record: CronRecord, last: int) -> int:
        """Replace the record if it is still at revision `last`; raises CronConflict."""
        ...

    async def delete(self, key: str, last: int | None = None) -> None:
        """Remove (only if still at `last`, when given: else CronConflict); missing is fine."""
        ...


class RunnerLock(Protocol):
    """The single-runner lock (KV `locks`, key `cron-runner`)."""

    async def hold(self) -> bool:
        """True while this process holds the lock, taking it when free; never steals it."""
        ...

    async def release(self) -> None: ...


@dataclass(frozen=True)
class EdgeResult:
    status: int | None  # None: no answer (refused, timed out)
    duration_s: float
    error: str | None = None


class EdgeCaller(Protocol):
    """HTTP calls to an app through the edge proxy, addressed by its host name."""

    async def call(
        self, method: str, host: str, path: str, headers: Mapping[str, str], timeout_s: float
    ) -> EdgeResult: ...


class CronSecrets(Protocol):
    """The per-environment CRON_SECRET (KV `secrets`, Fernet-encrypted)."""

    async def cron_secret(self, project: str, environment: str) -> str | None:
        """The current value, None when the environment has none."""
        ...


class EnvLog(Protocol):
    """Lines of an environment's log (`logs.env.<environment id>`)."""

    async def write(self, environment_id: str, line: str, level: Level = "info") -> None: ...


# ---------------------------------------------------------------- browsers, images, scanners


class BrowserUnavailable(Exception):
    """No headless browser to run (the job is skipped with this reason)."""


class ScreenshotFailed(Exception):
    """The browser ran but produced no screenshot."""


class Screenshotter(Protocol):
    async def capture(self, url: str, width: int, height: int) -> bytes:
        """A PNG of `url` rendered in a `width` x `height` window."""
        ...


class ImageFiles(Protocol):
    """Files inside a local container image, read without ever starting it."""

    async def read(
        self,
        image: str,
        wanted: Callable[[str], bool],
        *,
        labels: Mapping[str, str],
        max_file_bytes: int,
    ) -> dict[str, bytes]:
        """Regular files whose path (relative, no leading `/`) is `wanted`, up to the size cap.

        Raises libs.containers.runtime.ImageNotFound or DockerUnavailable.
        """
        ...

    async def remove_leftovers(self, labels: Mapping[str, str]) -> None:
        """Cleanup of a stopped attempt: whatever `read` left behind with these labels."""
        ...


class ScannerFailed(Exception):
    """The vulnerability scanner ran and failed (no database, no network, ...)."""


class VulnerabilityScanner(Protocol):
    name: str

    async def scan(self, image: str) -> dict[str, Any]:
        """A CycloneDX document of the image with its `vulnerabilities`."""
        ...
