"""An environment's log (`logs.env.<environment>`): teardown notes, last container logs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from libs.containers.runtime import ContainerRuntime, ContainerRuntimeError, ManagedContainer
from libs.events import subjects
from libs.events.envelope import utcnow
from libs.events.logs import LogLine
from libs.jobs.logs import Stream

Publish = Callable[[str, bytes], Awaitable[None]]
LOG_TAIL = 100


class EnvironmentLog:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    async def write(self, env_id: str, lines: Sequence[str], stream: Stream = "system") -> None:
        if not lines:
            return
        payload = b"".join(
            LogLine(ts=utcnow(), job="env", stream=stream, line=line).model_dump_json().encode()
            + b"\n"
            for line in lines
        )
        await self._publish(subjects.environment_log_subject(env_id), payload)

    async def last_logs(
        self, env_id: str, runtime: ContainerRuntime, container: ManagedContainer
    ) -> None:
        """A container's last lines, each prefixed with its name (read before it is stopped)."""
        try:
            text = await runtime.logs(container.info.id, tail=LOG_TAIL)
        except ContainerRuntimeError:
            return
        name = container.info.name
        await self.write(env_id, [f"[{name}] {line}" for line in text.splitlines()], "stdout")
