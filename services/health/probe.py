"""The health schedule of §7, independent of HTTP and Docker so tests can drive it with a clock.

First probe at once, then every `health_fast_interval_s` for `health_fast_window_s`, then backing
off (doubling) to `health_slow_interval_s`. Healthy = 2xx (or the expected status), confirmed by a
second probe `health_confirm_delay_s` later. A crashed container fails at once with its crash
text; `health_5xx_limit_s` of continuous 5xx or `health_total_limit_s` in all fails. Every probe
is a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from libs.events.outputs import HealthCheckOutput

ProbeResult = int | Exception
Probe = Callable[[], Awaitable[ProbeResult]]
CrashCheck = Callable[[], Awaitable[str | None]]

CRASHED = "crashed"
UNHEALTHY_5XX = "unhealthy_5xx"
TIMEOUT = "health_timeout"


class HealthSchedule(Protocol):
    """The durations `wait_healthy` reads; `libs.settings.Settings` has them all."""

    health_fast_interval_s: float
    health_fast_window_s: float
    health_slow_interval_s: float
    health_confirm_delay_s: float
    health_5xx_limit_s: float
    health_total_limit_s: float


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    probes: int
    elapsed_s: float
    status: int | None  # status of the last probe that answered
    failure_code: str | None = None  # crashed, unhealthy_5xx, health_timeout
    reason: str = ""  # for a failure: what the user reads (a crash includes its logs)

    def output(self) -> HealthCheckOutput:
        return HealthCheckOutput(
            probes=self.probes, time_to_healthy_s=round(self.elapsed_s, 3), status=self.status or 0
        )


def is_healthy(result: ProbeResult, expected_status: int | None) -> bool:
    if isinstance(result, Exception):
        return False
    return result == expected_status if expected_status else 200 <= result < 300


def describe(result: ProbeResult) -> str:
    if isinstance(result, Exception):
        text = str(result).strip() or type(result).__name__
        return f"no answer ({text})"
    return f"HTTP {result}"


async def wait_healthy(
    probe: Probe,
    is_crashed: CrashCheck,
    settings: HealthSchedule,
    log: Callable[[str], None],
    *,
    expected_status: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> HealthResult:
    start = clock()
    probes = 0
    last_status: int | None = None
    first_5xx: float | None = None
    interval = settings.health_fast_interval_s
    want = f"HTTP {expected_status}" if expected_status else "a 2xx answer"

    def elapsed() -> float:
        return clock() - start

    async def crashed() -> HealthResult | None:
        text = await is_crashed()
        if text is None:
            return None
        log(f"container crashed after {elapsed():.1f} s: {text.splitlines()[0] if text else ''}")
        return HealthResult(False, probes, elapsed(), last_status, CRASHED, text)

    async def send() -> ProbeResult:
        nonlocal probes, last_status
        result = await probe()
        probes += 1
        if not isinstance(result, Exception):
            last_status = result
        log(f"health probe {probes}: {describe(result)} at {elapsed():.1f} s")
        return result

    while True:
        if (failed := await crashed()) is not None:
            return failed
        result = await send()
        if is_healthy(result, expected_status):
            log(f"healthy answer; confirming in {settings.health_confirm_delay_s:g} s")
            await sleep(settings.health_confirm_delay_s)
            if (failed := await crashed()) is not None:
                return failed
            result = await send()
            if is_healthy(result, expected_status):
                log(f"healthy after {elapsed():.1f} s ({probes} probes)")
                return HealthResult(True, probes, elapsed(), last_status)
        now = elapsed()
        if isinstance(result, int) and result >= 500:
            first_5xx = now if first_5xx is None else first_5xx
            if now - first_5xx >= settings.health_5xx_limit_s:
                reason = (
                    f"the app answered 5xx for {settings.health_5xx_limit_s:g} s without a break "
                    f"(last: {describe(result)}); expected {want}"
                )
                log(f"unhealthy: {reason}")
                return HealthResult(False, probes, now, last_status, UNHEALTHY_5XX, reason)
        else:
            first_5xx = None
        if now >= settings.health_total_limit_s:
            reason = (
                f"not healthy after {settings.health_total_limit_s:g} s "
                f"(last: {describe(result)}); expected {want}"
            )
            log(f"unhealthy: {reason}")
            return HealthResult(False, probes, now, last_status, TIMEOUT, reason)
        if now >= settings.health_fast_window_s:
            interval = min(interval * 2, settings.health_slow_interval_s)
        await sleep(max(0.0, min(interval, settings.health_total_limit_s - now)))


def http_probe(url: str, client: httpx.AsyncClient, *, timeout_s: float) -> Probe:
    """GET `url` without following redirects; any failure to get an answer is the exception."""

    async def probe() -> ProbeResult:
        try:
            response = await client.get(url, timeout=timeout_s, follow_redirects=False)
        except httpx.HTTPError as exc:
            return exc
        return response.status_code

    return probe


def all_replicas(probes: Sequence[Probe], expected_status: int | None = None) -> Probe:
    """One probe over every replica: healthy only when all are; otherwise the first bad answer."""

    async def probe() -> ProbeResult:
        results = await asyncio.gather(*(p() for p in probes))
        bad = [r for r in results if not is_healthy(r, expected_status)]
        return bad[0] if bad else results[0]

    return probe


class _State(Protocol):
    @property
    def crashed(self) -> bool: ...

    def describe(self) -> str: ...


class ContainerStates(Protocol):
    """What crash detection needs of a container engine (the deploy runtime has it)."""

    async def inspect_state(self, container_id: str) -> _State: ...

    async def logs(self, container_id: str, tail: int = 100) -> str: ...


def crash_check(
    engine: ContainerStates, container_ids: Sequence[str], tail: int = 100
) -> CrashCheck:
    """The crash text of the first crashed container (its state and last `tail` log lines)."""

    async def check() -> str | None:
        for cid in container_ids:
            try:
                state = await engine.inspect_state(cid)
            except LookupError:
                return f"container {cid[:12]} is gone"
            if state.crashed:
                logs = await engine.logs(cid, tail=tail)
                return f"{state.describe()}\n--- last {tail} log lines ---\n{logs.rstrip()}"
        return None

    return check
