"""Job log lines to `logs.<deployment>.<job>` as JSON lines, batched per 100 ms or 64 KiB (§5.7)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal

from libs.events.envelope import utcnow
from libs.events.logs import LogLine

Publish = Callable[[str, bytes], Awaitable[None]]
Stream = Literal["stdout", "stderr", "system"]
Level = Literal["debug", "info", "warning", "error"]


class JobLogger:
    """Collects lines and publishes them in batches; `close()` flushes what is left."""

    def __init__(
        self,
        publish: Publish,
        subject: str,
        job: str,
        attempt: int,
        *,
        interval_s: float = 0.1,
        max_bytes: int = 64 * 1024,
    ) -> None:
        self._publish = publish
        self.subject = subject
        self.job = job
        self.attempt = attempt
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self._buf: list[bytes] = []
        self._size = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lines = 0

    def start(self) -> JobLogger:
        self._task = asyncio.create_task(self._loop(), name=f"logs:{self.subject}")
        return self

    def write(self, line: str, *, stream: Stream = "system", level: Level = "info") -> None:
        for part in line.rstrip("\n").split("\n") or [""]:
            rec = LogLine(
                ts=utcnow(),
                job=self.job,
                attempt=self.attempt,
                stream=stream,
                level=level,
                line=part,
            )
            data = rec.model_dump_json().encode() + b"\n"
            self._buf.append(data)
            self._size += len(data)
            self.lines += 1
        if self._size >= self.max_bytes:
            self._wake.set()

    def info(self, line: str) -> None:
        self.write(line)

    def error(self, line: str) -> None:
        self.write(line, level="error")

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):  # not wait_for: see executor
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        while self._buf:
            chunk: list[bytes] = []
            size = 0
            while self._buf and (not chunk or size + len(self._buf[0]) <= self.max_bytes):
                item = self._buf.pop(0)
                chunk.append(item)
                size += len(item)
            self._size -= size
            await self._publish(self.subject, b"".join(chunk))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
