from __future__ import annotations

import asyncio

from services.gateway.directory import SingleFlight


async def test_concurrent_callers_share_runs_but_each_waits_for_one_started_after_it() -> None:
    started: list[int] = []
    gate = asyncio.Event()
    running = asyncio.Event()

    async def run() -> None:
        started.append(len(started))
        running.set()
        await gate.wait()

    flight = SingleFlight(run)
    first = asyncio.create_task(flight())
    await running.wait()
    # Arrived while run 0 is in flight: it must not be satisfied by run 0.
    late = [asyncio.create_task(flight()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0]
    gate.set()
    await asyncio.gather(first, *late)
    assert started == [0, 1]


async def test_a_failed_run_fails_its_callers_and_the_next_call_runs_again() -> None:
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    flight = SingleFlight(run)
    try:
        await flight()
    except RuntimeError:
        pass
    await flight()
    assert calls == 2
