"""Read-only queries of the read model, returning §10 records. Bad input raises `InvalidQuery`.

Deployments are listed newest first, ordered by (created_at desc, id desc) — a total order, so
keyset pagination with an opaque cursor never skips or repeats a row while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.events import DeploymentStatus, DeploymentType
from libs.events.states import STATUS_ALIASES
from services.projector import records
from services.projector.records import DEFAULT_BASE_DOMAIN, DEFAULT_EDGE_PORT, Record
from services.projector.schema import Artifact, Container, Deployment, Environment, Job, Project

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")


class InvalidQuery(ValueError):
    """A filter, limit or cursor the API cannot use (maps to 400)."""


@dataclass(frozen=True)
class Page:
    items: list[Record]
    next_cursor: str | None

    def to_dict(self) -> Record:
        return {"items": self.items, "next_cursor": self.next_cursor}


# ---------------------------------------------------------------- parsing


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidQuery("invalid cursor: pass next_cursor from a previous page") from None
    if (
        not isinstance(parts, list)
        or len(parts) != size
        or not all(isinstance(p, str) for p in parts)
    ):
        raise InvalidQuery("invalid cursor: pass next_cursor from a previous page")
    return parts


def _limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _split(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [v.strip().lower() for v in items if v.strip()]
    if not out:
        raise InvalidQuery("empty filter value")
    return out


def parse_statuses(value: str | Sequence[str]) -> list[str]:
    """Status names (comma-separated allowed); `deployed` reads as `completed`."""
    known = {s.value for s in DeploymentStatus}
    out = []
    for v in _split(value):
        alias = STATUS_ALIASES.get(v)
        v = alias.value if alias is not None else v
        if v not in known:
            names = ", ".join(sorted(known | set(STATUS_ALIASES)))
            raise InvalidQuery(f"unknown status {v!r} (one of {names})")
        out.append(v)
    return out


def parse_types(value: str | Sequence[str]) -> list[str]:
    known = {t.value for t in DeploymentType}
    out = _split(value)
    for v in out:
        if v not in known:
            raise InvalidQuery(f"unknown deployment type {v!r} (one of {', '.join(sorted(known))})")
    return out


def parse_time(value: datetime | str | None, name: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC."""
    if value is None or isinstance(value, datetime):
        ts = value
    else:
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQuery(f"{name} is not an ISO 8601 time: {value!r}") from None
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# ---------------------------------------------------------------- deployments


async def _deployment_records(
    session: AsyncSession,
    rows: Sequence[tuple[str, dict[str, object] | None]],
    base_domain: str,
    edge_port: int | None,
) -> list[Record]:
    """Records of (id, stored record) rows, in order; rows without a stored record (written
    before revision 0002) are rebuilt from their deployment, job and container rows."""
    missing = [did for did, stored in rows if stored is None]
    rebuilt: dict[str, Record] = {}
    if missing:
        deployments = list(
            await session.scalars(select(Deployment).where(Deployment.id.in_(missing)))
        )
        jobs: dict[str, list[Job]] = defaultdict(list)
        for j in await session.scalars(select(Job).where(Job.deployment_id.in_(missing))):
            jobs[j.deployment_id].append(j)
        containers: dict[str, list[Container]] = defaultdict(list)
        for c in await session.scalars(
            select(Container).where(Container.deployment_id.in_(missing))
        ):
            containers[c.deployment_id].append(c)
        for d in deployments:
            rebuilt[d.id] = records.record_from_rows(
                d, jobs[d.id], containers[d.id], base_domain, edge_port=edge_port
            )
    return [
        records.with_urls(stored, base_domain, edge_port) if stored is not None else rebuilt[did]
        for did, stored in rows
    ]


