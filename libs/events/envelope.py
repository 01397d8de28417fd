"""The envelope every event travels in, deterministic event ids, and sealing into stored bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from libs.events import encoding
from libs.events.subjects import Aggregate, event_subject

# Fixed forever: event ids are uuid5 under this namespace, so a retried decision gets the same id.
EVENT_ID_NAMESPACE = uuid.UUID("5d1c2a8e-3f0b-4c71-9d8e-6a1b2c3d4e5f")


class EventData(BaseModel):
    """Base of every event payload: frozen, past tense, documented fields.

    Unknown fields are ignored on read so an older reader survives an additive change.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    AGGREGATES: ClassVar[tuple[Aggregate, ...]] = ()
    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_event_id(
    aggregate: Aggregate,
    aggregate_id: str,
    event_type: str,
    *,
    causation_id: str,
    deployment_id: str | None = None,
    job_id: str | None = None,
    attempt: int | None = None,
) -> str:
    """uuid5 of (aggregate id, event name, deployment, job, attempt, causation) — see §2."""
    key = "|".join(
        _escaped(part)
        for part in (
            aggregate.value,
            aggregate_id,
            event_type,
            deployment_id or "",
            job_id or "",
            "" if attempt is None else str(attempt),
            causation_id,
        )
    )
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def _escaped(part: str) -> str:
    # A `|` inside a field (a caller's Idempotency-Key, say) must not shift the fields after it;
    # fields without `|` or `\` keep the key, so ids of ordinary inputs never change.
    return part.replace("\\", "\\\\").replace("|", "\\|")


class Envelope(BaseModel):
    """One event as stored: metadata around a typed payload (`data`)."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="Deterministic uuid5; also the Nats-Msg-Id.")
    type: str = Field(description="The event class name, past tense.")
    schema_version: int = Field(description="Version of the payload schema as written.")
    aggregate: Aggregate = Field(description="deployment, environment or project.")
    aggregate_id: str = Field(description="Id of the aggregate the event belongs to.")
    occurred_at: datetime = Field(description="Business time, UTC.")
    correlation_id: str | None = Field(default=None, description="The deployment concerned.")
    causation_id: str | None = Field(default=None, description="Event or request that caused it.")
    actor: str = Field(description="Token id, webhook delivery or service that appended it.")
    encoding: int = Field(default=encoding.CURRENT_ENCODING, description="Canonical encoder.")
    prev_hash: str | None = Field(
        default=None, description="Hash of the aggregate's previous event."
    )
    hash: str | None = Field(default=None, description="sha-256 of the stored bytes without hash.")
    data: Any = Field(description="The typed payload (an EventData subclass).")

    @property
    def subject(self) -> str:
        return event_subject(self.aggregate, self.aggregate_id, self.type)

    def to_dict(self) -> dict[str, Any]:
        data = self.data.model_dump(mode="json") if isinstance(self.data, BaseModel) else self.data
        return {
            "event_id": self.event_id,
            "type": self.type,
            "schema_version": self.schema_version,
            "aggregate": self.aggregate.value,
            "aggregate_id": self.aggregate_id,
            "occurred_at": _iso(self.occurred_at),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "actor": self.actor,
            "encoding": self.encoding,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "data": data,
        }

    def sealed(self, prev_hash: str | None) -> tuple[Envelope, bytes]:
        """The envelope linked to `prev_hash`, and the exact bytes to store."""
        # Same bytes as `encoding.seal(linked.to_dict())`, with one dump of the model and one
        # hash instead of two of each: appends seal on every call.
        obj = self.to_dict()
        obj["prev_hash"] = prev_hash
        digest = encoding.compute_hash(obj, self.encoding)
        obj["hash"] = digest
        raw = encoding.encode(obj, self.encoding)
        return self.model_copy(update={"prev_hash": prev_hash, "hash": digest}), raw


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_event(
    data: EventData,
    *,
    aggregate: Aggregate,
    aggregate_id: str,
    causation_id: str,
    actor: str,
    correlation_id: str | None = None,
    job_id: str | None = None,
    attempt: int | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    """An unsealed envelope with its deterministic id (prev_hash/hash are set when appended)."""
    if data.AGGREGATES and aggregate not in data.AGGREGATES:
        raise ValueError(f"{data.event_type()} does not belong to a {aggregate.value} aggregate")
    etype = data.event_type()
    return Envelope(
        event_id=event_id
        or make_event_id(
            aggregate,
            aggregate_id,
            etype,
            causation_id=causation_id,
            deployment_id=correlation_id,
            job_id=job_id,
            attempt=attempt,
        ),
        type=etype,
        schema_version=data.SCHEMA_VERSION,
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        occurred_at=occurred_at or utcnow(),
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        data=data,
    )
