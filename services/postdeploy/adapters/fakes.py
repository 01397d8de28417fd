"""In-memory twins of the post-deploy ports, for unit tests (same contracts as the adapters)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.containers.runtime import ImageNotFound
from services.postdeploy.cron_schedule import CronRecord
from services.postdeploy.ports import (
    BrowserUnavailable,
    CronConflict,
    EdgeResult,
    Level,
    ScannerFailed,
    StoredCron,
)


def key_matches(key_filter: str, key: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    want, have = key_filter.split("."), key.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


class FakeCronStore:
    """One revision counter for the bucket, like a KV stream."""

    def __init__(self) -> None:
        self.records: dict[str, StoredCron] = {}
        self._revision = 0

    def _next(self) -> int:
        self._revision += 1
        return self._revision

    async def entries(self, key_filter: str = ">") -> list[StoredCron]:
        return [self.records[k] for k in sorted(self.records) if key_matches(key_filter, k)]

    async def create(self, record: CronRecord) -> int:
        if record.key in self.records:
            raise CronConflict(f"cron {record.key} exists already")
        rev = self._next()
        self.records[record.key] = StoredCron(record, rev)
        return rev

    async def update(self, record: CronRecord, last: int) -> int:
        current = self.records.get(record.key)
        if current is None or current.revision != last:
            raise CronConflict(f"cron {record.key} is no longer at revision {last}")
        rev = self._next()
        self.records[record.key] = StoredCron(record, rev)
        return rev

    async def delete(self, key: str, last: int | None = None) -> None:
        current = self.records.get(key)
        if last is not None and (current is None or current.revision != last):
            raise CronConflict(f"cron {key} is no longer at revision {last}")
        self.records.pop(key, None)


@dataclass
class FakeRunnerLock:
    held: bool = True
    releases: int = 0

    async def hold(self) -> bool:
        return self.held

    async def release(self) -> None:
        self.releases += 1


@dataclass
class EdgeCall:
    method: str
    host: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeEdgeCaller:
    """Answers every call with `status` (None: no answer) after `duration_s`."""

    status: int | None = 200
    duration_s: float = 0.01
    calls: list[EdgeCall] = field(default_factory=list)

    async def call(
        self, method: str, host: str, path: str, headers: Mapping[str, str], timeout_s: float
    ) -> EdgeResult:
        self.calls.append(EdgeCall(method, host, path, dict(headers)))
        error = None if self.status is not None else "connection refused"
        return EdgeResult(self.status, self.duration_s, error)


@dataclass
class FakeCronSecrets:
    values: dict[tuple[str, str], str] = field(default_factory=dict)

    async def cron_secret(self, project: str, environment: str) -> str | None:
        return self.values.get((project, environment))


@dataclass
class FakeEnvLog:
    lines: list[tuple[str, str, Level]] = field(default_factory=list)

    async def write(self, environment_id: str, line: str, level: Level = "info") -> None:
        self.lines.append((environment_id, line, level))


@dataclass
class FakeScreenshotter:
    png: bytes | None = None  # None: no browser installed
    urls: list[str] = field(default_factory=list)

    async def capture(self, url: str, width: int, height: int) -> bytes:
        if self.png is None:
            raise BrowserUnavailable("no headless browser (fake)")
        self.urls.append(url)
        return self.png


@dataclass
class FakeImageFiles:
    images: dict[str, dict[str, bytes]] = field(default_factory=dict)

    async def read(
        self,
        image: str,
        wanted: Callable[[str], bool],
        *,
        labels: Mapping[str, str],
        max_file_bytes: int,
    ) -> dict[str, bytes]:
        if image not in self.images:
            raise ImageNotFound(f"image {image} is not present on this host")
        files = self.images[image]
        return {p: d for p, d in files.items() if wanted(p) and len(d) <= max_file_bytes}

    async def remove_leftovers(self, labels: Mapping[str, str]) -> None:
        return None  # reading leaves nothing behind here


@dataclass
class FakeScanner:
    report: dict[str, Any] | None = None  # None: the scan fails
    name: str = "fakescan"
    scanned: list[str] = field(default_factory=list)

    async def scan(self, image: str) -> dict[str, Any]:
        self.scanned.append(image)
        if self.report is None:
            raise ScannerFailed("no vulnerability database (offline)")
        return self.report


class FakeClock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
