"""The admission manager against a real nats-server: supersede, queue, duplicates, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.states import DeploymentState, DeploymentStatus, EnvironmentState
from libs.events.subjects import Aggregate, environment_id
from libs.events.values import AdmissionPolicy, DeploymentType, JobSpec, JobType
from libs.eventstore import JetStreamEventStore, Repository, bootstrap
from libs.settings import Settings
from services.gateway.admission import AdmissionManager
from tests.factories import dep_event, env_event, requested, uid
from tests.support.names import unique

ONE_JOB = (JobSpec(id="complete", type=JobType.MARK_DEPLOYMENT_COMPLETE),)


@pytest.fixture
async def anc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    await bootstrap(conn)
    yield conn
    await conn.close()


@pytest.fixture
def arepo(anc: NATS) -> Repository:
    return Repository(JetStreamEventStore(anc))


@pytest.fixture
async def manager(anc: NATS) -> AsyncIterator[AdmissionManager]:
    m = AdmissionManager(anc, Settings(ack_wait_s=5))
    await m.start()
    yield m
    await m.stop()


async def configure(repo: Repository, project: str, policy: AdmissionPolicy) -> str:
    env_id = environment_id(project, "prod")
    loaded = await repo.load(Aggregate.ENVIRONMENT, env_id)
    await repo.append(
        loaded,
        [
            env_event(
                env_id, ev.EnvironmentConfigured(project=project, environment="prod", policy=policy)
            )
        ],
    )
    return env_id


async def request(repo: Repository, project: str, commit: str | None = None) -> str:
    d = uid("d")
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)
    data = requested(d, kind=DeploymentType.MANUAL, plan=ONE_JOB, project=project, commit=commit)
    await repo.append(loaded, [dep_event(d, data, cause=f"req-{d}")])
    return d


async def complete(repo: Repository, d: str) -> None:
    loaded = await repo.load(Aggregate.DEPLOYMENT, d)
    await repo.append(
        loaded,
        [
            dep_event(
                d,
                ev.JobStarted(
                    job_id="complete",
                    job_type=JobType.MARK_DEPLOYMENT_COMPLETE,
                    attempt=1,
                    executor="t",
                ),
                cause="s",
            ),
            dep_event(d, ev.JobSucceeded(job_id="complete", attempt=1), cause="ok"),
        ],
    )


async def dep_state(repo: Repository, d: str) -> DeploymentState:
    return (await repo.load(Aggregate.DEPLOYMENT, d)).state


async def env_state(repo: Repository, env_id: str) -> EnvironmentState:
    return (await repo.load(Aggregate.ENVIRONMENT, env_id)).state


async def eventually(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_supersede_cancels_the_older_pending_deployment_naming_the_newer(
    arepo: Repository, manager: AdmissionManager
) -> None:
    project = unique("p")
    await configure(arepo, project, AdmissionPolicy.SUPERSEDE)
    first = await request(arepo, project, "a" * 40)
    second = await request(arepo, project, "b" * 40)

    async def older_cancelled() -> DeploymentState | None:
        s = await dep_state(arepo, first)
        return s if s.status is DeploymentStatus.CANCELLED else None

    older = await eventually(older_cancelled)
    assert second in (older.end_reason or "")
    assert older.superseded_by == second
    assert (await dep_state(arepo, second)).admitted


async def test_queue_admits_one_after_another_in_request_order_across_a_restart(
    anc: NATS, arepo: Repository
) -> None:
    project = unique("p")
    env_id = await configure(arepo, project, AdmissionPolicy.QUEUE)
    m = AdmissionManager(anc, Settings(ack_wait_s=5))
    await m.start()
    deps = [await request(arepo, project, c * 40) for c in "abc"]

    async def admitted() -> list[str]:
        return [a.deployment_id for a in (await env_state(arepo, env_id)).admitted]

    await eventually(lambda: _eq(admitted, deps[:1]))
    await asyncio.sleep(0.3)
    assert await admitted() == deps[:1]  # the others wait
    await complete(arepo, deps[0])
    await eventually(lambda: _eq(admitted, deps[:2]))
    # Kill the manager mid-way; a new one carries on in the same order.
    await m.stop()
    await complete(arepo, deps[1])
    m2 = AdmissionManager(anc, Settings(ack_wait_s=5))
    await m2.start()
    try:
        await eventually(lambda: _eq(admitted, deps))
        await complete(arepo, deps[2])
        state = await eventually(lambda: _ended(arepo, env_id, 3))
    finally:
        await m2.stop()
    assert list(state.ended) == deps
    assert set(state.ended.values()) == {"completed"}


async def test_a_request_for_a_commit_in_flight_is_cancelled_as_a_duplicate(
    arepo: Repository, manager: AdmissionManager
) -> None:
    project = unique("p")
    await configure(arepo, project, AdmissionPolicy.QUEUE)
    first = await request(arepo, project, "c" * 40)
    await eventually(lambda: _admitted(arepo, first))
    twin = await request(arepo, project, "c" * 40)

    async def twin_cancelled() -> DeploymentState | None:
        s = await dep_state(arepo, twin)
        return s if s.status is DeploymentStatus.CANCELLED else None

    state = await eventually(twin_cancelled)
    assert f"duplicate of {first}" in (state.end_reason or "")


async def test_deciding_the_same_message_again_appends_nothing(
    arepo: Repository, manager: AdmissionManager
) -> None:
    project = unique("p")
    env_id = await configure(arepo, project, AdmissionPolicy.SUPERSEDE)
    d = await request(arepo, project, "d" * 40)
    await eventually(lambda: _admitted(arepo, d))
    before = (await arepo.load(Aggregate.ENVIRONMENT, env_id)).last_seq
    await manager.decide_and_append(d, f"req-{d}")
    await manager.decide_and_append(d, "another-cause")
    assert (await arepo.load(Aggregate.ENVIRONMENT, env_id)).last_seq == before


async def test_every_ended_deployment_gets_exactly_one_deployment_ended(
    arepo: Repository, manager: AdmissionManager
) -> None:
    project = unique("p")
    env_id = await configure(arepo, project, AdmissionPolicy.SUPERSEDE)
    deps = [await request(arepo, project, f"{i:040x}") for i in range(5)]
    await eventually(lambda: _admitted(arepo, deps[-1]))
    await complete(arepo, deps[-1])
    await eventually(lambda: _ended(arepo, env_id, 5))
    events = await arepo.store.load(Aggregate.ENVIRONMENT, env_id)
    ended = [e.envelope.data.deployment_id for e in events if e.envelope.type == "DeploymentEnded"]
    assert sorted(ended) == sorted(deps)


async def _eq(get, want):  # type: ignore[no-untyped-def]
    return (await get()) == want


async def _admitted(repo: Repository, d: str) -> bool:
    return (await dep_state(repo, d)).admitted


async def _ended(repo: Repository, env_id: str, n: int) -> EnvironmentState | None:
    s = await env_state(repo, env_id)
    return s if len(s.ended) >= n else None


async def test_a_deployment_cancelled_before_admission_decided_is_ended_never_admitted(
    anc: NATS, arepo: Repository
) -> None:
    """Its DeploymentRequested is not its whole history any more when admission reads it."""
    project = unique("p")
    env_id = await configure(arepo, project, AdmissionPolicy.SUPERSEDE)
    d = await request(arepo, project, "c" * 40)
    loaded = await arepo.load(Aggregate.DEPLOYMENT, d)
    cancel = ev.DeploymentCancelled(reason="changed my mind", by="user")
    await arepo.append(loaded, [dep_event(d, cancel, cause="user-cancel")])
    m = AdmissionManager(anc, Settings(ack_wait_s=5))
    await m.start()
    try:
        env = await eventually(lambda: _ended(arepo, env_id, 1))
    finally:
        await m.stop()
    assert d in env.ended
    state = await dep_state(arepo, d)
    assert not state.admitted and state.status is DeploymentStatus.CANCELLED
