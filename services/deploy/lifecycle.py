"""The deploy service's lifecycle: teardown after a route switch, the Docker reconciler, retention.

One durable consumer (`deploy-lifecycle`) on the events that change which containers should run
(JobSucceeded, TrafficSwitched, DeploymentStopped, DeploymentCancelled, JobFailed,
DeploymentPaused) reacts at once; a periodic pass every `reconcile_interval_s` compares the
desired containers (the fold) with the actual ones (by label) and applies retention. Both fold
the log incrementally into one in-memory `Fleet`, rebuilt from the log at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.containers.runtime import (
    ContainerRuntime,
    DockerUnavailable,
    ImageStore,
    ManagedContainer,
)
from libs.events import catalog as ev
from libs.events import subjects
from libs.events.registry import decode
from libs.events.subjects import Aggregate
from libs.events.values import JobType
from libs.eventstore import JetStreamEventStore, Repository
from libs.settings import Settings
from services.deploy.appends import record_removed, record_superseded
from services.deploy.containers import MANAGED_LABEL
from services.deploy.envlog import EnvironmentLog
from services.deploy.fleet import Fleet, FleetReader
from services.deploy.lifecycle_rules import (
    Removal,
    by_deployment,
    removals,
    retention,
    teardown_targets,
)
from services.deploy.pruning import Pruner
from services.deploy.retention import Prune

log = logging.getLogger("slipway.deploy.lifecycle")

CONSUMER = "deploy-lifecycle"
LIFECYCLE_EVENTS: tuple[tuple[str, Aggregate], ...] = (
    ("JobSucceeded", Aggregate.DEPLOYMENT),
    ("JobFailed", Aggregate.DEPLOYMENT),
    ("DeploymentStopped", Aggregate.DEPLOYMENT),
    ("DeploymentCancelled", Aggregate.DEPLOYMENT),
    ("DeploymentPaused", Aggregate.DEPLOYMENT),
    ("TrafficSwitched", Aggregate.ENVIRONMENT),
)


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        filter_subjects=[subjects.events_of_type(t, agg) for t, agg in LIFECYCLE_EVENTS],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_s,
        max_deliver=-1,
        max_ack_pending=256,
    )


class DeployLifecycle:
    def __init__(
        self,
        nc: NATS,
        runtime: ContainerRuntime,
        images: ImageStore,
        settings: Settings,
        *,
        static_dir: Path | None = None,
    ) -> None:
        self.nc = nc
        self.runtime = runtime
        self.images = images
        self.settings = settings
        self.static_dir = (static_dir or settings.static_dir).absolute()
        store = JetStreamEventStore(nc)
        self.repo = Repository(store)
        self.reader = FleetReader(store)
        self.pruner = Pruner(images, self.repo, self.static_dir)
        self.env_log = EnvironmentLog(nc.publish)
        self._busy: set[str] = set()  # deployments being torn down right now
        self._pass = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._docker_down = False
        self._started_at = 0  # last sequence folded at start

    @property
    def fleet(self) -> Fleet:
        return self.reader.fleet

    async def start(self) -> None:
        await self.reader.catch_up()
        self._started_at = self.fleet.last_seq
        js = self.nc.jetstream()
        await js.add_consumer(subjects.EVENTS_STREAM, config=consumer_config(self.settings))
        psub = await js.pull_subscribe_bind(CONSUMER, subjects.EVENTS_STREAM)
        self._loops = [
            asyncio.create_task(self._consume(psub), name="deploy-lifecycle"),
            asyncio.create_task(self._periodic(), name="deploy-reconciler"),
        ]
        log.info("deploy lifecycle started at sequence %d", self.fleet.last_seq)

    async def stop(self) -> None:
        self._stopping = True  # ends the loops even if a client call swallows the cancel
        tasks = [*self._loops, *self._tasks]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)  # bounded: never hang a shutdown

    # ------------------------------------------------------------------ the lifecycle consumer

    async def _consume(self, psub: object) -> None:
        slots = asyncio.Semaphore(32)
        while not self._stopping:
            await slots.acquire()
            try:
                msgs = await psub.fetch(1, timeout=1.0)  # type: ignore[attr-defined]
            except (NatsTimeout, TimeoutError):
                slots.release()
                continue
            except Exception as exc:  # connection trouble: back off, keep serving
                slots.release()
                log.warning("lifecycle fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            task = asyncio.create_task(self._guarded(msgs[0], slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded(self, msg: Msg, slots: asyncio.Semaphore) -> None:
        progress = asyncio.create_task(self._keep_in_progress(msg))
        try:
            await self.handle(msg)
            await msg.ack()
        except DockerUnavailable as exc:
            self._report_docker(exc)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.settings.reconcile_interval_s)
        except Exception:
            log.exception("lifecycle event %s failed; redelivery follows", msg.subject)
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
        finally:
            progress.cancel()
            slots.release()

    async def _keep_in_progress(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.settings.in_progress_every_s)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def handle(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        await self.reader.catch_up(seq)
        # Events from before this process started (a new consumer replays the whole log): the
        # first periodic pass covers removals, and only the route still in place needs teardown.
        historic = seq <= self._started_at
        aggregate, aggregate_id, event_type = subjects.parse_event_subject(msg.subject)
        if event_type == "JobSucceeded" and aggregate is Aggregate.DEPLOYMENT:
            data = decode(msg.data).data
            state = self.fleet.deployments.get(aggregate_id)
            job = (
                state.jobs.get(data.job_id) if state and isinstance(data, ev.JobSucceeded) else None
            )
            if job is None or job.type is not JobType.ROUTE_TRAFFIC:
                return
            if historic and not self.fleet.is_serving(aggregate_id):
                return
            await self.teardown(aggregate_id)
        if not historic:
            await self.reconcile_containers()

    # ------------------------------------------------------------------ teardown

    async def teardown(self, routed: str) -> None:
        """Drain, stop and remove every older deployment of the environment `routed` took over."""
        actual = by_deployment(await self.runtime.list({MANAGED_LABEL: "true"}))
        await self.reader.catch_up()
        targets = [t for t in teardown_targets(self.fleet, routed, actual) if t not in self._busy]
        await asyncio.gather(*(self._teardown_one(t, routed, actual.get(t, [])) for t in targets))

    async def _teardown_one(
        self, dep: str, routed: str, containers: Sequence[ManagedContainer]
    ) -> None:
        self._busy.add(dep)
        try:
            env_id = self.fleet.environment_of(dep)
            if containers and env_id is not None:
                await self.env_log.write(
                    env_id,
                    [
                        f"deployment {dep} superseded by {routed}: draining {len(containers)} "
                        f"container(s) for {self.settings.drain_s:g} s"
                    ],
                )
                await asyncio.sleep(self.settings.drain_s)
                await self.reader.catch_up()
                if self.fleet.is_serving(dep):
                    return  # the route came back to it meanwhile: it stays
                await self._remove(Removal(dep, tuple(containers), "teardown"))
            await record_superseded(self.repo, dep, routed)
        finally:
            self._busy.discard(dep)

    # ------------------------------------------------------------------ the Docker reconciler

    async def reconcile_containers(self) -> list[Removal]:
        async with self._pass:
            # List before reading the log: every container listed was made by a claim already
            # stored, so the fold knows its attempt.
            actual = by_deployment(await self.runtime.list({MANAGED_LABEL: "true"}))
            await self.reader.catch_up()
            todo = removals(self.fleet, actual, self._busy)
            await asyncio.gather(*(self._remove(r) for r in todo))
            return todo

    async def _remove(self, removal: Removal) -> None:
        env_id = self.fleet.environment_of(removal.deployment_id)
        for c in removal.containers:
            if env_id is not None:
                await self.env_log.last_logs(env_id, self.runtime, c)
        await asyncio.gather(
            *(
                self.runtime.stop_and_remove(c.info.id, self.settings.stop_grace_s)
                for c in removal.containers
            )
        )
        ids = [c.info.id for c in removal.containers]
        await record_removed(self.repo, removal.deployment_id, ids, removal.reason)
        log.info(
            "removed %d container(s) of %s (%s)", len(ids), removal.deployment_id, removal.reason
        )
        if env_id is not None:
            names = ", ".join(c.info.name for c in removal.containers)
            await self.env_log.write(env_id, [f"removed {names} ({removal.reason})"])

    # ------------------------------------------------------------------ retention

    async def apply_retention(self) -> list[Prune]:
        async with self._pass:
            actual = by_deployment(await self.runtime.list({MANAGED_LABEL: "true"}))
            await self.reader.catch_up()
            done = []
            for prune in retention(self.fleet, actual, self.settings.retention_keep):
                if await self.pruner.prune(prune):
                    done.append(prune)
            return done

    # ------------------------------------------------------------------ the periodic pass

    async def _periodic(self) -> None:
        while not self._stopping:
            await self.reconcile_once()
            await asyncio.sleep(self.settings.reconcile_interval_s)

    async def reconcile_once(self) -> None:
        try:
            await self.reconcile_containers()
            await self.apply_retention()
        except DockerUnavailable as exc:
            self._report_docker(exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconcile pass failed; the next one follows")
            return
        if self._docker_down:
            log.info("Docker is available again")
            self._docker_down = False

    def _report_docker(self, exc: DockerUnavailable) -> None:
        if not self._docker_down:
            log.warning("Docker is not available: %s", exc)
        self._docker_down = True
