"""The query API with in-memory ports and a SQLite read model (fast; the real servers are in
tests/integration/projector/test_query_api.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from libs.events import (
    Aggregate,
    DeploymentType,
    JobType,
    Recorded,
    decode,
    fold_deployment,
    new_event,
)
from libs.events import catalog as ev
from libs.events.envelope import EventData
from libs.events.subjects import job_log_subject
from libs.eventstore import StoredMessage
from libs.records import deployment_record, iso
from services.projector.api import ApiDeps, create_app
from services.projector.project import Projector
from tests.unit.projector.fakes import FakeEventSource, FakeLogSource
from tests.unit.projector.support import Db, requested

TOKEN = "unit-token"


@dataclass
class Api:
    client: httpx.AsyncClient
    events: FakeEventSource
    logs: FakeLogSource
    db: Db


@pytest.fixture
async def api(db: Db) -> AsyncIterator[Api]:
    events, logs = FakeEventSource(), FakeLogSource()
    app = create_app(
        ApiDeps(
            sessions=db.sessions,
            events=events,
            logs=logs,
            tokens=[TOKEN],
            min_seq_wait_s=0.05,
            log_check_s=0.01,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield Api(client, events, logs, db)


def dep(did: str, data: EventData) -> object:
    return new_event(
        data,
        aggregate=Aggregate.DEPLOYMENT,
        aggregate_id=did,
        causation_id=uuid.uuid4().hex,
        actor="t",
    )


def deploy(api: Api, did: str, *more: EventData) -> list[StoredMessage]:
    payloads = [requested(did, kind=DeploymentType.IMAGE), *more]
    return [api.events.append(dep(did, p)) for p in payloads]  # type: ignore[arg-type]


async def project(api: Api) -> None:
    all_recs = [Recorded(m.seq, m.stored_at, m.raw, decode(m.raw)) for m in api.events.messages]
    async with api.db.sessions() as session:
        await Projector(api.events.load_via_leader).apply_batch(session, all_recs)


def test_the_api_refuses_to_start_without_a_token(db: Db) -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(ApiDeps(db.sessions, FakeEventSource(), FakeLogSource(), tokens=[]))


async def test_credentials_are_required_and_checked(api: Api) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Token x"},
    ):
        resp = await api.client.get("/api/deployments", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/problem+json"
    health = await api.client.get("/healthz", headers={"Authorization": ""})
    assert health.json() == {
        "status": "ok",
        "projector": {"checkpoint": 0, "stream_last_seq": 0, "lag": 0},
    }


async def test_min_seq_falls_back_to_the_event_store_when_the_projection_lags(api: Api) -> None:
    did = str(uuid.uuid4())
    stored = deploy(api, did, ev.DeploymentAdmitted(deployment_id=did))
    resp = await api.client.get(f"/api/deployments/{did}", params={"min_seq": stored[-1].seq})
    assert resp.status_code == 200 and resp.headers["slipway-read-source"] == "event-store"
    recs = await api.events.load_via_leader(Aggregate.DEPLOYMENT, did)
    assert resp.json() == deployment_record(fold_deployment(recs, did))
    missing = await api.client.get("/api/deployments/nope", params={"min_seq": 1})
    assert missing.status_code == 404
    await project(api)
    resp = await api.client.get(f"/api/deployments/{did}", params={"min_seq": stored[-1].seq})
    assert resp.headers["slipway-read-source"] == "projection"
    health = (await api.client.get("/healthz")).json()
    assert health["projector"]["lag"] == 0


async def test_a_tampered_event_is_flagged_and_named(api: Api) -> None:
    did = str(uuid.uuid4())
    stored = deploy(api, did, ev.DeploymentAdmitted(deployment_id=did), ev.DeploymentPaused(by="u"))
    bad = stored[1]
    api.events.messages[bad.seq - 1] = StoredMessage(
        bad.seq, bad.subject, bad.stored_at, bad.raw.replace(b'"actor":"t"', b'"actor":"x"')
    )
    body = (await api.client.get(f"/api/deployments/{did}/events")).json()
    assert [i["verified"] for i in body["items"]] == [True, False, True]
    assert body["verified"] is False and body["problem"].startswith(f"seq {bad.seq}")


async def test_state_as_of_a_time_or_a_sequence(api: Api) -> None:
    did = str(uuid.uuid4())
    stored = deploy(
        api, did,
        ev.DeploymentAdmitted(deployment_id=did),
        ev.JobStarted(job_id="pull", job_type=JobType.PULL_EXTERNAL_IMAGE, attempt=1, executor="h"),
    )  # fmt: skip
    between = stored[1].stored_at + (stored[2].stored_at - stored[1].stored_at) / 2
    at_time = await api.client.get(f"/api/deployments/{did}/state", params={"as_of": iso(between)})
    at_seq = await api.client.get(
        f"/api/deployments/{did}/state", params={"as_of_seq": stored[1].seq}
    )
    assert at_time.status_code == 200 and at_time.json() == at_seq.json()
    assert at_time.json()["status"] == "pending" and at_time.json()["seq"] == stored[1].seq
    now = (await api.client.get(f"/api/deployments/{did}/state")).json()
    assert now["status"] == "running"
    early = iso(stored[0].stored_at - timedelta(seconds=1))
    assert (
        await api.client.get(f"/api/deployments/{did}/state", params={"as_of": early})
    ).status_code == 404


async def test_logs_as_json_lines_and_as_a_finished_event_stream(api: Api) -> None:
    did = str(uuid.uuid4())
    deploy(api, did, ev.DeploymentCancelled(reason="no", by="u"))
    await api.logs.publish(job_log_subject(did, "pull"), b'{"line":"a"}\n{"line":"b"}\n')
    await api.logs.publish(job_log_subject("other", "pull"), b'{"line":"z"}\n')
    plain = await api.client.get(f"/api/deployments/{did}/logs")
    assert plain.text == '{"line":"a"}\n{"line":"b"}\n'
    sse = await api.client.get(f"/api/deployments/{did}/logs", params={"follow": "true"})
    assert sse.text == (
        'id: 1\nevent: log\ndata: {"line":"a"}\n\n'
        'id: 1\nevent: log\ndata: {"line":"b"}\n\n'
        'event: end\ndata: {"status": "cancelled"}\n\n'
    )
    resumed = await api.client.get(
        f"/api/deployments/{did}/logs", params={"follow": "true"}, headers={"Last-Event-ID": "1"}
    )
    assert resumed.text == 'event: end\ndata: {"status": "cancelled"}\n\n'


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/deployments", {"status": "nope"}, 400),
        ("/api/deployments", {"limit": "many"}, 400),
        ("/api/deployments/x", {"min_seq": "-1"}, 400),
        ("/api/deployments/x/state", {"as_of_seq": "0"}, 400),
        ("/api/deployments/x/state", {"as_of": "soon"}, 400),
        ("/api/deployments/x/logs", {"follow": "maybe"}, 400),
        ("/api/events", {"aggregate": "galaxy"}, 400),
        ("/api/projects", {"cursor": "%%%"}, 400),
        ("/api/deployments/a.b", {}, 400),
        ("/api/deployments/a*b/events", {}, 400),
        ("/api/deployments/a>b/state", {}, 400),
        ("/api/deployments/a b/logs", {}, 400),
        ("/api/deployments/x", {}, 404),
        ("/api/deployments/x/events", {}, 404),
        ("/api/deployments/x/state", {}, 404),
        ("/api/deployments/x/logs", {}, 404),
        ("/api/projects/x", {}, 404),
        ("/api/projects/x/environments/y", {}, 404),
        ("/nowhere", {}, 404),
    ],
)
async def test_bad_requests_and_unknown_things_are_problems(
    api: Api, path: str, params: dict[str, str], status: int
) -> None:
    resp = await api.client.get(path, params=params)
    assert resp.status_code == status
    body = resp.json()
    assert resp.headers["content-type"] == "application/problem+json"
    assert body["status"] == status and body["detail"] and body["instance"] == path


async def test_the_openapi_document_lists_every_read_endpoint(api: Api) -> None:
    paths = set((await api.client.get("/openapi.json")).json()["paths"])
    assert {
        "/healthz", "/api/projects", "/api/projects/{project}",
        "/api/projects/{project}/environments/{environment}", "/api/deployments",
        "/api/deployments/{deployment_id}", "/api/deployments/{deployment_id}/events",
        "/api/deployments/{deployment_id}/state", "/api/deployments/{deployment_id}/logs",
        "/api/events",
    } <= paths  # fmt: skip
    assert json.dumps(sorted(paths))
