"""At most N builds at once on this host (§6), across every build process running here.

A slot is an exclusive `flock` on one of N lock files in a directory all build processes of the
host share. The kernel drops a lock with its holder, so a killed process never keeps a slot.
Waiting is a short poll, so a deployment that ends while waiting stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path


def default_slot_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"slipway-build-slots-{os.getuid()}"


class HostBuildSlots:
    def __init__(self, directory: Path | None, slots: int, *, poll_s: float = 0.1) -> None:
        if slots < 1:
            raise ValueError(f"build slots must be at least 1, got {slots}")
        self.directory = directory or default_slot_dir()
        self.slots = slots
        self.poll_s = poll_s

    def _try_take(self) -> tuple[int, int] | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for n in range(self.slots):
            fd = os.open(self.directory / f"slot-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return n, fd
        return None

    @contextlib.asynccontextmanager
    async def acquire(self, on_wait: Callable[[str], None] | None = None) -> AsyncIterator[int]:
        """Hold one slot for the body; yields its number. `on_wait` hears once that we wait."""
        told = False
        # Synchronous on purpose (a non-blocking flock is instant): a cancellation can then never
        # fall between taking a lock and owning it.
        while (taken := self._try_take()) is None:
            if not told and on_wait is not None:
                on_wait(f"waiting for a build slot ({self.slots} builds already run on this host)")
                told = True
            await asyncio.sleep(self.poll_s)
        n, fd = taken
        try:
            yield n
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
