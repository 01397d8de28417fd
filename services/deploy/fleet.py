"""What the deploy service's reconcilers know of the log: every deployment and environment, folded.

Rebuilt from the log at start, then kept current incrementally (only the events after the
sequence already folded are read). Pure apart from `catch_up`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from libs.events.fold import Recorded, evolve
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate, environment_id
from libs.eventstore import JetStreamEventStore


@dataclass
class Fleet:
    deployments: dict[str, DeploymentState] = field(default_factory=dict)
    environments: dict[str, EnvironmentState] = field(default_factory=dict)
    last_seq: int = 0

    def apply(self, rec: Recorded) -> None:
        if rec.seq <= self.last_seq:
            return
        env = rec.envelope
        if env.aggregate is Aggregate.DEPLOYMENT:
            state = self.deployments.get(env.aggregate_id) or DeploymentState(id=env.aggregate_id)
            self.deployments[env.aggregate_id] = evolve(state, rec)
        elif env.aggregate is Aggregate.ENVIRONMENT:
            current = self.environments.get(env.aggregate_id)
            self.environments[env.aggregate_id] = evolve(
                current or EnvironmentState(id=env.aggregate_id), rec
            )
        self.last_seq = rec.seq

    def environment_of(self, deployment_id: str) -> str | None:
        state = self.deployments.get(deployment_id)
        if state is None or not state.requested:
            return None
        return environment_id(state.project, state.environment)

    def serving(self, env_id: str | None) -> str | None:
        """The deployment the environment's latest TrafficSwitched sends traffic to (not a
        maintenance page): its containers are never removed."""
        env = self.environments.get(env_id) if env_id else None
        if env is None or env.route is None or env.route.mode != "deployment":
            return None
        return env.route.deployment_id

    def route_names(self, env_id: str) -> str | None:
        """The deployment the latest route names, maintenance included (retention keeps it)."""
        env = self.environments.get(env_id)
        return env.route.deployment_id if env is not None and env.route is not None else None

    def is_serving(self, deployment_id: str) -> bool:
        return self.serving(self.environment_of(deployment_id)) == deployment_id

    def admitted(self, env_id: str) -> list[DeploymentState]:
        """The environment's deployments in admission order (oldest first)."""
        env = self.environments.get(env_id)
        if env is None:
            return []
        return [
            self.deployments[a.deployment_id]
            for a in env.admitted
            if a.deployment_id in self.deployments
        ]

    def admission_number(self, deployment_id: str) -> int | None:
        env_id = self.environment_of(deployment_id)
        env = self.environments.get(env_id) if env_id else None
        admission = env.admission_of(deployment_id) if env is not None else None
        return admission.number if admission is not None else None


# Further behind than this, the bulk reader (one ephemeral consumer) beats direct gets: the
# first catch-up after a start reads the whole log.
BULK_READ_AFTER = 2_000


class FleetReader:
    """Keeps a `Fleet` current; one catch-up at a time."""

    def __init__(
        self,
        store: JetStreamEventStore,
        fleet: Fleet | None = None,
        *,
        bulk_read_after: int = BULK_READ_AFTER,
    ) -> None:
        self.store = store
        self.fleet = fleet or Fleet()
        self.bulk_read_after = bulk_read_after
        self._lock = asyncio.Lock()

    async def catch_up(self, min_seq: int = 0, *, attempts: int = 20) -> Fleet:
        """Fold every event stored after the last one folded; with `min_seq`, retry until that
        sequence is folded (a lagging replica), raising TimeoutError after `attempts` tries."""
        async with self._lock:
            for _ in range(attempts):
                last = await self.store.last_seq()
                if last - self.fleet.last_seq > self.bulk_read_after:
                    chunks = self.store.replay(from_seq=self.fleet.last_seq + 1, until_seq=last)
                    async for chunk in chunks:
                        for rec in chunk:
                            self.fleet.apply(rec)
                async for rec in self.store.read_all(from_seq=self.fleet.last_seq + 1):
                    self.fleet.apply(rec)
                if self.fleet.last_seq >= min_seq:
                    return self.fleet
                await asyncio.sleep(0.1)
        raise TimeoutError(f"the event log did not reach sequence {min_seq}")
