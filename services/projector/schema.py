"""The read model: tables the projector writes and the query API reads (one schema, two dialects).

Every column type here works on PostgreSQL and SQLite alike (`JSON`, timestamps normalised to
UTC), so the same code and migrations serve `postgresql+asyncpg://` and `sqlite+aiosqlite://`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so migrations are identical on both dialects.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, PostgreSQL as timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the read model stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), int: Integer()}


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (Index(None, "name", unique=True),)

    id: Mapped[str] = mapped_column(String, primary_key=True)  # the aggregate id
    name: Mapped[str] = mapped_column(String)
    repo_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret_revision: Mapped[int | None] = mapped_column(BigInteger)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (Index(None, "project", "name", unique=True),)

    id: Mapped[str] = mapped_column(String, primary_key=True)  # the aggregate id
    project: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    branch: Mapped[str | None] = mapped_column(Text)
    # The latest EnvironmentConfigured payload (variable names and revisions only, never values).
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    current_deployment_id: Mapped[str | None] = mapped_column(String)
    # The latest TrafficSwitched: mode, deployment_id, upstreams, static_root, admission_seq, seq.
    route: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None]
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Deployment(Base):
    """One row per deployment: the §10 record's scalar fields, written from the fold."""

    __tablename__ = "deployments"
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "project", "created_at"),
        Index(None, "environment", "created_at"),
        Index(None, "status"),
        Index(None, "type"),
        Index(None, "branch"),
        Index(None, "commit_sha"),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    type: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    project: Mapped[str] = mapped_column(String)
    environment: Mapped[str] = mapped_column(String)
    repo_url: Mapped[str | None] = mapped_column(Text)
    branch: Mapped[str | None] = mapped_column(Text)
    commit_sha: Mapped[str | None] = mapped_column(String)
    commit_message: Mapped[str | None] = mapped_column(Text)
    image_ref: Mapped[str | None] = mapped_column(Text)
    bundle: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The whole §10 record as the projection wrote it (URLs are re-derived on read): a list is
    # one indexed query with no join. None on rows written before revision 0002.
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Job(Base):
    __tablename__ = "jobs"

    deployment_id: Mapped[str] = mapped_column(
        String, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    job_id: Mapped[str] = mapped_column(String, primary_key=True)
    type: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    position: Mapped[int] = mapped_column(Integer)  # the plan order (`order` on the wire)
    depends_on: Mapped[list[str]] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Container(Base):
    __tablename__ = "containers"

    deployment_id: Mapped[str] = mapped_column(
        String, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    container_id: Mapped[str] = mapped_column(String, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    port: Mapped[int] = mapped_column(Integer)
    replica: Mapped[int] = mapped_column(Integer, default=0)


class Artifact(Base):
    """Objects of the artifacts store a deployment's jobs produced (screenshot, SBOM, ...)."""

    __tablename__ = "artifacts"

    deployment_id: Mapped[str] = mapped_column(
        String, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String, primary_key=True)  # object name
    kind: Mapped[str] = mapped_column(String)
    job_id: Mapped[str | None] = mapped_column(String)  # None for inputs (upload, bundle)


class Checkpoint(Base):
    """The stream sequence the read model reached, written in the same transaction as it."""

    __tablename__ = "checkpoint"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


metadata = Base.metadata
