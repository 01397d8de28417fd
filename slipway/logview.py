"""Log lines for people, and the live log stream (SSE) of a deployment or an environment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from rich.text import Text

from slipway.client import AsyncApi, CliError, Unreachable
from slipway.sse import SseParser

LEVEL_STYLES = {"error": "red", "warning": "yellow", "debug": "dim"}


def log_text(raw: str) -> Text:
    """One `{ts, job, attempt, stream, level, line}` JSON line as `12:00:01 job  text`."""
    try:
        obj: Any = json.loads(raw)
    except ValueError:
        return Text(raw)
    if not isinstance(obj, dict):
        return Text(raw)
    ts = str(obj.get("ts") or "")
    clock = ts[11:19] if len(ts) >= 19 else ts
    job = str(obj.get("job") or "-")
    style = LEVEL_STYLES.get(str(obj.get("level")), "")
    if obj.get("stream") == "system" and not style:
        style = "dim"
    elif obj.get("stream") == "stderr" and not style:
        style = "yellow"
    text = Text(f"{clock} ", style="dim")
    text.append(f"{job:<14} ", style="cyan")
    text.append(str(obj.get("line", "")), style=style)
    return text


async def stream_sse_logs(
    api: AsyncApi,
    client: httpx.AsyncClient,
    path: str,
    show: Callable[[Text], None],
    *,
    reconnect_s: float = 1.0,
    max_reconnects: int = 30,
) -> dict[str, Any]:
    """Prints every `log` event until the server's `end` event; returns the end's data.

    A dropped connection is resumed after the last event seen (`Last-Event-ID`), so no line is
    shown twice or lost.
    """
    parser = SseParser()
    attempts = 0
    connected = False
    while True:
        headers = {"Last-Event-ID": parser.last_id} if parser.last_id else {}
        try:
            async with api.lines(client, path, {"follow": "true"}, headers) as lines:
                connected = True
                async for line in lines:
                    event = parser.feed(line)
                    if event is None:
                        continue
                    attempts = 0
                    if event.event == "end":
                        return _json_object(event.data)
                    if event.event in ("log", "message"):
                        for part in event.data.splitlines():
                            show(log_text(part))
        except Unreachable:
            if not connected:
                raise  # never got through: the caller says so
        attempts += 1
        if attempts > max_reconnects:
            raise CliError(f"lost the log stream of {path} and could not resume it")
        await asyncio.sleep(reconnect_s)


def _json_object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
