"""Removes a deployment's crons when it ends (stopped, cancelled or failed): a lifecycle consumer.

One durable pull consumer (shared by every postdeploy replica) on the events that can end a
deployment. The fold decides: only a deployment that has ended loses its crons, and only its
own. Removal is idempotent, so redeliveries and replays are harmless.
"""

from __future__ import annotations

import contextlib
import logging

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.consumer import DurableLoop
from libs.events import subjects
from libs.events.states import DeploymentState
from libs.events.subjects import Aggregate
from libs.eventstore import Repository, StaleRead
from libs.settings import Settings
from services.postdeploy.crons import remove_deployment
from services.postdeploy.ports import CronStore, EnvLog

log = logging.getLogger("slipway.postdeploy.lifecycle")

CONSUMER = "postdeploy-cron-lifecycle"
# A failure ends a deployment through the JobFailed of a required job (the fold decides).
ENDING_EVENTS = ("DeploymentStopped", "DeploymentCancelled", "JobFailed")


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        filter_subjects=[subjects.events_of_type(t, Aggregate.DEPLOYMENT) for t in ENDING_EVENTS],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_s,
        max_deliver=-1,
    )


async def remove_when_ended(state: DeploymentState, store: CronStore, env_log: EnvLog) -> int:
    if state.ended is None or not state.project:
        return 0
    removed = await remove_deployment(store, state.project, state.environment, state.id)
    if removed:
        env_id = subjects.environment_id(state.project, state.environment)
        await env_log.write(
            env_id, f"removed {removed} cron(s) of deployment {state.id} ({state.status.value})"
        )
    return removed


class CronLifecycle:
    def __init__(
        self, nc: NATS, *, store: CronStore, env_log: EnvLog, repo: Repository, settings: Settings
    ) -> None:
        self.nc = nc
        self.store = store
        self.env_log = env_log
        self.repo = repo
        self.settings = settings
        self._loop = DurableLoop(
            nc, consumer_config(settings), self._handle, name="cron-lifecycle", batch=16
        )

    async def start(self) -> CronLifecycle:
        await self._loop.start()
        return self

    async def stop(self) -> None:
        await self._loop.stop()

    async def _handle(self, msg: Msg) -> None:
        try:
            _, dep_id, _ = subjects.parse_event_subject(msg.subject)
            loaded = await self.repo.load(
                Aggregate.DEPLOYMENT, dep_id, min_seq=msg.metadata.sequence.stream
            )
            await remove_when_ended(loaded.state, self.store, self.env_log)
        except StaleRead:
            await msg.nak(delay=0.1)
            return
        except Exception:
            log.exception("removing the crons after %s failed; redelivery follows", msg.subject)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.settings.lost_holder_nak_delay_s)
            return
        await msg.ack()
