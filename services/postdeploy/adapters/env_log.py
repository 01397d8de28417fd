"""`NatsEnvLog`: lines of an environment's log, stored in SLIPWAY_LOGS as JSON lines (LogLine)."""

from __future__ import annotations

from nats.js.client import JetStreamContext

from libs.events.envelope import utcnow
from libs.events.logs import LogLine
from libs.events.subjects import environment_log_subject
from services.postdeploy.ports import Level

ENV_JOB = "env"  # LogLine.job of environment lines


def env_log_line(line: str, level: Level = "info") -> LogLine:
    return LogLine(ts=utcnow(), job=ENV_JOB, attempt=0, stream="system", level=level, line=line)


class NatsEnvLog:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def write(self, environment_id: str, line: str, level: Level = "info") -> None:
        data = env_log_line(line, level).model_dump_json().encode() + b"\n"
        await self.js.publish(environment_log_subject(environment_id), data)
