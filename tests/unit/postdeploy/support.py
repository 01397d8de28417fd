"""A JobContext over a folded state, for running post-deploy handlers against fakes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from libs.events.states import DeploymentState
from libs.jobs import JobContext, JobLogger
from libs.settings import Settings
from tests.factories import Story


@dataclass
class Published:
    lines: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, subject: str, payload: bytes) -> None:
        self.lines += [json.loads(x) for x in payload.splitlines() if x.strip()]

    @property
    def text(self) -> list[str]:
        return [str(x["line"]) for x in self.lines]


def context_for(
    story: Story,
    job_id: str,
    *,
    settings: Settings | None = None,
    later: list[DeploymentState] | None = None,
) -> tuple[JobContext, Published]:
    """The context of `job_id` (started by the story); `refresh` returns `later` states in turn,
    then the last state of the story."""
    state = story.state
    published = Published()
    logger = JobLogger(published, f"logs.{story.dep_id}.{job_id}", job_id, 1)
    queue = list(later or [])

    async def refresh() -> DeploymentState:
        return queue.pop(0) if queue else story.state

    ctx = JobContext(
        deployment_id=story.dep_id,
        job=state.jobs[job_id],
        attempt=state.jobs[job_id].attempt,
        state=state,
        log=logger,
        settings=settings or Settings(edge_port=8080, base_domain="localhost"),
        executor="test:1",
        refresh=refresh,
    )
    return ctx, published
