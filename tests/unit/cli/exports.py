"""Export lines (`GET /api/events`) of real sealed events, and ways to tamper with them."""

from __future__ import annotations

import base64
import json
from typing import Any

from libs.events import Aggregate, new_event
from libs.events.catalog import DeploymentPaused, DeploymentResumed, ProjectRegistered

STORED_AT = "2024-05-01T12:00:00.000000Z"


def export_lines(deployment_id: str = "0b6f2c1e-8d1a-4f5e-9c3b-2a1d4e5f6a7b") -> list[str]:
    """Five events over two aggregates, interleaved, as the query API exports them."""
    plan: list[tuple[Aggregate, str, Any]] = [
        (Aggregate.PROJECT, "hello", ProjectRegistered(name="hello")),
        (Aggregate.DEPLOYMENT, deployment_id, DeploymentPaused(by="t1")),
        (Aggregate.DEPLOYMENT, deployment_id, DeploymentResumed(by="t1")),
        (Aggregate.DEPLOYMENT, deployment_id, DeploymentPaused(by="t2")),
        (Aggregate.DEPLOYMENT, deployment_id, DeploymentResumed(by="t2")),
    ]
    prev: dict[str, str | None] = {}
    lines = []
    for seq, (kind, aid, data) in enumerate(plan, 1):
        env = new_event(data, aggregate=kind, aggregate_id=aid, causation_id=f"c{seq}", actor="t")
        sealed, raw = env.sealed(prev.get(aid))
        prev[aid] = sealed.hash
        stored = json.loads(raw)
        line = {"seq": seq, "subject": sealed.subject, "stored_at": STORED_AT}
        for key in ("event_id", "type", "aggregate", "aggregate_id", "occurred_at"):
            line[key] = stored[key]
        line.update(hash=stored["hash"], prev_hash=stored["prev_hash"], data=stored["data"])
        line["raw"] = base64.b64encode(raw).decode()
        lines.append(json.dumps(line))
    return lines


def tamper_raw(line: str, old: str, new: str) -> str:
    """Edits the stored bytes (and the copy beside them), as someone rewriting history would."""
    obj = json.loads(line)
    raw = base64.b64decode(obj["raw"]).decode().replace(old, new)
    obj["raw"] = base64.b64encode(raw.encode()).decode()
    obj["data"] = json.loads(raw)["data"]
    return json.dumps(obj)
