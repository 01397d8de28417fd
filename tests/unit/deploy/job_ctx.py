"""A JobContext around a folded deployment, for calling job functions without NATS."""

from __future__ import annotations

import json

from libs.events.states import DeploymentState
from libs.jobs import JobContext, JobLogger
from libs.settings import Settings


class Lines:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        self.payloads.append(payload)

    def text(self) -> list[str]:
        return [
            json.loads(raw)["line"]
            for payload in self.payloads
            for raw in payload.splitlines()
            if raw.strip()
        ]


def job_context(state: DeploymentState, job_id: str, attempt: int = 1) -> tuple[JobContext, Lines]:
    lines = Lines()

    async def refresh() -> DeploymentState:
        return state

    ctx = JobContext(
        deployment_id=state.id,
        job=state.jobs[job_id],
        attempt=attempt,
        state=state,
        log=JobLogger(lines.publish, f"logs.{state.id}.{job_id}", job_id, attempt),
        settings=Settings(),
        executor="test:1",
        refresh=refresh,
    )
    return ctx, lines
