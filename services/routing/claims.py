"""Route claims against the event store: the fence's appends (log first, then the proxy).

Readers of an environment keep its folded state in memory and fetch only newer events (§2); the
environment is read through the stream leader, and every append carries the version check, so an
admission and a claim never interleave.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from libs.events import catalog as ev
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate
from libs.eventstore import FreshStates, Loaded, Repository, TooManyConflicts, VersionConflict
from services.routing.fence import (
    AlreadyRouted,
    Claim,
    Refused,
    RouteTarget,
    decide_claim,
    later_in_flight,
)

ACTOR = "routing"
MAX_TRIES = 50


@dataclass(frozen=True)
class Claimed:
    seq: int  # stream sequence of the TrafficSwitched that routes the deployment


class RouteClaims:
    def __init__(self, repo: Repository, actor: str = ACTOR) -> None:
        self.repo = repo
        self.actor = actor
        self._envs = FreshStates(repo, Aggregate.ENVIRONMENT)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ended: set[str] = set()  # ended is final: remembered, never re-read

    async def state(self, env_id: str) -> EnvironmentState:
        """The environment as it is now (read through the stream leader)."""
        async with self._locks[env_id]:
            return (await self._environment(env_id)).state

    async def _environment(self, env_id: str) -> Loaded[EnvironmentState]:
        return await self._envs.loaded(env_id)

    async def _ended_of(self, deployment_ids: list[str]) -> set[str]:
        for dep_id in deployment_ids:
            if dep_id in self._ended:
                continue
            state: DeploymentState = (
                await self.repo.load(Aggregate.DEPLOYMENT, dep_id, leader=True)
            ).state
            if state.ended is not None:
                self._ended.add(dep_id)
        return self._ended

    async def claim(
        self,
        env_id: str,
        deployment_id: str,
        target: RouteTarget,
        *,
        job_id: str,
        attempt: int,
        cause: str,
    ) -> Claimed | Refused:
        async with self._locks[env_id]:
            loaded = await self._environment(env_id)
            for _ in range(MAX_TRIES):
                mine = loaded.state.admission_of(deployment_id)
                later = later_in_flight(loaded.state, mine) if mine is not None else []
                ended = await self._ended_of(later)
                decision = decide_claim(
                    loaded.state, deployment_id, target, job_id=job_id, ended=ended
                )
                if isinstance(decision, Refused):
                    return decision
                if isinstance(decision, AlreadyRouted):
                    return Claimed(decision.seq)
                stored = await self._append(loaded, decision, deployment_id, job_id, attempt, cause)
                if stored is not None:
                    return Claimed(stored)
            raise TooManyConflicts(f"environment {env_id}: gave up claiming the route")

    async def _append(
        self,
        loaded: Loaded[EnvironmentState],
        claim: Claim,
        deployment_id: str,
        job_id: str,
        attempt: int,
        cause: str,
    ) -> int | None:
        envelope = self._event(
            loaded.aggregate_id, claim.event, deployment_id, cause, job_id, attempt
        )
        try:
            appended = await self.repo.append(loaded, [envelope])
        except VersionConflict:
            await self.repo.refresh(loaded, leader=True)
            return None
        # Empty: the id was stored already (this attempt, earlier); the reload shows the route.
        return appended[0].seq if appended else None

    async def switch_to_maintenance(
        self, env_id: str, deployment_id: str, *, cause: str
    ) -> int | None:
        """Puts the environment on the 503 page if (and only if) it routes to the deployment.

        `cause`: the pause or stop event; every reactor to it builds the same event id."""
        async with self._locks[env_id]:
            loaded = await self._environment(env_id)
            for _ in range(MAX_TRIES):
                route = loaded.state.route
                if (
                    route is None
                    or route.mode != "deployment"
                    or route.deployment_id != deployment_id
                ):
                    return None
                event = ev.TrafficSwitched(
                    mode="maintenance",
                    deployment_id=deployment_id,
                    admission_seq=route.admission_number,
                )
                envelope = self._event(env_id, event, deployment_id, cause)
                try:
                    appended = await self.repo.append(loaded, [envelope])
                except VersionConflict:
                    await self.repo.refresh(loaded, leader=True)
                    continue
                if appended:
                    return appended[0].seq
            raise TooManyConflicts(f"environment {env_id}: gave up switching to maintenance")

    async def stop_superseded(self, deployment_id: str, by: str, *, cause: str) -> None:
        """The fence refused X: X is stopped, superseded by the later deployment."""
        envelope = new_event(
            ev.DeploymentStopped(reason=f"superseded by {by}", by=self.actor, superseded_by=by),
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=deployment_id,
            causation_id=cause,
            actor=self.actor,
            correlation_id=deployment_id,
        )

        def decide(state: DeploymentState) -> list[Envelope]:
            return [] if state.ended is not None else [envelope]

        await self.repo.execute(Aggregate.DEPLOYMENT, deployment_id, decide)

    def _event(
        self,
        env_id: str,
        data: EventData,
        deployment_id: str,
        cause: str,
        job_id: str | None = None,
        attempt: int | None = None,
    ) -> Envelope:
        return new_event(
            data,
            aggregate=Aggregate.ENVIRONMENT,
            aggregate_id=env_id,
            causation_id=cause,
            actor=self.actor,
            correlation_id=deployment_id,
            job_id=job_id,
            attempt=attempt,
        )
