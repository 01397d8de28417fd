"""What a job handler sees and may raise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from libs.events.states import DeploymentState, JobState, JobStatus
from libs.events.values import JobSpec
from libs.jobs.logs import JobLogger
from libs.settings import Settings


class JobSkip(Exception):
    """The job decided not to run; recorded as JobSkipped with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class JobError(Exception):
    """A failure the job understands; recorded as JobFailed with the message and code."""

    def __init__(self, message: str, code: str = "error") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class Fenced(Exception):
    """A newer attempt exists or the deployment ended: stop before the irreversible step."""


@dataclass(frozen=True)
class JobResult:
    output: BaseModel | dict[str, Any] = field(default_factory=dict)
    next_jobs: tuple[JobSpec, ...] = ()

    def output_dict(self) -> dict[str, Any]:
        if isinstance(self.output, BaseModel):
            return self.output.model_dump(mode="json")
        return dict(self.output)


@dataclass
class JobContext:
    deployment_id: str
    job: JobState
    attempt: int
    state: DeploymentState
    log: JobLogger
    settings: Settings
    executor: str
    refresh: Callable[[], Awaitable[DeploymentState]]
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    services: dict[str, Any] = field(default_factory=dict)
    # The JobStarted event of this attempt: the causation of events the handler appends.
    started_event_id: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        """Labels every resource this attempt makes carries (cleanup touches only its own)."""
        return {
            "slipway.deployment": self.deployment_id,
            "slipway.job": self.job.id,
            "slipway.attempt": str(self.attempt),
        }

    async def fence(self) -> DeploymentState:
        """Rule 6: re-read the aggregate before an irreversible step; raise Fenced if stale."""
        state = await self.refresh()
        self.state = state
        job = state.jobs.get(self.job.id)
        if state.ended is not None:
            raise Fenced(f"deployment {state.status.value}")
        if job is None or job.attempt != self.attempt or job.status is not JobStatus.RUNNING:
            raise Fenced(f"attempt {self.attempt} of {self.job.id} is no longer the latest")
        return state


Handler = Callable[[JobContext], Awaitable[JobResult | BaseModel | dict[str, Any] | None]]
Cleanup = Callable[[JobContext], Awaitable[None]]
