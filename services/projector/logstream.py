"""Deployment logs as JSON lines, and live as Server-Sent Events until the deployment ends.

SSE frames: `event: log` with `id: <log stream sequence>` and one JSON log line as `data`, a
`: keep-alive` comment while idle, and a last `event: end` whose data is `{"status": …}`. A client
that reconnects with `Last-Event-ID` resumes after that message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

from libs.eventstore import StoredMessage
from services.projector.ports import LogSource
from services.projector.reads import DeploymentWatch


def lines_of(msg: StoredMessage) -> list[bytes]:
    """The JSON lines a log message carries (a batch of lines, each ending in a newline)."""
    return [line for line in msg.raw.split(b"\n") if line.strip()]


async def log_lines(logs: LogSource, deployment_id: str) -> AsyncIterator[bytes]:
    async for msg in logs.history(deployment_id):
        for line in lines_of(msg):
            yield line + b"\n"


def _frames(msg: StoredMessage) -> bytes:
    out = []
    for line in lines_of(msg):
        # A JSON line has no raw newline, so it is one `data:` field.
        out.append(b"id: %d\nevent: log\ndata: %s\n\n" % (msg.seq, line))
    return b"".join(out)


def _end(watch: DeploymentWatch) -> bytes:
    status = watch.state.status.value if watch.state is not None else None
    return b"event: end\ndata: " + json.dumps({"status": status}).encode() + b"\n\n"


async def sse_log_stream(
    logs: LogSource,
    watch: DeploymentWatch,
    *,
    after_seq: int = 0,
    check_every_s: float = 0.5,
    keepalive_s: float = 15.0,
) -> AsyncIterator[bytes]:
    """History first, then live lines; ends (after the lines stored before the end) once the
    deployment has ended (completed, failed, cancelled or stopped)."""
    last = after_seq
    async for msg in logs.history(watch.deployment_id, after_seq=last):
        yield _frames(msg)
        last = msg.seq
    if await watch.ended():
        yield _end(watch)
        return
    live = aiter(logs.follow(watch.deployment_id, after_seq=last))
    pending: asyncio.Future[StoredMessage] | None = None
    checked = quiet_since = time.monotonic()
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(live))
            done, _ = await asyncio.wait({pending}, timeout=check_every_s)
            now = time.monotonic()
            if done:
                msg, pending = pending.result(), None
                if msg.seq > last:
                    yield _frames(msg)
                    last = msg.seq
                    quiet_since = now
                if now - checked < check_every_s:
                    continue
            checked = now
            if await watch.ended():
                # Lines stored before the end may still be on their way through the consumer.
                async for msg in logs.history(watch.deployment_id, after_seq=last):
                    yield _frames(msg)
                    last = msg.seq
                yield _end(watch)
                return
            if now - quiet_since >= keepalive_s:
                quiet_since = now
                yield b": keep-alive\n\n"
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(live, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
