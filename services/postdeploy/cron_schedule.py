"""Cron schedules (pure): the KV record of one registered cron, and which run of it is due.

Slots are computed on a *schedule clock*: `Settings.cron_minute_s` real seconds make one schedule
minute (60 in production, where the clocks are the same). Tests set it to 1, so a five-field
schedule runs sixty times faster (`* * * * *` fires every second, `*/2 * * * *` every two) while
schedules stay exactly what `slipway.toml` accepts. The two clocks agree at `EPOCH`, so scaled
times stay near the present (croniter and zoneinfo need real dates).

A record remembers the last slot it fired (`last_slot`, whole seconds on the schedule clock). The
due slot is the *latest* slot at or before now that is after `last_slot`, so a runner that was down
for several slots fires one run, not one per missed slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field

from libs.events.values import CronSpec, Frozen

EPOCH = 1_700_000_040.0  # 2023-11-14, a whole minute: the real and the schedule clock agree here


@dataclass(frozen=True)
class CronClock:
    """Maps real time (POSIX seconds) to the schedule clock and back."""

    minute_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.minute_s > 0:
            raise ValueError(f"cron_minute_s must be > 0, got {self.minute_s}")

    @property
    def speed(self) -> float:
        return 60.0 / self.minute_s

    def schedule_time(self, real: float) -> float:
        return EPOCH + (real - EPOCH) * self.speed

    def real_time(self, scheduled: float) -> float:
        return EPOCH + (scheduled - EPOCH) / self.speed


class CronRecord(Frozen):
    """One cron in KV `crons`, owned by the deployment that registered it."""

    key: str = Field(description="KV key: <environment id>.<deployment id>.<index>.")
    project: str
    environment: str
    environment_id: str
    deployment_id: str = Field(description="The deployment that registered it (its owner).")
    admission: int = Field(
        default=0, description="The owner's admission number in the environment (newer wins)."
    )
    index: int = Field(description="Position in slipway.toml's [[crons]].")
    schedule: str
    path: str
    method: str = "GET"
    timezone: str = "UTC"
    registered_at: datetime
    last_slot: int = Field(description="Last slot fired (or registration), schedule clock, s.")
    last_run_at: datetime | None = Field(default=None, description="When the last run started.")
    last_status: int | None = Field(default=None, description="HTTP status of the last run.")
    last_error: str | None = Field(default=None, description="Why the last run got no answer.")
    last_duration_s: float | None = Field(default=None, description="Duration of the last run.")
    runs: int = Field(default=0, description="Runs finished so far.")

    @property
    def spec(self) -> CronSpec:
        return CronSpec(
            schedule=self.schedule, path=self.path, method=self.method, timezone=self.timezone
        )


def new_record(
    key: str,
    *,
    project: str,
    environment: str,
    environment_id: str,
    deployment_id: str,
    admission: int,
    index: int,
    spec: CronSpec,
    now: float,
    clock: CronClock,
) -> CronRecord:
    """A freshly registered cron: no slot before its registration ever fires."""
    return CronRecord(
        key=key,
        project=project,
        environment=environment,
        environment_id=environment_id,
        deployment_id=deployment_id,
        admission=admission,
        index=index,
        schedule=spec.schedule,
        path=spec.path,
        method=spec.method.upper(),
        timezone=spec.timezone,
        registered_at=datetime.fromtimestamp(now, UTC),
        last_slot=math.floor(clock.schedule_time(now)),
    )


def due_slot(record: CronRecord, now: float, clock: CronClock) -> int | None:
    """The slot to fire now (schedule-clock seconds), or None when nothing is due."""
    tz = ZoneInfo(record.timezone)
    current = math.floor(clock.schedule_time(now))
    after_last = croniter(record.schedule, datetime.fromtimestamp(record.last_slot, tz))
    first = int(after_last.get_next(float))
    if first > current:
        return None
    # get_prev is strictly before its start, so start one second after `current`.
    latest = int(croniter(record.schedule, datetime.fromtimestamp(current + 1, tz)).get_prev(float))
    return max(first, latest)


def slot_time(slot: int, clock: CronClock) -> datetime:
    """The real moment a slot stands for (for logs and the request header)."""
    return datetime.fromtimestamp(clock.real_time(slot), UTC)
