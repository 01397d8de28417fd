"""The admission manager (§7): one active consumer, in stream order, admitting or queueing.

All replicas share one durable consumer with `max_ack_pending=1`, so exactly one message is being
decided at any moment, in stream order, whichever replica holds it. Each decision is one atomic
batch over the environment and the deployments it touches; a redelivered message decides again on
fresh state and finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.consumer import DurableLoop
from libs.events import subjects
from libs.events.fold import Recorded
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate
from libs.eventstore import (
    DuplicateBatch,
    FreshStates,
    JetStreamEventStore,
    Loaded,
    PendingAppend,
    Repository,
    StaleRead,
    VersionConflict,
    recorded_from_delivery,
)
from libs.settings import Settings
from libs.telemetry import deployment_span
from services.gateway.admission_rules import decide

log = logging.getLogger("slipway.admission")

CONSUMER = "admission"
# Deployments whose folded state the manager keeps between decisions (refreshed incrementally).
DEPLOYMENT_CACHE = 4096
WATCHED = (
    "DeploymentRequested",
    "JobSucceeded",
    "JobFailed",
    "DeploymentCancelled",
    "DeploymentStopped",
)


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        filter_subjects=[subjects.events_of_type(t, Aggregate.DEPLOYMENT) for t in WATCHED],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=max(settings.ack_wait_s, 5.0),
        max_deliver=-1,
        max_ack_pending=1,
    )


class AdmissionManager:
    def __init__(self, nc: NATS, settings: Settings) -> None:
        self.nc = nc
        self.settings = settings
        self.repo = Repository(JetStreamEventStore(nc))
        self.envs = FreshStates(self.repo, Aggregate.ENVIRONMENT)
        self.deps: OrderedDict[str, Loaded[DeploymentState]] = OrderedDict()
        self.last_seq = 0  # stream sequence of the last message decided (for lag reports)
        self._loop = DurableLoop(
            nc, consumer_config(settings), self._decide, name="admission", batch=1
        )

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _decide(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
            await msg.ack()
            self.last_seq = msg.metadata.sequence.stream
        except asyncio.CancelledError:
            raise
        except StaleRead:
            await _nak(msg, 0.1)
        except Exception:
            log.exception("admission of %s failed; it will be redelivered", msg.subject)
            await _nak(msg, 0.5)

    async def handle(self, msg: Msg) -> None:
        _, dep_id, event_type = subjects.parse_event_subject(msg.subject)
        seq = msg.metadata.sequence.stream
        cause = (msg.headers or {}).get("Nats-Msg-Id") or f"seq-{seq}"
        # A deployment is created once, by its DeploymentRequested: nothing of it comes before.
        first = recorded_from_delivery(msg) if event_type == "DeploymentRequested" else None
        with deployment_span("admission", dep_id, headers=msg.headers, event_id=cause):
            await self.decide_and_append(dep_id, cause, min_seq=seq, first=first)

    async def decide_and_append(
        self, dep_id: str, cause: str, *, min_seq: int = 0, first: Recorded | None = None
    ) -> None:
        for _ in range(50):
            dep = await self._deployment(dep_id, min_seq=min_seq, first=first)
            if not dep.state.requested:
                return
            env = await self._environment(dep.state)
            others: dict[str, Loaded[DeploymentState]] = {}
            for other_id in {
                *env.state.queued_ids,
                *(a.deployment_id for a in env.state.in_flight),
            }:
                if other_id != dep_id:
                    others[other_id] = await self._deployment(other_id, leader=True)
            events = decide(env.state, dep.state, {k: v.state for k, v in others.items()}, cause)
            if not events:
                return
            loaded: dict[tuple[Aggregate, str], Loaded[Any]] = {
                (Aggregate.DEPLOYMENT, dep_id): dep,
                (env.aggregate, env.aggregate_id): env,
            }
            loaded.update({(Aggregate.DEPLOYMENT, k): v for k, v in others.items()})
            batch = [
                PendingAppend(
                    e,
                    loaded[(e.aggregate, e.aggregate_id)].last_seq,
                    loaded[(e.aggregate, e.aggregate_id)].last_hash,
                )
                for e in events
            ]
            try:
                if len(batch) == 1:
                    # One aggregate: a plain version-checked append (an atomic batch costs the
                    # server a staging store of its own, several times a lone append).
                    one = batch[0]
                    res = await self.repo.store.append(
                        one.envelope, expected_seq=one.expected_seq, prev_hash=one.prev_hash
                    )
                    if res.duplicate:
                        continue  # decided before: decide again on fresh state
                    stored = [res]
                else:
                    stored = await self.repo.store.append_batch(batch)
                # The states held for the next decisions take what was just stored: the version
                # checks passed, so nothing came in between, and their next refresh starts here
                # instead of searching the stream from where they were read.
                for res in stored:
                    loaded[(res.envelope.aggregate, res.envelope.aggregate_id)].applied(res)
                log.info(
                    "admission: %s",
                    ", ".join(f"{e.type}({e.correlation_id})@{e.aggregate.value}" for e in events),
                )
                return
            except (VersionConflict, DuplicateBatch):
                continue  # something moved on (or this was decided before): decide again
        raise RuntimeError(f"admission of {dep_id}: too many conflicts")

    async def _deployment(
        self,
        dep_id: str,
        *,
        min_seq: int = 0,
        leader: bool = False,
        first: Recorded | None = None,
    ) -> Loaded[DeploymentState]:
        """A deployment's folded state, kept between decisions and refreshed incrementally:
        its own aggregate by direct get with the sequence guard, others through the leader.

        `first`: the deployment's first event (its DeploymentRequested, delivered to us). When
        the leader's subject index says it is the only one, it is the whole history; else the
        read starts at it instead of making the server search the stream from its start."""
        held = self.deps.pop(dep_id, None)
        if held is None and first is not None:
            held = Loaded(
                Aggregate.DEPLOYMENT,
                dep_id,
                DeploymentState(id=dep_id),
                last_seq=first.seq - 1,
            )
            if await self.repo.store.count_via_leader(Aggregate.DEPLOYMENT, dep_id) == 1:
                held.apply([first])
            else:
                await self.repo.refresh(held, min_seq=min_seq, leader=leader)
        elif held is None:
            held = await self.repo.load(
                Aggregate.DEPLOYMENT, dep_id, min_seq=min_seq, leader=leader
            )
        elif leader or held.last_seq < min_seq:
            await self.repo.refresh(held, min_seq=min_seq, leader=leader)
        elif await self.repo.store.count_via_leader(Aggregate.DEPLOYMENT, dep_id) != held.count:
            # Something newer than what we hold: read it (a direct get that finds nothing new
            # would search the rest of the stream for nothing).
            await self.repo.refresh(held, min_seq=min_seq)
        self.deps[dep_id] = held
        while len(self.deps) > DEPLOYMENT_CACHE:
            self.deps.popitem(last=False)
        return held

    async def _environment(self, dep: DeploymentState) -> Loaded[EnvironmentState]:
        return await self.envs.loaded(subjects.environment_id(dep.project, dep.environment))


async def _nak(msg: Msg, delay: float) -> None:
    with contextlib.suppress(Exception):
        await msg.nak(delay=delay)
