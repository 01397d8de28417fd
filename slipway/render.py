"""A deployment record (§10) for people: a header, its source and URLs, and every job."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from slipway.follow import seconds
from slipway.output import say, short_time, status_text, table


def _source(source: dict[str, Any]) -> str:
    parts: list[str] = []
    if source.get("image_ref"):
        parts.append(f"image {source['image_ref']}")
    if source.get("bundle"):
        parts.append(f"static bundle {source['bundle']}")
    if source.get("branch"):
        parts.append(f"branch {source['branch']}")
    if source.get("commit_sha"):
        parts.append(f"commit {str(source['commit_sha'])[:12]}")
    if source.get("commit_message"):
        first = str(source["commit_message"]).splitlines()[0]
        parts.append(f'"{first[:60]}"')
    return " ".join(parts) or "-"


def show_record(record: dict[str, Any]) -> None:
    say(Text.assemble(f"deployment {record.get('id')}  ", status_text(record.get("status"))))
    rows = [
        ("project", f"{record.get('project')} / {record.get('environment')}"),
        ("type", record.get("type")),
        ("source", _source(record.get("source") or {})),
        ("image", record.get("image")),
        ("url", record.get("url")),
        ("deployment url", record.get("deployment_url")),
        ("created", short_time(record.get("created_at"))),
        ("finished", short_time(record.get("finished_at"))),
        ("reason", record.get("cancelled_reason")),
    ]
    for name, value in rows:
        if value not in (None, "", "-") or name in ("project", "type", "source"):
            say(f"  {name:<15}{value}")
    jobs = sorted(record.get("jobs", []), key=lambda j: j.get("order", 0))
    if not jobs:
        return
    say("")
    table(
        ["JOB", "STATUS", "ATTEMPT", "STARTED", "TOOK", "ERROR"],
        (
            [
                j.get("name"),
                status_text(j.get("status")),
                j.get("attempt") or "-",
                short_time(j.get("started_at")),
                seconds(j).strip(" ()") or "-",
                (j.get("error") or "")[:100],
            ]
            for j in jobs
        ),
    )
