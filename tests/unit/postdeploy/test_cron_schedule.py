from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.values import CronSpec
from services.postdeploy.cron_schedule import CronClock, due_slot, new_record, slot_time

REAL = CronClock(60.0)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def record(schedule: str, registered: str, clock: CronClock = REAL, tz: str = "UTC") -> object:
    return new_record(
        "p_e.d1.0",
        project="p",
        environment="e",
        environment_id="p_e",
        deployment_id="d1",
        admission=1,
        index=0,
        spec=CronSpec(schedule=schedule, path="/cron", timezone=tz),
        now=at(registered),
        clock=clock,
    )


def test_nothing_is_due_before_the_first_slot_after_registration() -> None:
    r = record("*/5 * * * *", "2025-01-01T10:01:30")
    assert due_slot(r, at("2025-01-01T10:04:59"), REAL) is None  # type: ignore[arg-type]


def test_the_first_slot_after_registration_is_due_once_reached() -> None:
    r = record("*/5 * * * *", "2025-01-01T10:01:30")
    slot = due_slot(r, at("2025-01-01T10:05:00.2"), REAL)  # type: ignore[arg-type]
    assert slot == int(at("2025-01-01T10:05:00"))


def test_a_slot_before_registration_never_fires() -> None:
    r = record("0 * * * *", "2025-01-01T10:00:30")
    assert due_slot(r, at("2025-01-01T10:59:59"), REAL) is None  # type: ignore[arg-type]


def test_missed_runs_after_downtime_collapse_into_the_latest_slot() -> None:
    r = record("* * * * *", "2025-01-01T10:00:30")
    # Down from 10:00:30 to 10:07:10: seven slots were missed, one run is due: the latest.
    slot = due_slot(r, at("2025-01-01T10:07:10"), REAL)  # type: ignore[arg-type]
    assert slot == int(at("2025-01-01T10:07:00"))
    fired = r.model_copy(update={"last_slot": slot})  # type: ignore[attr-defined]
    assert due_slot(fired, at("2025-01-01T10:07:50"), REAL) is None


def test_a_schedule_runs_in_its_own_time_zone() -> None:
    r = record("0 9 * * *", "2025-06-01T00:00:00", tz="Europe/Paris")
    assert due_slot(r, at("2025-06-01T06:59:00"), REAL) is None  # type: ignore[arg-type]
    # 09:00 in Paris in June is 07:00 UTC.
    assert due_slot(r, at("2025-06-01T07:00:01"), REAL) == int(at("2025-06-01T07:00:00"))  # type: ignore[arg-type]


def test_a_shortened_minute_runs_every_minute_schedule_every_second() -> None:
    fast = CronClock(1.0)
    now = at("2025-01-01T10:00:00.5")
    r = record("* * * * *", "2025-01-01T10:00:00.5", clock=fast)
    assert due_slot(r, now + 0.4, fast) is None  # type: ignore[arg-type]
    slot = due_slot(r, now + 0.6, fast)  # type: ignore[arg-type]
    assert slot is not None
    assert abs(slot_time(slot, fast).timestamp() - (now + 0.5)) < 0.02


def test_a_minute_of_zero_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="cron_minute_s"):
        CronClock(0)
