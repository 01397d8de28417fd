"""Projector tests that run unchanged on every dialect: each test package supplies a `db` fixture.

Imported by `test_core_sqlite.py` (unit, SQLite) and by the PostgreSQL integration package.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select

from libs.events import Aggregate, DeploymentType, JobType, Recorded, fold_deployment
from libs.events import catalog as ev
from services.projector import project as projection
from services.projector.db import migrate
from services.projector.project import CheckpointMismatch, Projector, read_checkpoint
from services.projector.queries import (
    InvalidQuery,
    get_deployment,
    get_environment,
    get_project,
    list_artifacts,
    list_deployments,
    list_projects,
)
from services.projector.records import artifacts_of, deployment_record
from services.projector.schema import Deployment, metadata
from tests.unit.projector.support import Db, FakeLog, env_id, histories, image_run, requested


async def _apply(db: Db, projector: Projector, events: list[Recorded]) -> int:
    async with db.sessions() as session:
        return await projector.apply_batch(session, events)


async def _record(db: Db, did: str) -> dict[str, Any] | None:
    async with db.sessions() as session:
        return await get_deployment(session, did)


# ---------------------------------------------------------------- the projection equals the fold


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_projected_record_equals_the_fold_after_every_batch(
    db: Db, data: st.DataObject
) -> None:
    did = str(uuid.uuid4())
    log = FakeLog()
    for payload, gap in data.draw(histories(did), label="history"):
        log.deployment(did, payload, at=log.tick(gap))
    n = len(log.events)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(n - 1, 1))), label="cuts") - {n})
    projector = Projector(log.load, checkpoint=f"prop-{did}")
    start = 0
    for end in [*cuts, n]:
        if data.draw(st.booleans(), label="cold cache"):
            projector = Projector(log.load, checkpoint=f"prop-{did}")
        assert await _apply(db, projector, log.events[start:end]) == end
        state = fold_deployment(log.events[:end], did)
        assert await _record(db, did) == deployment_record(state)
        async with db.sessions() as session:
            stored = await list_artifacts(session, did)
        assert stored == sorted(artifacts_of(state), key=lambda a: a["name"])
        start = end


async def test_a_fresh_deployment_is_projected_without_reading_its_history(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    await _apply(db, Projector(log.load, checkpoint=did), log.events)
    assert log.loads == 0
    record = await _record(db, did)
    assert record is not None and record["status"] == "completed"


async def test_a_cold_projector_rebuilds_the_state_from_the_events_before_the_batch(db: Db) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did, until=JobType.ROUTE_TRAFFIC)
    await _apply(db, Projector(log.load, checkpoint=did), log.events)
    cut = len(log.events)
    image_run_rest = [
        ev.JobStarted(job_id="route", job_type=JobType.ROUTE_TRAFFIC, attempt=1, executor="h"),
        ev.JobSucceeded(job_id="route", attempt=1),
    ]
    for payload in image_run_rest:
        log.deployment(did, payload)
    log.deployment(did, ev.DeploymentPaused(by="u"))  # stored, not yet in the batch below
    cold = Projector(log.load, checkpoint=did)
    await _apply(db, cold, log.events[cut : cut + 2])
    assert log.loads == 1
    record = await _record(db, did)
    assert record == deployment_record(fold_deployment(log.events[: cut + 2], did))
    assert record is not None and record["status"] == "ready"


# ---------------------------------------------------------------- checkpoint


async def test_a_batch_that_skips_ahead_of_the_checkpoint_is_refused_and_writes_nothing(
    db: Db,
) -> None:
    log = FakeLog()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for did in (first, first, second, second):
        log.deployment(did, requested(did))
    projector = Projector(log.load, checkpoint=f"gap-{first}")
    await _apply(db, projector, log.events[:2])
    with pytest.raises(CheckpointMismatch) as caught:
        await _apply(db, projector, log.events[3:])
    assert (caught.value.expected, caught.value.actual) == (3, 2)
    assert await _record(db, second) is None
    async with db.sessions() as session:
        assert await read_checkpoint(session, f"gap-{first}") == 2


async def test_a_second_writer_interleaving_makes_the_batch_fail_and_roll_back(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did, until=JobType.HEALTH_CHECK)
    name = f"race-{did}"
    winner, loser = Projector(log.load, checkpoint=name), Projector(log.load, checkpoint=name)
    real = projection.read_checkpoint

    async def read_then_lose_the_race(session: Any, cp: str = name) -> int:
        seen = await real(session, cp)
        monkeypatch.setattr(projection, "read_checkpoint", real)
        assert await _apply(db, winner, log.events) == len(log.events)
        return seen

    monkeypatch.setattr(projection, "read_checkpoint", read_then_lose_the_race)
    with pytest.raises(CheckpointMismatch):
        await _apply(db, loser, log.events)
    async with db.sessions() as session:
        assert await read_checkpoint(session, name) == len(log.events)
    assert await _record(db, did) == deployment_record(fold_deployment(log.events, did))


async def test_redelivered_events_at_or_below_the_checkpoint_are_skipped(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    projector = Projector(log.load, checkpoint=f"redeliver-{did}")
    applied: list[int] = []
    real_apply = Projector._apply

    async def spy(self: Projector, session: Any, rec: Recorded, staged: Any) -> None:
        applied.append(rec.seq)
        await real_apply(self, session, rec, staged)

    monkeypatch.setattr(Projector, "_apply", spy)
    assert await _apply(db, projector, log.events[:3]) == 3
    assert await _apply(db, projector, log.events[:3]) == 3
    assert await _apply(db, projector, log.events[1:5]) == 5
    assert applied == [1, 2, 3, 4, 5]
    await _apply(db, projector, log.events)
    assert await _record(db, did) == deployment_record(fold_deployment(log.events, did))


# ---------------------------------------------------------------- filters and pagination


async def _seed(db: Db, project: str) -> dict[str, str]:
    """Six deployments of `project` with known fields; returns name -> id."""
    log = FakeLog()
    ids = {k: f"{k}-{uuid.uuid4()}" for k in ("a", "b", "c", "d", "e", "f")}
    at = log.tick()
    spec = {
        "a": dict(environment="production", branch="main", commit="aaaa" + "0" * 36),
        "b": dict(environment="production", branch="main", commit="bbbb" + "0" * 36),
        "c": dict(environment="staging", branch="dev", commit="cccc" + "0" * 36),
        "d": dict(environment="staging", branch="dev", kind=DeploymentType.IMAGE),
        "e": dict(environment="production", branch="main", kind=DeploymentType.IMAGE),
        "f": dict(environment="production", branch="feature", commit="ffff" + "0" * 36),
    }
    for key, kw in spec.items():
        did = ids[key]
        # b and c were requested in the same microsecond: the id breaks the tie.
        when = at if key == "c" else log.tick(1_000_000)
        at = when
        log.deployment(did, requested(did, project=project, **kw), at=when)  # type: ignore[arg-type]
    image_run(log, ids["e"])  # completed
    image_run(log, ids["d"], until=JobType.HEALTH_CHECK)  # deploying
    log.deployment(ids["a"], ev.DeploymentCancelled(reason="superseded", by="admission"))
    log.deployment(ids["f"], ev.DeploymentAdmitted(deployment_id=ids["f"]))
    log.deployment(
        ids["f"],
        ev.JobStarted(job_id="download", job_type=JobType.DOWNLOAD_REPO, attempt=1, executor="h"),
    )
    log.deployment(ids["f"], ev.JobFailed(job_id="download", attempt=1, error="no such ref"))
    await _apply(db, Projector(log.load, checkpoint=f"seed-{project}"), log.events)
    return ids


async def _ids(db: Db, **filters: Any) -> list[str]:
    async with db.sessions() as session:
        page = await list_deployments(session, **filters)
    return [item["id"] for item in page.items]


async def test_deployments_are_listed_newest_first_and_filtered(db: Db) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    ids = await _seed(db, project)
    a, b, c, d, e, f = (ids[k] for k in "abcdef")
    bc = sorted([b, c], reverse=True)
    assert await _ids(db, project=project) == [f, e, d, *bc, a]
    assert await _ids(db, project=project, environment="staging") == [d, c]
    assert await _ids(db, project=project, status="deployed") == [e]
    assert await _ids(db, project=project, status="completed,deploying") == [e, d]
    assert await _ids(db, project=project, status="cancelled") == [a]
    assert await _ids(db, project=project, status="failed") == [f]
    assert await _ids(db, project=project, type="image") == [e, d]
    assert await _ids(db, project=project, branch="dev") == [d, c]
    assert await _ids(db, project=project, commit="cccc") == [c]
    assert await _ids(db, project=project, commit="FFFF" + "0" * 36) == [f]
    async with db.sessions() as session:
        created = {k: (await get_deployment(session, v)) for k, v in ids.items()}
    since = created["d"]["created_at"]  # type: ignore[index]
    assert await _ids(db, project=project, since=since) == [f, e, d]
    assert await _ids(db, project=project, until=since) == [*bc, a]
    assert await _ids(db, project=project, since=created["b"]["created_at"], until=since) == bc  # type: ignore[index]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(db: Db) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    await _seed(db, project)
    everything = await _ids(db, project=project)
    seen: list[str] = []
    cursor = None
    async with db.sessions() as session:
        while True:
            page = await list_deployments(session, project=project, limit=2, cursor=cursor)
            assert len(page.items) <= 2
            seen += [i["id"] for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == everything and len(set(seen)) == 6
    assert page.to_dict()["next_cursor"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "bogus"},
        {"status": ","},
        {"type": "helm"},
        {"limit": 0},
        {"limit": 10_000},
        {"cursor": "not-a-cursor!"},
        {"cursor": "WyJ4Il0"},  # valid base64 JSON, wrong shape
        {"since": "yesterday"},
        {"commit": "xyz"},
        {"commit": "abc"},
    ],
)
async def test_bad_list_parameters_raise_invalid_query(db: Db, bad: dict[str, Any]) -> None:
    async with db.sessions() as session:
        with pytest.raises(InvalidQuery):
            await list_deployments(session, **bad)


async def test_unknown_deployment_project_and_environment_read_as_none(db: Db) -> None:
    async with db.sessions() as session:
        assert await get_deployment(session, "nope") is None
        assert await list_artifacts(session, "nope") is None
        assert await get_project(session, "nope") is None
        assert await get_environment(session, "nope", "production") is None


# ---------------------------------------------------------------- projects and environments


async def test_projects_and_environments_follow_their_events(db: Db) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    log = FakeLog()
    eid = env_id(project, "production")
    log.append(
        ev.ProjectRegistered(name=project, repo_url="https://x/a.git"), Aggregate.PROJECT, project
    )
    log.append(
        ev.EnvironmentConfigured(
            project=project, environment="production", branch="main", variables={"API_KEY": 3}
        ),
        Aggregate.ENVIRONMENT,
        eid,
    )
    log.append(
        ev.TrafficSwitched(mode="deployment", deployment_id="d1", upstreams=("127.0.0.1:3001",)),
        Aggregate.ENVIRONMENT,
        eid,
    )
    log.append(ev.ProjectUpdated(repo_url="https://x/b.git"), Aggregate.PROJECT, project)
    log.append(
        ev.TrafficSwitched(mode="maintenance", deployment_id="d1"),
        Aggregate.ENVIRONMENT,
        env_id(project, "staging"),
    )
    await _apply(db, Projector(log.load, checkpoint=f"env-{project}"), log.events)
    async with db.sessions() as session:
        prod = await get_environment(session, project, "production")
        got = await get_project(session, project)
        listed = await list_projects(session)
    assert prod is not None and got is not None
    assert prod["branch"] == "main" and prod["variables"] == ["API_KEY"]
    assert prod["current_deployment_id"] == "d1"
    assert prod["route"]["upstreams"] == ["127.0.0.1:3001"] and prod["route"]["seq"] == 3
    assert prod["url"] == f"http://production.{project}.localhost:8080"
    assert got["repo_url"] == "https://x/b.git"
    assert [e["name"] for e in got["environments"]] == ["production", "staging"]
    assert got["environments"][1]["route"]["mode"] == "maintenance"
    assert project in [p["name"] for p in listed.items]


async def test_projects_are_paged_by_name(db: Db) -> None:
    log = FakeLog()
    prefix = f"q{uuid.uuid4().hex[:8]}"
    for i in range(3):
        log.append(ev.ProjectRegistered(name=f"{prefix}-{i}"), Aggregate.PROJECT, f"{prefix}-{i}")
    await _apply(db, Projector(log.load, checkpoint=prefix), log.events)
    names: list[str] = []
    cursor = None
    async with db.sessions() as session:
        while True:
            page = await list_projects(session, limit=1, cursor=cursor)
            names += [p["name"] for p in page.items]
            if (cursor := page.next_cursor) is None:
                break
    assert [n for n in names if n.startswith(prefix)] == [f"{prefix}-{i}" for i in range(3)]


# ---------------------------------------------------------------- migrations


async def test_migrations_are_idempotent_and_match_the_tables(db: Db) -> None:
    await migrate(db.url)

    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        assert (await conn.execute(select(Deployment.id).limit(1))).all() is not None
