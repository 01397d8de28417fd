"""Container-engine errors as job failures: every Docker job of every service fails the same way.

A Docker Engine that cannot be reached fails the job with "Docker is not available: …" (the
service keeps running and the next job tries again); any other engine error the runtime raises is
already a message for the user.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from libs.containers.runtime import ContainerRuntimeError, DockerUnavailable
from libs.jobs.context import Handler, JobContext, JobError, JobResult

DOCKER_UNAVAILABLE = "docker_unavailable"
DOCKER_ERROR = "docker_error"


def docker_job(handler: Handler) -> Handler:
    """`handler`, with container-engine errors turned into `JobError`s."""

    @functools.wraps(handler)
    async def guarded(ctx: JobContext) -> JobResult | BaseModel | dict[str, Any] | None:
        try:
            return await handler(ctx)
        except DockerUnavailable as exc:
            raise JobError(f"Docker is not available: {exc}", DOCKER_UNAVAILABLE) from None
        except ContainerRuntimeError as exc:
            raise JobError(str(exc), DOCKER_ERROR) from None

    return guarded
