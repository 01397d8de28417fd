from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from libs.events import catalog as ev
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.events.values import DeploymentType, JobSpec
from libs.eventstore import Repository
from tests.factories import dep_event, requested, uid


async def request_and_admit(
    repo: Repository,
    plan: tuple[JobSpec, ...] | None = None,
    kind: DeploymentType = DeploymentType.STATIC_BUNDLE,
) -> str:
    d = uid("d")
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)
    await repo.append(
        loaded,
        [
            dep_event(d, requested(d, kind=kind, plan=plan), cause="req"),
            dep_event(d, ev.DeploymentAdmitted(deployment_id=d), cause="adm"),
        ],
    )
    return d


async def wait_for(repo: Repository, dep: str, pred: Any, timeout: float = 30.0) -> DeploymentState:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        state: DeploymentState = (await repo.load(Aggregate.DEPLOYMENT, dep)).state
        if pred(state):
            return state
        if loop.time() > end:
            jobs = [(j.id, j.status.value, j.attempt) for j in state.ordered_jobs]
            raise AssertionError(f"timed out; state {state.status}, jobs {jobs}")
        await asyncio.sleep(0.1)


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
