"""The health schedule of §7 on a fake clock: no real waiting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import ContainerSpec
from libs.settings import Settings
from services.health.probe import (
    CRASHED,
    TIMEOUT,
    UNHEALTHY_5XX,
    HealthResult,
    ProbeResult,
    all_replicas,
    crash_check,
    wait_healthy,
)

SETTINGS = Settings()  # the defaults of §7: 0.1 s for 10 s, up to 2 s; 60 s of 5xx; 300 s


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def _run(
    answer: Callable[[float], ProbeResult],
    *,
    crash: Callable[[float], str | None] = lambda t: None,
    expected_status: int | None = None,
) -> tuple[HealthResult, Clock, list[str]]:
    clock = Clock()
    lines: list[str] = []

    async def probe() -> ProbeResult:
        return answer(clock.now)

    async def is_crashed() -> str | None:
        return crash(clock.now)

    result = await wait_healthy(
        probe,
        is_crashed,
        SETTINGS,
        lines.append,
        expected_status=expected_status,
        clock=clock,
        sleep=clock.sleep,
    )
    return result, clock, lines


async def test_a_healthy_app_is_confirmed_by_a_second_probe() -> None:
    result, clock, lines = await _run(lambda t: 200)
    assert result.healthy and result.probes == 2
    assert clock.sleeps == [0.1]
    assert result.output().time_to_healthy_s == pytest.approx(0.1)
    assert sum(line.startswith("health probe") for line in lines) == 2


async def test_probes_every_100ms_while_the_app_starts() -> None:
    refused = ConnectionRefusedError("connection refused")
    result, clock, lines = await _run(lambda t: refused if t < 1.0 else 200)
    assert result.healthy
    assert result.elapsed_s == pytest.approx(1.1, abs=0.11)
    assert all(s == pytest.approx(0.1) for s in clock.sleeps)
    assert "no answer (connection refused)" in lines[0]
    assert sum(line.startswith("health probe") for line in lines) == result.probes


async def test_a_failed_confirmation_keeps_probing() -> None:
    answers = iter([200, 503, 200, 200])
    result, _, _ = await _run(lambda t: next(answers))
    assert result.healthy and result.probes == 4


async def test_intervals_back_off_to_two_seconds_after_the_fast_window() -> None:
    _, clock, _ = await _run(lambda t: 404 if t < 30 else 200)
    fast = [s for s in clock.sleeps if s == pytest.approx(0.1)]
    assert sum(fast[:-1]) == pytest.approx(10, abs=0.11)  # the last 0.1 is the confirmation
    slow = [s for s in clock.sleeps if s != pytest.approx(0.1)]
    assert slow[:5] == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0])
    assert all(s == 2.0 for s in slow[5:])


async def test_a_crash_fails_at_once_with_the_crash_text() -> None:
    result, clock, lines = await _run(
        lambda t: ConnectionRefusedError(),
        crash=lambda t: "container exited with code 1\nError: boom" if t >= 0.5 else None,
    )
    assert not result.healthy
    assert result.failure_code == CRASHED
    assert "Error: boom" in result.reason
    assert clock.now == pytest.approx(0.5, abs=0.11)
    assert "container crashed" in lines[-1]


async def test_sixty_seconds_of_continuous_5xx_fail() -> None:
    result, clock, _ = await _run(lambda t: 502)
    assert result.failure_code == UNHEALTHY_5XX
    assert 60 <= clock.now < 62
    assert "5xx for 60 s" in result.reason


async def test_5xx_interrupted_by_other_answers_runs_until_the_total_limit() -> None:
    result, clock, _ = await _run(lambda t: 500 if int(t) % 40 >= 3 else ConnectionResetError())
    assert result.failure_code == TIMEOUT
    assert clock.now == pytest.approx(300)
    assert "not healthy after 300 s" in result.reason


async def test_an_expected_status_replaces_any_2xx() -> None:
    result, _, _ = await _run(lambda t: 200 if t < 1 else 204, expected_status=204)
    assert result.healthy and result.status == 204
    assert result.elapsed_s >= 1


async def test_all_replicas_reports_the_first_unhealthy_answer() -> None:
    async def ok() -> ProbeResult:
        return 200

    async def bad() -> ProbeResult:
        return 503

    assert await all_replicas([ok, bad])() == 503
    assert await all_replicas([ok, ok])() == 200


async def test_crash_check_returns_state_and_last_logs_of_a_crashed_container() -> None:
    engine = FakeContainerRuntime()
    engine.add_image("sha256:x", tags=("app:1",))
    a = await engine.run(ContainerSpec(name="a", image="app:1", port=3000))
    b = await engine.run(ContainerSpec(name="b", image="app:1", port=3000, replica=1))
    check = crash_check(engine, [a.id, b.id])
    assert await check() is None
    engine.write_logs(b.id, "starting", "TypeError: x is undefined")
    engine.crash(b.id, exit_code=1, restarts=0)
    text = await check()
    assert text is not None
    assert text.startswith("container exited with code 1")
    assert "TypeError: x is undefined" in text
    await engine.stop_and_remove(a.id, 0)
    assert await check() == f"container {a.id[:12]} is gone"
