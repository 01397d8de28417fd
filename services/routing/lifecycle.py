"""Pause and user stop of the routed deployment put its environment on the maintenance page (§7).

The gateway appends DeploymentPaused / DeploymentStopped(by=<token>); this durable consumer (every
routing replica shares it) appends `TrafficSwitched(mode="maintenance")` when the environment
still routes to that deployment; deploy stops the containers only after the route moved. A resume
adds a segment whose RouteTrafficJob takes the route again. RouteTrafficJob runs the same check
after its claim, so a pause that raced the claim is never missed.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.consumer import DurableLoop
from libs.events import catalog as ev
from libs.events import subjects
from libs.events.envelope import Envelope
from libs.events.fold import fold_deployment
from libs.events.states import DeploymentState, DeploymentStatus
from libs.events.subjects import Aggregate
from libs.eventstore import Repository, StaleRead
from libs.settings import Settings
from services.routing.claims import RouteClaims

log = logging.getLogger("slipway.routing.lifecycle")

CONSUMER = "routing-lifecycle"
WATCHED = ("DeploymentPaused", "DeploymentStopped")
# Stops appended by services are about superseded deployments, never routed ones.
SERVICE_ACTORS = frozenset({"routing", "deploy", "admission", "health", "build", "gateway"})


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        filter_subjects=[subjects.events_of_type(t, Aggregate.DEPLOYMENT) for t in WATCHED],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=max(settings.ack_wait_s, 5.0),
        max_deliver=-1,
    )


def wants_maintenance(state: DeploymentState) -> bool:
    """Paused now, or stopped by a user (not superseded, not by a service)."""
    if state.paused:
        return True
    return (
        state.ended is DeploymentStatus.STOPPED
        and state.superseded_by is None
        and (state.end_by or "") not in SERVICE_ACTORS
    )


def cause_of(events: list[Envelope], state: DeploymentState) -> Envelope | None:
    """The event that put the deployment where it is now: its last pause or stop."""
    wanted = ev.DeploymentStopped if state.ended is not None else ev.DeploymentPaused
    return next((e for e in reversed(events) if isinstance(e.data, wanted)), None)


class MaintenanceSwitch:
    def __init__(self, repo: Repository, claims: RouteClaims) -> None:
        self.repo = repo
        self.claims = claims

    async def check(self, deployment_id: str, *, min_seq: int = 0) -> int | None:
        """Moves the environment to maintenance if the deployment should no longer be served;
        returns the sequence of the TrafficSwitched it appended, if any."""
        records = await self.repo.store.load(Aggregate.DEPLOYMENT, deployment_id, min_seq=min_seq)
        events = [r.envelope for r in records]
        state = fold_deployment(records, deployment_id)
        if not state.requested or not wants_maintenance(state):
            return None
        cause = cause_of(events, state)
        if cause is None:
            return None
        env_id = subjects.environment_id(state.project, state.environment)
        return await self.claims.switch_to_maintenance(env_id, deployment_id, cause=cause.event_id)


class LifecycleConsumer:
    def __init__(self, nc: NATS, switch: MaintenanceSwitch, settings: Settings) -> None:
        self.nc = nc
        self.switch = switch
        self.settings = settings
        self._loop = DurableLoop(
            nc, consumer_config(settings), self._handle, name="routing:lifecycle", batch=16
        )

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _handle(self, msg: Msg) -> None:
        _, dep_id, _ = subjects.parse_event_subject(msg.subject)
        try:
            seq = await self.switch.check(dep_id, min_seq=msg.metadata.sequence.stream)
        except asyncio.CancelledError:
            raise
        except StaleRead:
            await msg.nak(delay=0.1)
            return
        except Exception:
            log.exception("maintenance switch for %s failed; redelivery follows", dep_id)
            await msg.nak(delay=self.settings.lost_holder_nak_delay_s)
            return
        if seq is not None:
            log.info("deployment %s paused or stopped: maintenance page (seq %d)", dep_id, seq)
        await msg.ack()
