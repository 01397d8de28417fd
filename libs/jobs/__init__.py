"""The one job mechanism (§5) shared by every executor service."""

from libs.jobs.context import Fenced, JobContext, JobError, JobResult, JobSkip
from libs.jobs.executor import Executor, JobTypeSpec, consumer_name
from libs.jobs.logs import JobLogger

__all__ = [
    "Executor",
    "Fenced",
    "JobContext",
    "JobError",
    "JobLogger",
    "JobResult",
    "JobSkip",
    "JobTypeSpec",
    "consumer_name",
]
