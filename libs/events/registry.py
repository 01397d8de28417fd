"""Events by name and schema version, upcasters, and decoding stored bytes into envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from libs.events.catalog import ALL_EVENTS
from libs.events.envelope import Envelope, EventData
from libs.events.subjects import Aggregate

EVENT_TYPES: Mapping[str, type[EventData]] = {cls.event_type(): cls for cls in ALL_EVENTS}
_AGGREGATES: Mapping[str, Aggregate] = {a.value: a for a in Aggregate}  # faster than Aggregate(v)


class UnknownEvent(ValueError):
    pass


def _traffic_switched_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 routed one upstream; v2 round-robins over replicas.
    out = {k: v for k, v in data.items() if k != "upstream"}
    upstream = data.get("upstream")
    out["upstreams"] = [upstream] if upstream else []
    return out


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (event type, from version) -> function producing the payload of version + 1.
UPCASTERS: Mapping[tuple[str, int], Upcaster] = {
    ("TrafficSwitched", 1): _traffic_switched_v1_to_v2,
}


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEvent(f"unknown event type {event_type!r}")
    if version > cls.SCHEMA_VERSION:
        raise UnknownEvent(
            f"{event_type} v{version} is newer than this reader (v{cls.SCHEMA_VERSION})"
        )
    while version < cls.SCHEMA_VERSION:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEvent(f"no upcaster for {event_type} v{version}")
        data = step(data)
        version += 1
    return data


def envelope_from_dict(obj: Mapping[str, Any]) -> Envelope:
    """Builds a typed, upcast envelope from a stored event's JSON object."""
    etype = obj["type"]
    cls = EVENT_TYPES.get(etype)
    if cls is None:
        raise UnknownEvent(f"unknown event type {etype!r}")
    version = int(obj["schema_version"])
    data = cls.model_validate(upcast(etype, version, dict(obj["data"])))
    return Envelope(
        event_id=obj["event_id"],
        type=etype,
        schema_version=cls.SCHEMA_VERSION,
        aggregate=_AGGREGATES.get(obj["aggregate"]) or Aggregate(obj["aggregate"]),
        aggregate_id=obj["aggregate_id"],
        occurred_at=datetime.fromisoformat(obj["occurred_at"]),
        correlation_id=obj.get("correlation_id"),
        causation_id=obj.get("causation_id"),
        actor=obj["actor"],
        encoding=int(obj["encoding"]),
        prev_hash=obj.get("prev_hash"),
        hash=obj.get("hash"),
        data=data,
    )


def decode(raw: bytes) -> Envelope:
    """Stored bytes -> typed, upcast envelope. Verification is `encoding.verify_bytes`."""
    return envelope_from_dict(loads(raw))


def loads(raw: bytes) -> Any:
    """JSON bytes -> Python objects: orjson (several times faster: every reader decodes every
    event), else the standard library for what orjson refuses and it reads (a lone surrogate
    escape), so nothing that decoded before stops decoding. Integers beyond 64 bits, which no
    event field holds, come back as floats (hash verification parses with the stdlib)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
