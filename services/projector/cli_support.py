"""Plain functions behind `slipway projections rebuild`, `events export`, `audit verify`, `state`.

The rebuild talks to NATS and the database directly (an operator's command, run where the
projector runs). The others go through the query API (§8), so a user needs HTTP access only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from libs.audit import ExportFilter, VerifyReport, fetch_export, verify_export, verify_via_api
from libs.eventstore import JetStreamEventStore
from libs.settings import Settings
from services.projector.main import connect_nats, database_url, tune_gc
from services.projector.rebuild import RebuildReport, rebuild


class QueryApiError(RuntimeError):
    """The query API refused a request; the message is its problem detail."""


async def rebuild_projections(settings: Settings | None = None) -> RebuildReport:
    """`slipway projections rebuild`: a fresh read model from sequence 1, swapped in atomically."""
    settings = settings or Settings()
    tune_gc()
    nc = await connect_nats(settings, "slipway-rebuild")
    try:
        return await rebuild(
            database_url(settings),
            JetStreamEventStore(nc),
            batch_size=settings.projector_catch_up_batch,
        )
    finally:
        await nc.close()


def read_token(settings: Settings) -> str | None:
    """SLIPWAY_ADMIN_TOKEN, else the token `slipway up` wrote to `<data dir>/token`."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "token"
    return path.read_text().strip() if path.is_file() else None


def api_client(
    settings: Settings | None = None, *, base_url: str | None = None, token: str | None = None
) -> httpx.AsyncClient:
    """An HTTP client for the query API with the bearer token set."""
    settings = settings or Settings()
    token = token or read_token(settings)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=base_url or f"http://127.0.0.1:{settings.api_port}",
        headers=headers,
        timeout=httpx.Timeout(30.0, read=None),
    )


async def export_events(
    client: httpx.AsyncClient, out: IO[str], flt: ExportFilter | None = None
) -> int:
    """`slipway events export`: writes the JSON lines of `GET /api/events`; returns the count."""
    count = 0
    async for line in fetch_export(client, flt):
        out.write(line + "\n")
        count += 1
    return count


async def verify_events(client: httpx.AsyncClient, flt: ExportFilter | None = None) -> VerifyReport:
    """`slipway audit verify`: export through the query API and verify it."""
    return await verify_via_api(client, flt)


def verify_file(path: Path | str, *, complete: bool = True) -> VerifyReport:
    """`slipway audit verify --file export.jsonl`: verify an export kept somewhere."""
    with Path(path).open("rb") as f:
        lines: Iterable[bytes] = f
        return verify_export(lines, complete=complete)


async def deployment_state(
    client: httpx.AsyncClient,
    deployment_id: str,
    *,
    as_of: str | None = None,
    as_of_seq: int | None = None,
) -> dict[str, Any]:
    """`slipway state ID --as-of T`: the deployment folded as of a time or a sequence."""
    params: dict[str, str] = {}
    if as_of is not None:
        params["as_of"] = as_of
    if as_of_seq is not None:
        params["as_of_seq"] = str(as_of_seq)
    resp = await client.get(f"/api/deployments/{deployment_id}/state", params=params)
    body: dict[str, Any] = resp.json()
    if resp.status_code != 200:
        raise QueryApiError(str(body.get("detail") or json.dumps(body)))
    return body