async def list_deployments(
    session: AsyncSession,
    *,
    project: str | None = None,
    environment: str | None = None,
    status: str | Sequence[str] | None = None,
    type: str | Sequence[str] | None = None,
    branch: str | None = None,
    commit: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Page:
    """Deployments, newest first. `since` is inclusive, `until` exclusive; `commit` is a prefix."""
    size = _limit(limit)
    where: list[ColumnElement[bool]] = [Deployment.created_at.is_not(None)]
    if project is not None:
        where.append(Deployment.project == project)
    if environment is not None:
        where.append(Deployment.environment == environment)
    if status is not None:
        where.append(Deployment.status.in_(parse_statuses(status)))
    if type is not None:
        where.append(Deployment.type.in_(parse_types(type)))
    if branch is not None:
        where.append(Deployment.branch == branch)
    if commit is not None:
        if not _COMMIT.match(commit):
            raise InvalidQuery(f"commit must be 4 to 64 hex digits, got {commit!r}")
        where.append(Deployment.commit_sha.startswith(commit.lower(), autoescape=True))
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None:
        where.append(Deployment.created_at >= start)
    if end is not None:
        where.append(Deployment.created_at < end)
    if cursor is not None:
        at, last_id = _decode_cursor(cursor, 2)
        after = parse_time(at, "cursor")
        where.append(
            or_(
                Deployment.created_at < after,
                and_(Deployment.created_at == after, Deployment.id < last_id),
            )
        )
    result = await session.execute(
        select(Deployment.id, Deployment.created_at, Deployment.record)
        .where(*where)
        .order_by(Deployment.created_at.desc(), Deployment.id.desc())
        .limit(size + 1)
    )
    rows = [(r[0], r[1], r[2]) for r in result]
    more, rows = len(rows) > size, rows[:size]
    items = await _deployment_records(
        session, [(did, stored) for did, _, stored in rows], base_domain, edge_port
    )
    next_cursor = None
    if more:
        last_id, last_created, _ = rows[-1]
        next_cursor = _encode_cursor(records.iso(last_created) or "", last_id)
    return Page(items, next_cursor)


async def get_deployment(
    session: AsyncSession,
    deployment_id: str,
    *,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record | None:
    found = await session.execute(
        select(Deployment.id, Deployment.record).where(Deployment.id == deployment_id)
    )
    first = found.first()
    row = (first[0], first[1]) if first is not None else None
    if row is None:
        return None
    return (await _deployment_records(session, [row], base_domain, edge_port))[0]


async def list_artifacts(session: AsyncSession, deployment_id: str) -> list[Record] | None:
    """The deployment's stored objects, or None for an unknown deployment."""
    if await session.get(Deployment, deployment_id) is None:
        return None
    rows = await session.scalars(
        select(Artifact).where(Artifact.deployment_id == deployment_id).order_by(Artifact.name)
    )
    return [records.artifact_record(r) for r in rows]


# ---------------------------------------------------------------- projects and environments


async def _environments(
    session: AsyncSession, projects: Sequence[str], base_domain: str, edge_port: int | None
) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    if not projects:
        return out
    rows = await session.scalars(
        select(Environment)
        .where(Environment.project.in_(list(projects)))
        .order_by(Environment.project, Environment.name)
    )
    for row in rows:
        out[row.project].append(records.environment_record(row, base_domain, edge_port=edge_port))
    return out


async def list_projects(
    session: AsyncSession,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Page:
    """Projects by name, each with its environments."""
    size = _limit(limit, MAX_LIMIT)
    query = select(Project).order_by(Project.name).limit(size + 1)
    if cursor is not None:
        (after,) = _decode_cursor(cursor, 1)
        query = query.where(Project.name > after)
    rows = list(await session.scalars(query))
    more, rows = len(rows) > size, rows[:size]
    envs = await _environments(session, [r.name for r in rows], base_domain, edge_port)
    items = [records.project_record(r, envs[r.name]) for r in rows]
    return Page(items, _encode_cursor(rows[-1].name) if more else None)


async def get_project(
    session: AsyncSession,
    name: str,
    *,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record | None:
    row = await session.scalar(select(Project).where(Project.name == name))
    if row is None:
        return None
    envs = await _environments(session, [row.name], base_domain, edge_port)
    return records.project_record(row, envs[row.name])


async def get_environment(
    session: AsyncSession,
    project: str,
    environment: str,
    *,
    base_domain: str = DEFAULT_BASE_DOMAIN,
    edge_port: int | None = DEFAULT_EDGE_PORT,
) -> Record | None:
    row = await session.scalar(
        select(Environment).where(Environment.project == project, Environment.name == environment)
    )
    if row is None:
        return None
    return records.environment_record(row, base_domain, edge_port=edge_port)
