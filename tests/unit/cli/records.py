"""§10 deployment records for the fake query API."""

from __future__ import annotations

from typing import Any

DEP_ID = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b"
JOB_NAMES = ("DownloadRepoJob", "BuildImageJob", "DeployImageJob", "MarkDeploymentCompleteJob")


def job(order: int, status: str = "pending", error: str | None = None) -> dict[str, Any]:
    started = "2024-05-01T12:00:00.000000Z" if status != "pending" else None
    finished = "2024-05-01T12:00:02.500000Z" if status in ("success", "failure") else None
    return {
        "id": f"j{order}",
        "name": JOB_NAMES[order],
        "status": status,
        "order": order,
        "depends_on": [f"j{order - 1}"] if order else [],
        "attempt": 1 if started else 0,
        "started_at": started,
        "finished_at": finished,
        "error": error,
    }


def deployment(
    status: str = "pending",
    jobs: list[dict[str, Any]] | None = None,
    *,
    dep_id: str = DEP_ID,
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": dep_id,
        "type": "manual",
        "status": status,
        "project": "hello",
        "environment": "production",
        "source": {
            "repo_url": "https://example.com/hello.git",
            "branch": "main",
            "commit_sha": "3f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
            "commit_message": "Fix the greeting",
            "image_ref": None,
            "bundle": None,
        },
        "jobs": jobs if jobs is not None else [job(i) for i in range(4)],
        "image": None,
        "containers": [],
        "url": "http://production.hello.localhost:8080",
        "deployment_url": "http://d-0b6f2c1e.hello.localhost:8080",
        "trigger": {"kind": "cli"},
        "created_at": "2024-05-01T12:00:00.000000Z",
        "started_at": None,
        "finished_at": None,
        "cancelled_reason": None,
        "seq": 7,
    }
    record.update(extra)
    return record


def progressing(*statuses: str) -> list[dict[str, Any]]:
    """Job lists for the records of a deployment as its jobs finish one after the other."""
    return [job(i, s) for i, s in enumerate(statuses)]
