"""The query API on a real server: as-of states, live logs, read-your-writes, events, export."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import uvicorn
from nats.aio.client import Client as NATS
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.audit import verify_export
from libs.events import Aggregate, Recorded, fold_deployment
from libs.events import catalog as ev
from libs.events.envelope import Envelope, utcnow
from libs.events.logs import LogLine
from libs.events.plans import initial_plan
from libs.events.subjects import job_log_subject
from libs.events.values import ConfigSnapshot, DeploymentType, JobType, Source, TriggerInfo
from libs.eventstore import JetStreamEventStore
from libs.infra import free_port
from libs.records import deployment_record, iso
from services.projector.adapters.logs import JetStreamLogSource
from services.projector.api import ApiDeps, create_app
from services.projector.db import make_engine, migrate, sessions
from services.projector.runner import ProjectorRunner
from tests.integration.projector.helpers import (
    all_events,
    append_all,
    fast_settings,
    running,
    seed,
    wait_until,
)
from tests.support.histories import LogBuilder, deployment

TOKEN = "query-api-test-token"


@dataclass
class Api:
    client: httpx.AsyncClient
    engine: AsyncEngine
    url: str


@pytest.fixture
async def api(pnc: NATS, pstore: JetStreamEventStore, read_url: str) -> AsyncIterator[Api]:
    await migrate(read_url)
    engine = make_engine(read_url)
    deps = ApiDeps(
        sessions=sessions(engine),
        events=pstore,
        logs=JetStreamLogSource(pnc),
        tokens=[TOKEN],
        min_seq_wait_s=0.3,
        log_check_s=0.1,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, what="uvicorn started")
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield Api(client, engine, url)
    server.should_exit = True
    await task
    await engine.dispose()


def history(seed: int = 5) -> tuple[str, list[Envelope]]:
    log = LogBuilder(random.Random(seed))
    log.project(f"shop{seed}", ["production"])
    did = deployment(log, f"shop{seed}", "production", kind=DeploymentType.GIT)
    return did, log.events


async def append_slowly(store: JetStreamEventStore, envelopes: Sequence[Envelope]) -> None:
    """One at a time, a few ms apart: every event gets a server stamp of its own."""
    last: dict[tuple[object, str], tuple[int, str | None]] = {}
    for env in envelopes:
        key = (env.aggregate, env.aggregate_id)
        expected, prev = last.get(key, (0, None))
        res = await store.append(env, expected_seq=expected, prev_hash=prev)
        last[key] = (res.seq, res.envelope.hash)
        await asyncio.sleep(0.003)


async def events_of(store: JetStreamEventStore, did: str) -> list[Recorded]:
    return [r for r in await all_events(store) if r.envelope.aggregate_id == did]


# ---------------------------------------------------------------- as of


async def test_the_state_as_of_a_time_between_two_events_is_the_state_after_the_first(
    api: Api, pstore: JetStreamEventStore
) -> None:
    did, envelopes = history()
    await append_slowly(pstore, envelopes)
    mine = await events_of(pstore, did)
    assert len(mine) > 10
    state_url = f"/api/deployments/{did}/state"
    for k in (0, 4, len(mine) - 2):
        first, second = mine[k], mine[k + 1]
        assert second.stored_at > first.stored_at
        between = first.stored_at + (second.stored_at - first.stored_at) / 2
        resp = await api.client.get(state_url, params={"as_of": iso(between)})
        assert resp.status_code == 200, resp.text
        assert resp.json() == deployment_record(fold_deployment(mine[: k + 1], did))
        by_seq = await api.client.get(state_url, params={"as_of_seq": first.seq})
        assert by_seq.json() == resp.json()
    now = await api.client.get(state_url)
    assert now.json() == deployment_record(fold_deployment(mine, did))
    before = mine[0].stored_at - timedelta(seconds=1)
    resp = await api.client.get(state_url, params={"as_of": iso(before)})
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert "did not exist" in resp.json()["detail"]
    for bad in (
        {"as_of": "yesterday"},
        {"as_of": iso(before), "as_of_seq": "3"},
        {"as_of_seq": "0"},
    ):
        resp = await api.client.get(state_url, params=bad)
        assert resp.status_code == 400, bad
        assert resp.json()["status"] == 400


# ---------------------------------------------------------------- logs


async def publish_log(nc: NATS, did: str, job: str, *lines: str) -> None:
    data = b"".join(
        LogLine(ts=utcnow(), job=job, attempt=1, line=line).model_dump_json().encode() + b"\n"
        for line in lines
    )
    await nc.jetstream().publish(job_log_subject(did, job), data)


async def read_sse(resp: httpx.Response, out: list[dict[str, object]]) -> None:
    event: dict[str, object] = {}
    async for line in resp.aiter_lines():
        if line == "":
            if event:
                out.append(event)
                if event.get("event") == "end":
                    return
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            event[field] = json.loads(value) if field == "data" else value


def _dep(did: str) -> tuple[Aggregate, str]:
    return Aggregate.DEPLOYMENT, did


async def test_the_log_stream_sends_the_history_then_new_lines_until_the_deployment_ends(
    api: Api, pnc: NATS, pstore: JetStreamEventStore
) -> None:
    did = "d" + random.randbytes(6).hex()
    requested = ev.DeploymentRequested(
        deployment_id=did, project="shop", environment="production",
        deployment_type=DeploymentType.IMAGE, source=Source(image_ref="nginx:1"),
        plan=initial_plan(DeploymentType.IMAGE), config=ConfigSnapshot(),
        trigger=TriggerInfo(kind="api"),
    )  # fmt: skip
    log = LogBuilder(random.Random(1))
    log.add(requested, *_dep(did))
    log.add(ev.DeploymentAdmitted(deployment_id=did), *_dep(did))
    log.add(ev.JobStarted(job_id="pull", job_type=JobType.PULL_EXTERNAL_IMAGE, attempt=1,
                          executor="h:1"), *_dep(did))  # fmt: skip
    await append_all(pstore, log.events)
    await publish_log(pnc, did, "pull", "pulling nginx:1", "layer 1/3")
    await publish_log(pnc, "someone-else", "pull", "not mine")

    plain = await api.client.get(f"/api/deployments/{did}/logs")
    assert plain.status_code == 200
    assert [json.loads(x)["line"] for x in plain.text.splitlines()] == [
        "pulling nginx:1", "layer 1/3",
    ]  # fmt: skip

    frames: list[dict[str, object]] = []
    async with api.client.stream(
        "GET", f"/api/deployments/{did}/logs", params={"follow": "true"}
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(read_sse(resp, frames))
        await wait_until(lambda: len(frames) >= 2, what="the history")
        assert [f["data"]["line"] for f in frames] == ["pulling nginx:1", "layer 1/3"]  # type: ignore[index]
        await publish_log(pnc, did, "pull", "layer 2/3")
        await publish_log(pnc, did, "pull", "layer 3/3", "done")
        await wait_until(lambda: len(frames) >= 5, what="live lines")
        assert not reader.done()
        ended = LogBuilder(random.Random(2))
        ended.add(ev.DeploymentCancelled(reason="stopped by test", by="t"), *_dep(did))
        loaded = await pstore.load_via_leader(*_dep(did))
        await pstore.append(
            ended.events[0], expected_seq=loaded[-1].seq, prev_hash=loaded[-1].envelope.hash
        )
        await asyncio.wait_for(reader, 10)
    lines = [f["data"]["line"] for f in frames if f["event"] == "log"]  # type: ignore[index]
    assert lines == ["pulling nginx:1", "layer 1/3", "layer 2/3", "layer 3/3", "done"]
    assert frames[-1] == {"event": "end", "data": {"status": "cancelled"}}
    ids = [int(str(f["id"])) for f in frames if f["event"] == "log"]
    assert ids == sorted(ids)


async def test_logs_of_an_unknown_deployment_are_404(api: Api) -> None:
    for params in ({}, {"follow": "true"}):
        resp = await api.client.get("/api/deployments/nope/logs", params=params)
        assert resp.status_code == 404


# ---------------------------------------------------------------- read your writes


async def test_a_read_with_min_seq_right_after_an_append_sees_it_with_the_projector_stopped(
    api: Api, pstore: JetStreamEventStore
) -> None:
    did, envelopes = history(7)
    appended = await append_all(pstore, envelopes)
    mine = [a for a in appended if a.envelope.aggregate_id == did]
    plain = await api.client.get(f"/api/deployments/{did}")
    assert plain.status_code == 404  # nothing projects: the read model has never seen it
    resp = await api.client.get(f"/api/deployments/{did}", params={"min_seq": mine[-1].seq})
    assert resp.status_code == 200
    assert resp.headers["slipway-read-source"] == "event-store"
    expected = fold_deployment(await events_of(pstore, did), did)
    assert resp.json() == deployment_record(expected)
    assert resp.json()["seq"] == mine[-1].seq


async def test_a_read_with_min_seq_waits_for_a_running_projector(
    api: Api, pnc: NATS, pstore: JetStreamEventStore
) -> None:
    runner = ProjectorRunner(pnc, pstore, sessions(api.engine), fast_settings())
    async with running(runner):
        await wait_until(lambda: runner.role == "active")
        did, envelopes = history(8)
        appended = await append_all(pstore, envelopes)
        resp = await api.client.get(f"/api/deployments/{did}", params={"min_seq": appended[-1].seq})
    assert resp.status_code == 200
    assert resp.headers["slipway-read-source"] == "projection"
    assert resp.json() == deployment_record(fold_deployment(await events_of(pstore, did), did))


# ---------------------------------------------------------------- events, export, audit


async def test_a_deployment_s_events_come_with_their_hashes_and_verify(
    api: Api, pstore: JetStreamEventStore
) -> None:
    did, envelopes = history(9)
    await append_all(pstore, envelopes)
    resp = await api.client.get(f"/api/deployments/{did}/events")
    body = resp.json()
    assert body["verified"] is True and body["problem"] is None
    stored = await events_of(pstore, did)
    assert [i["seq"] for i in body["items"]] == [r.seq for r in stored]
    assert all(i["verified"] for i in body["items"])
    first, second = body["items"][:2]
    assert first["prev_hash"] is None and second["prev_hash"] == first["hash"]
    assert first["type"] == "DeploymentRequested" and first["data"]["deployment_id"] == did
    assert base64.b64decode(first["raw"]) == stored[0].raw


async def _export(api: Api, **params: str) -> list[str]:
    resp = await api.client.get("/api/events", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    return resp.text.splitlines()


async def test_an_export_of_a_real_history_verifies_and_every_tampering_is_named(
    api: Api, pnc: NATS, pstore: JetStreamEventStore
) -> None:
    last = await seed(pnc, deployments=15)
    lines = await _export(api)
    assert len(lines) == last
    report = verify_export(lines, last_seq=last)
    assert report.ok, report.summary()
    assert (report.events, report.first_seq, report.last_seq) == (last, 1, last)

    def obj(i: int) -> dict[str, object]:
        return json.loads(lines[i])  # type: ignore[no-any-return]

    # One altered byte of the stored bytes of seq 40.
    raw = bytearray(base64.b64decode(str(obj(39)["raw"])))
    at = raw.index(b'"data":') + 12
    raw[at] = raw[at] ^ 0x01
    altered = {**obj(39), "raw": base64.b64encode(bytes(raw)).decode()}
    copy = [*lines[:39], json.dumps(altered), *lines[40:]]
    assert verify_export(copy).first_break.seq == 40  # type: ignore[union-attr]
    # One altered character of a readable field.
    text_copy = [*lines[:39], lines[39].replace('"type":"', '"type":"X', 1), *lines[40:]]
    broken = verify_export(text_copy).first_break
    assert broken is not None and broken.seq == 40 and "type" in broken.reason
    # A removed event.
    removed = verify_export([*lines[:59], *lines[60:]]).first_break
    assert removed is not None and removed.seq == 60 and "missing" in removed.reason
    # A reordered pair: two events of one aggregate swapped.
    mine = [
        i
        for i, ln in enumerate(lines)
        if json.loads(ln)["aggregate_id"] == obj(100)["aggregate_id"]
    ]
    i, j = mine[1], mine[2]
    swapped = list(lines)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    report = verify_export(swapped)
    assert report.first_break is not None and report.first_break.seq == i + 1
    # The same pair swapped with their sequences kept (the chain itself is out of order).
    renumbered = list(swapped)
    renumbered[i] = json.dumps({**json.loads(swapped[i]), "seq": i + 1})
    renumbered[j] = json.dumps({**json.loads(swapped[j]), "seq": j + 1})
    report = verify_export(renumbered)
    assert report.first_break is not None and report.first_break.seq == i + 1
    assert "prev_hash" in report.first_break.reason
    # A cut-off end, found when the stream's last sequence is known.
    assert verify_export(lines[:-3], last_seq=last).first_break.seq == last - 2  # type: ignore[union-attr]


async def test_the_events_export_filters_by_aggregate_time_and_sequence(
    api: Api, pnc: NATS, pstore: JetStreamEventStore
) -> None:
    did, envelopes = history(11)
    await append_slowly(pstore, envelopes)
    mine = await events_of(pstore, did)
    one = await _export(api, aggregate="deployment", id=did)
    assert [json.loads(x)["seq"] for x in one] == [r.seq for r in mine]
    assert verify_export(one, complete=False).ok
    kinds = {json.loads(x)["aggregate"] for x in await _export(api, aggregate="environment")}
    assert kinds == {"environment"}
    after = await _export(api, after_seq=str(mine[3].seq))
    assert json.loads(after[0])["seq"] == mine[3].seq + 1
    window = await _export(
        api, aggregate="deployment", id=did,
        since=iso(mine[2].stored_at), until=iso(mine[5].stored_at),  # type: ignore[arg-type]
    )  # fmt: skip
    assert [json.loads(x)["seq"] for x in window] == [r.seq for r in mine[2:5]]


@pytest.mark.parametrize(
    "params",
    [
        {"aggregate": "cluster"},
        {"id": "x"},
        {"aggregate": "deployment", "id": "a.b"},
        {"since": "last week"},
        {"after_seq": "-1"},
        {"after_seq": "many"},
        {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
    ],
)
async def test_bad_export_filters_are_400(api: Api, params: dict[str, str]) -> None:
    resp = await api.client.get("/api/events", params=params)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"


# ---------------------------------------------------------------- auth, errors, health


async def test_every_route_but_healthz_needs_the_token(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        for path in ("/api/projects", "/api/deployments", "/api/events", "/openapi.json"):
            resp = await anonymous.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.headers["www-authenticate"].startswith("Bearer")
            wrong = await anonymous.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            basic = await anonymous.get(path, headers={"Authorization": "Basic dTpw"})
            assert basic.status_code == 401
    spec = (await api.client.get("/openapi.json")).json()
    assert "/api/deployments/{deployment_id}/state" in spec["paths"]


async def test_unknown_things_are_404_problems(api: Api) -> None:
    for path in (
        "/api/deployments/nope",
        "/api/deployments/nope/events",
        "/api/deployments/nope/state",
        "/api/projects/nope",
        "/api/projects/nope/environments/production",
        "/api/nothing-here",
    ):
        resp = await api.client.get(path)
        assert resp.status_code == 404, path
        body = resp.json()
        assert body["status"] == 404 and body["type"].startswith("urn:slipway:problem:")


@pytest.mark.parametrize(
    "params",
    [{"status": "bogus"}, {"limit": "abc"}, {"limit": "0"}, {"since": "yesterday"},
     {"commit": "xyz"}, {"cursor": "!!"}, {"type": "helm"}],
)  # fmt: skip
async def test_bad_list_filters_are_400(api: Api, params: dict[str, str]) -> None:
    resp = await api.client.get("/api/deployments", params=params)
    assert resp.status_code == 400
    assert resp.json()["title"] == "Malformed request"


async def test_projects_environments_and_deployments_are_listed_from_the_projection(
    api: Api, pnc: NATS, pstore: JetStreamEventStore
) -> None:
    last = await seed(pnc, deployments=12, projects=2)
    runner = ProjectorRunner(pnc, pstore, sessions(api.engine), fast_settings())
    await runner.read_checkpoint()
    await runner.catch_up()
    health = (await api.client.get("/healthz")).json()
    assert health["projector"] == {"checkpoint": last, "stream_last_seq": last, "lag": 0}
    projects = (await api.client.get("/api/projects")).json()["items"]
    assert len(projects) == 2 and {len(p["environments"]) for p in projects} == {2}
    name = projects[0]["name"]
    env = await api.client.get(f"/api/projects/{name}/environments/production")
    assert env.status_code == 200 and env.json()["variables"] == ["API_KEY", "DATABASE_URL"]
    page = (await api.client.get("/api/deployments", params={"limit": 5})).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    rest = (
        await api.client.get(
            "/api/deployments", params={"limit": 50, "cursor": page["next_cursor"]}
        )
    ).json()
    assert len(rest["items"]) == 7 and rest["next_cursor"] is None
    one = page["items"][0]
    assert (await api.client.get(f"/api/deployments/{one['id']}")).json() == one
