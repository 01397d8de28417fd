"""`slipway deploy --follow`: each job's progress live, the deployment's log as it is written,
and at the end the URL (exit 0) or why it did not deploy (exit 1)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from slipway.client import AsyncApi, Cli, CliError
from slipway.logview import stream_sse_logs
from slipway.output import status_text

Record = dict[str, Any]
ENDED = frozenset({"completed", "failed", "cancelled", "stopped"})
MARKS = {"running": "▸", "success": "✓", "failure": "✗", "cancelled": "-", "skipped": "·"}


def seconds(job: Record) -> str:
    try:
        start = datetime.fromisoformat(str(job["started_at"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(job["finished_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return ""
    return f" ({(end - start).total_seconds():.1f}s)"


def job_line(job: Record) -> Text:
    """One job's new status, as printed when it changes."""
    status = str(job.get("status"))
    text = Text(f"{MARKS.get(status, '·')} {job.get('name')} ")
    text.append_text(status_text(status))
    if status in ("success", "failure"):
        text.append(seconds(job), style="dim")
    if job.get("error") and status in ("failure", "skipped", "cancelled"):
        text.append(f": {job['error']}", style="red" if status == "failure" else "dim")
    return text


def jobs_table(record: Record) -> Table:
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    for job in sorted(record.get("jobs", []), key=lambda j: j.get("order", 0)):
        grid.add_row(Text(str(job.get("name"))), status_text(job.get("status")))
    head = Text(f"deployment {record.get('id')} ")
    head.append_text(status_text(record.get("status")))
    outer = Table.grid()
    outer.add_row(head)
    outer.add_row(grid)
    return outer


def failure_reason(record: Record) -> str:
    """Why a deployment ended without deploying, in one line."""
    status = record.get("status")
    for job in sorted(record.get("jobs", []), key=lambda j: j.get("order", 0)):
        if job.get("status") == "failure":
            return f"{job.get('name')} failed: {job.get('error') or 'no error given'}"
    reason = record.get("cancelled_reason")
    return f"{status}: {reason}" if reason else f"the deployment is {status}"


class Progress:
    """Prints each job's status change once, and keeps a live table on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[str, str] = {}
        self.live: Live | None = None
        self.last_status: str | None = None

    def show(self, text: Text) -> None:
        (self.live.console if self.live else self.console).print(text)

    def update(self, record: Record) -> None:
        for job in sorted(record.get("jobs", []), key=lambda j: j.get("order", 0)):
            status = str(job.get("status"))
            key = str(job.get("id"))
            if status != "pending" and self.seen.get(key) != status:
                self.show(job_line(job))
            self.seen[key] = status
        overall = record.get("status")
        if overall == "paused" and self.last_status != "paused":
            self.show(Text("paused: waiting for a resume (Ctrl-C stops following)", "yellow"))
        self.last_status = overall
        if self.live is not None:
            self.live.update(jobs_table(record))


async def follow_deployment(
    cli: Cli,
    deployment_id: str,
    console: Console,
    *,
    poll_s: float = 1.0,
    end_grace_s: float = 3.0,
    min_seq: int | None = None,
) -> Record:
    """Follows until the deployment ends; returns its last record."""
    api: AsyncApi = cli.async_api("api")
    progress = Progress(console)
    path = f"/api/deployments/{deployment_id}"
    async with api.client() as client:
        # min_seq: the query API waits for its projection to include our own write.
        record: Record = await api.get(client, path, {"min_seq": min_seq})
        logs = asyncio.create_task(_quiet_logs(api, client, f"{path}/logs", progress, poll_s))
        with contextlib.ExitStack() as stack:
            if console.is_terminal:
                progress.live = stack.enter_context(
                    Live(jobs_table(record), console=console, transient=True)
                )
            try:
                while True:
                    progress.update(record)
                    if record.get("status") in ENDED:
                        break
                    if logs.done():
                        await asyncio.sleep(poll_s)
                    else:  # the end of the log stream is a hint that the deployment ended
                        await asyncio.wait({logs}, timeout=poll_s)
                    record = await api.get(client, path)
                # The server ends the log stream once it has sent the last lines.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(logs), end_grace_s)
            finally:
                progress.live = None
                logs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await logs
    return record


async def _quiet_logs(
    api: AsyncApi, client: httpx.AsyncClient, path: str, progress: Progress, poll_s: float
) -> Record:
    """The live log; if it cannot be had, progress goes on without it (said once)."""
    try:
        return await stream_sse_logs(api, client, path, progress.show, reconnect_s=poll_s)
    except CliError as exc:
        progress.show(Text(f"(no live logs: {exc})", style="dim"))
        return {}
