"""The cron runner: exactly one active in the whole installation (KV lock `cron-runner`).

Every `cron_tick_s` (aligned to multiples of it) the lock holder reads every schedule, claims each
due slot by writing it into the record under the revision it read (`update(last=revision)`), and
only then calls the app. A slot is therefore fired at most once even if two runners believe they
hold the lock for a moment (a paused holder waking up after the takeover). The call goes through
the edge to the environment's host, with `Authorization: Bearer <CRON_SECRET>`; its status and
duration go to the environment log and back into the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from libs.events.hosts import environment_hosts
from libs.settings import Settings
from services.postdeploy.cron_schedule import CronClock, CronRecord, due_slot, slot_time
from services.postdeploy.crons import split_active
from services.postdeploy.ports import (
    CronConflict,
    CronSecrets,
    CronStore,
    EdgeCaller,
    EdgeResult,
    EnvLog,
    Level,
    RunnerLock,
)

log = logging.getLogger("slipway.postdeploy.cron_runner")

USER_AGENT = "slipway-cron/1"
SLOT_HEADER = "X-Slipway-Cron-Slot"
KEY_HEADER = "X-Slipway-Cron"


class CronRunner:
    def __init__(
        self,
        *,
        store: CronStore,
        lock: RunnerLock,
        caller: EdgeCaller,
        secrets: CronSecrets,
        env_log: EnvLog,
        settings: Settings,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lock = lock
        self.caller = caller
        self.secrets = secrets
        self.env_log = env_log
        self.settings = settings
        self.clock = CronClock(settings.cron_minute_s)
        self.now = now
        self._runs: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CronRunner:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="cron-runner")
        return self

    async def stop(self) -> None:
        # The flag ends the loop even when a client call swallows the cancel (3.11's wait_for
        # inside nats-py's requests can), and the wait is bounded: a stop never hangs.
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.wait([self._loop_task], timeout=5)
        await self.drain()
        await self.lock.release()

    async def drain(self) -> None:
        """Waits for the runs in flight (their outcome is logged and recorded)."""
        while self._runs:
            await asyncio.gather(*list(self._runs), return_exceptions=True)

    async def _loop(self) -> None:
        tick = self.settings.cron_tick_s
        while not self._stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cron tick failed; trying again on the next one")
            now = time.time()
            await asyncio.sleep(tick - (now % tick) + min(0.05, tick / 10))

    # ------------------------------------------------------------------ one tick

    async def tick(self) -> list[CronRecord]:
        """Fires every due slot (in the background); returns the claimed records."""
        if not await self.lock.hold():
            return []
        active, stale = split_active(await self.store.entries())
        for entry in stale:
            with contextlib.suppress(CronConflict):
                await self.store.delete(entry.record.key, last=entry.revision)
        now = self.now()
        claimed = []
        for entry in active:
            record = entry.record
            try:
                slot = due_slot(record, now, self.clock)
            except (ValueError, KeyError) as exc:  # a record we cannot read: say so, go on
                log.warning("cron %s has an unusable schedule: %s", record.key, exc)
                continue
            if slot is None:
                continue
            mine = record.model_copy(
                update={"last_slot": slot, "last_run_at": datetime.fromtimestamp(now, UTC)}
            )
            try:
                await self.store.update(mine, last=entry.revision)
            except CronConflict:
                continue  # somebody else claimed it (or it was replaced): not ours to fire
            claimed.append(mine)
            task = asyncio.create_task(self._fire(mine, slot), name=f"cron:{record.key}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)
        return claimed

    async def _fire(self, record: CronRecord, slot: int) -> None:
        host = environment_hosts(record.project, record.environment, self.settings.base_domain)[0]
        headers = {
            "User-Agent": USER_AGENT,
            KEY_HEADER: record.key,
            SLOT_HEADER: slot_time(slot, self.clock).isoformat().replace("+00:00", "Z"),
        }
        try:
            secret = await self.secrets.cron_secret(record.project, record.environment)
        except Exception as exc:
            secret = None
            await self._log(record, f"cron {record.method} {record.path}: {exc}", "warning")
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        result = await self.caller.call(
            record.method, host, record.path, headers, self.settings.cron_call_timeout_s
        )
        await self._log(record, _describe(record, result), _level(result))
        await self._record(record.key, slot, result)

    async def _log(self, record: CronRecord, line: str, level: Level) -> None:
        try:
            await self.env_log.write(record.environment_id, line, level)
        except Exception as exc:
            log.warning("cannot write the log of %s: %s", record.environment_id, exc)

    async def _record(self, key: str, slot: int, result: EdgeResult, attempts: int = 3) -> None:
        for _ in range(attempts):
            found = await self.store.entries(key)
            if not found or found[0].record.last_slot != slot:
                return  # removed or replaced meanwhile, or a later slot already claimed
            current = found[0]
            done = current.record.model_copy(
                update={
                    "last_status": result.status,
                    "last_error": result.error,
                    "last_duration_s": round(result.duration_s, 3),
                    "runs": current.record.runs + 1,
                }
            )
            try:
                await self.store.update(done, last=current.revision)
                return
            except CronConflict:
                continue


def _level(result: EdgeResult) -> Level:
    if result.status is None or result.status >= 500:
        return "error"
    return "warning" if result.status >= 400 else "info"


def _describe(record: CronRecord, result: EdgeResult) -> str:
    outcome = str(result.status) if result.status is not None else f"failed ({result.error})"
    return (
        f"cron {record.method} {record.path} [{record.schedule}] -> {outcome} "
        f"in {result.duration_s:.3f}s (deployment {record.deployment_id})"
    )
