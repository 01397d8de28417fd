"""The job log line (§5 rule 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from libs.events.values import Frozen


class LogLine(Frozen):
    ts: datetime = Field(description="When the line was produced (UTC).")
    job: str = Field(description="Job id, or 'env' for environment log lines.")
    attempt: int = Field(default=0, description="Job attempt; 0 for environment lines.")
    stream: Literal["stdout", "stderr", "system"] = Field(default="system", description="Source.")
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Level."
    )
    line: str = Field(description="The text, without a trailing newline.")
