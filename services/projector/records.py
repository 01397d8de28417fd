"""The §10 wire records, built from a folded state (pure) and read back from the rows.

`deployment_record` is the single definition of a deployment record: the projection writes its
rows from it (`deployment_columns`, `job_columns`, ...) and `record_from_rows` inverts that, so a
record read from the database equals the record of the fold. URLs are not stored: they depend on
settings (base domain, edge port) and are derived on read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from libs.records import (
    DEFAULT_BASE_DOMAIN as DEFAULT_BASE_DOMAIN,
)
from libs.records import (
    DEFAULT_EDGE_PORT as DEFAULT_EDGE_PORT,
)
from libs.records import (
    Record as Record,
)
from libs.records import (
    artifacts_of as artifacts_of,
)
from libs.records import (
    deployment_record as deployment_record,
)
from libs.records import (
    deployment_url as deployment_url,
)
from libs.records import (
    environment_url as environment_url,
)
from libs.records import (
    image_of as image_of,
)
from libs.records import (
    iso as iso,
)
from libs.records import (
    job_record as job_record,
)
from libs.records import (
    parse_iso as parse_iso,
)
from services.projector.schema import Artifact, Container, Deployment, Environment, Job, Project


def deployment_columns(record: Record) -> dict[str, Any]:
    """The `deployments` row of a record (URLs and lists live elsewhere)."""
    src = record["source"]
    return {
        "id": record["id"],
        "type": record["type"],
        "status": record["status"],
        "project": record["project"],
        "environment": record["environment"],
        "repo_url": src["repo_url"],
        "branch": src["branch"],
        "commit_sha": src["commit_sha"],
        "commit_message": src["commit_message"],
        "image_ref": src["image_ref"],
        "bundle": src["bundle"],
        "image": record["image"],
        "trigger": record["trigger"],
        "created_at": parse_iso(record["created_at"]),
        "started_at": parse_iso(record["started_at"]),
        "finished_at": parse_iso(record["finished_at"]),
        "cancelled_reason": record["cancelled_reason"],
        "seq": record["seq"],
        "record": record,
    }


def with_urls(
    record: Record,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record:
    """A stored record with its URLs derived for these settings."""
    out = dict(record)
    out["url"] = environment_url(record["project"], record["environment"], base_domain, edge_port)
    out["deployment_url"] = deployment_url(record["project"], record["id"], base_domain, edge_port)
    return out


def job_columns(deployment_id: str, job: Record) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "job_id": job["id"],
        "type": job["name"],
        "status": job["status"],
        "position": job["order"],
        "depends_on": job["depends_on"],
        "attempt": job["attempt"],
        "started_at": parse_iso(job["started_at"]),
        "finished_at": parse_iso(job["finished_at"]),
        "error": job["error"],
    }


def container_columns(deployment_id: str, containers: Sequence[Record]) -> list[dict[str, Any]]:
    return [
        {
            "deployment_id": deployment_id,
            "container_id": c["id"],
            "position": i,
            "name": c["name"],
            "host": c["host"],
            "port": c["port"],
            "replica": c["replica"],
        }
        for i, c in enumerate(containers)
    ]


def record_from_rows(
    deployment: Deployment,
    jobs: Iterable[Job],
    containers: Iterable[Container],
    base_domain: str = DEFAULT_BASE_DOMAIN,
    *,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record:
    """The same §10 record, read back from a deployment's rows."""
    d = deployment
    return {
        "id": d.id,
        "type": d.type,
        "status": d.status,
        "project": d.project,
        "environment": d.environment,
        "source": {
            "repo_url": d.repo_url,
            "branch": d.branch,
            "commit_sha": d.commit_sha,
            "commit_message": d.commit_message,
            "image_ref": d.image_ref,
            "bundle": d.bundle,
        },
        "jobs": [
            {
                "id": j.job_id,
                "name": j.type,
                "status": j.status,
                "order": j.position,
                "depends_on": list(j.depends_on),
                "attempt": j.attempt,
                "started_at": iso(j.started_at),
                "finished_at": iso(j.finished_at),
                "error": j.error,
            }
            for j in sorted(jobs, key=lambda j: j.position)
        ],
        "image": d.image,
        "containers": [
            {
                "id": c.container_id,
                "name": c.name,
                "host": c.host,
                "port": c.port,
                "replica": c.replica,
            }
            for c in sorted(containers, key=lambda c: c.position)
        ],
        "url": environment_url(d.project, d.environment, base_domain, edge_port),
        "deployment_url": deployment_url(d.project, d.id, base_domain, edge_port),
        "trigger": d.trigger,
        "created_at": iso(d.created_at),
        "started_at": iso(d.started_at),
        "finished_at": iso(d.finished_at),
        "cancelled_reason": d.cancelled_reason,
        "seq": d.seq,
    }


def artifact_record(row: Artifact) -> Record:
    return {"name": row.name, "kind": row.kind, "job_id": row.job_id}


# ---------------------------------------------------------------- environments and projects

_CONFIG_FIELDS = (
    "branch", "tags", "auto_deploy", "policy", "health_path", "expected_status", "port",
    "replicas", "cpu", "memory", "app_dir", "preset", "domain",
)  # fmt: skip


def environment_record(
    row: Environment,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    *,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record:
    """An environment: its settings (variable names only), the current deployment and route."""
    config = row.config or {}
    record: Record = {"id": row.id, "project": row.project, "name": row.name}
    record.update({k: config.get(k) for k in _CONFIG_FIELDS})
    record["branch"] = row.branch
    record["variables"] = sorted(config.get("variables") or {})
    record["configured"] = row.config is not None
    record["current_deployment_id"] = row.current_deployment_id
    record["route"] = row.route
    record["url"] = environment_url(row.project, row.name, base_domain, edge_port)
    record["updated_at"] = iso(row.updated_at)
    record["seq"] = row.seq
    return record


def project_record(row: Project, environments: Sequence[Record] = ()) -> Record:
    return {
        "id": row.id,
        "name": row.name,
        "repo_url": row.repo_url,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "environments": list(environments),
        "seq": row.seq,
    }
