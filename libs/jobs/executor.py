"""The one job mechanism (§5): every executor service runs its jobs through this.

Rules, briefly: a durable pull consumer per job type on the trigger events; fetch only with a free
slot; claim = take the KV lease, then append JobStarted(attempt) under the version check; keep the
message in progress and the lease fresh while the handler runs; a redelivered message that finds
the job running checks the lease (alive: nak with a delay; gone: claim attempt + 1); the terminal
event is appended under rule 5 and only then is the message acked; a deployment that ends cancels
the running handler within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from pydantic import BaseModel

from libs.events import catalog as ev
from libs.events import subjects
from libs.events.envelope import Envelope, new_event
from libs.events.rules import runnable_jobs
from libs.events.states import DeploymentState, JobState, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import JobType
from libs.eventstore import JetStreamEventStore, Loaded, Repository, StaleRead
from libs.jobs.context import (
    Cleanup,
    Fenced,
    Handler,
    JobContext,
    JobError,
    JobResult,
    JobSkip,
)
from libs.jobs.lease import Lease, LeaseTaken, lease_alive
from libs.jobs.logs import JobLogger
from libs.settings import Settings
from libs.telemetry import deployment_span

log = logging.getLogger("slipway.jobs")

TRIGGER_EVENTS = ("DeploymentAdmitted", "JobSucceeded", "DeploymentResumed")


def consumer_name(job_type: JobType) -> str:
    return f"job-{job_type.value}"


def consumer_config(job_type: JobType, settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=consumer_name(job_type),
        filter_subjects=[subjects.events_of_type(t, Aggregate.DEPLOYMENT) for t in TRIGGER_EVENTS],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_s,
        max_deliver=-1,
        max_ack_pending=10_000,
    )


class _Stale(Exception):
    pass


@dataclass(frozen=True)
class JobTypeSpec:
    handler: Handler
    slots: int
    cleanup: Cleanup | None = None


class Executor:
    def __init__(
        self,
        nc: NATS,
        handlers: Mapping[JobType, Handler | JobTypeSpec],
        *,
        settings: Settings,
        name: str | None = None,
        services: dict[str, object] | None = None,
    ) -> None:
        self.nc = nc
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.specs = {
            jt: h if isinstance(h, JobTypeSpec) else JobTypeSpec(h, settings.job_slots)
            for jt, h in handlers.items()
        }
        self.store = JetStreamEventStore(nc)
        self.repo = Repository(self.store)
        self.services = services or {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._kv: KeyValue | None = None
        self._stopping = False

    async def start(self) -> None:
        js = self.nc.jetstream()
        self._kv = await js.key_value(subjects.KV_LEASES)
        for jt, spec in self.specs.items():
            await js.add_consumer(subjects.EVENTS_STREAM, config=consumer_config(jt, self.settings))
            psub = await js.pull_subscribe_bind(consumer_name(jt), subjects.EVENTS_STREAM)
            self._loops.append(
                asyncio.create_task(self._fetch_loop(jt, spec, psub), name=f"fetch:{jt.value}")
            )
        log.info("executor %s serving %s", self.name, ", ".join(j.value for j in self.specs))

    async def stop(self) -> None:
        self._stopping = True
        for t in self._loops:
            t.cancel()
        for t in list(self._tasks):
            t.cancel()
        tasks = [*self._loops, *self._tasks]
        if tasks:
            # Bounded: a stop must never hang on a task that missed its cancellation.
            await asyncio.wait(tasks, timeout=10)

    async def _fetch_loop(self, jt: JobType, spec: JobTypeSpec, psub: object) -> None:
        slots = asyncio.Semaphore(spec.slots)
        while not self._stopping:
            await slots.acquire()
            try:
                msgs = await psub.fetch(1, timeout=1.0)  # type: ignore[attr-defined]
            except (NatsTimeout, TimeoutError):
                slots.release()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection trouble: back off, keep serving
                slots.release()
                log.warning("fetch %s failed: %s", jt.value, exc)
                await asyncio.sleep(0.5)
                continue
            msg = msgs[0]
            task = asyncio.create_task(self._guarded(jt, spec, msg, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded(
        self, jt: JobType, spec: JobTypeSpec, msg: Msg, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._handle(jt, spec, msg)
        except asyncio.CancelledError:
            raise
        except StaleRead:
            await _nak(msg, 0.1)
        except Exception:
            if not self._stopping:
                log.exception(
                    "handling %s for %s failed; redelivery follows", msg.subject, jt.value
                )
            await _nak(msg, self.settings.lost_holder_nak_delay_s)
        finally:
            slots.release()

    # ------------------------------------------------------------------ one message

    async def _handle(self, jt: JobType, spec: JobTypeSpec, msg: Msg) -> None:
        _, dep_id, _ = subjects.parse_event_subject(msg.subject)
        seq = msg.metadata.sequence.stream
        loaded: Loaded[DeploymentState] = await self.repo.load(
            Aggregate.DEPLOYMENT, dep_id, min_seq=seq
        )
        assert self._kv is not None
        while True:
            state = loaded.state
            job = self._next_job(state, jt)
            if job is None:
                await msg.ack()
                return
            attempt = job.attempt + 1
            lease_key = subjects.lease_key(dep_id, job.id)
            if job.status is JobStatus.RUNNING and await lease_alive(self._kv, lease_key):
                # The holder is alive (maybe just slow): never double it.
                await _nak(msg, self.settings.lost_holder_nak_delay_s)
                return
            lease = Lease(self._kv, lease_key, self.name, attempt)
            try:
                await lease.take()
            except LeaseTaken:
                await _nak(msg, self.settings.lost_holder_nak_delay_s)
                return
            # The job continues the trace of the message that made it runnable (§3).
            with deployment_span(
                f"{job.type.value} {job.id}#{attempt}",
                dep_id,
                headers=msg.headers,
                job_id=job.id,
                job_type=job.type.value,
                attempt=attempt,
                event_id=(msg.headers or {}).get("Nats-Msg-Id"),
            ):
                started = await self._claim(loaded, job, attempt, msg)
                if started is None:
                    await lease.release()
                    continue  # somebody else moved the job on; look again
                done = await self._run(spec, loaded, job, attempt, started, lease, msg)
            if not done:
                return  # lease lost or shutting down: message left for redelivery

    def _next_job(self, state: DeploymentState, jt: JobType) -> JobState | None:
        for job in runnable_jobs(state):
            if job.type is jt:
                return job
        if state.ended is not None or state.paused or not state.admitted:
            return None
        for job in state.ordered_jobs:
            if job.type is jt and job.status is JobStatus.RUNNING:
                return job  # running: maybe a lost holder; the lease decides
        return None

    async def _claim(
        self, loaded: Loaded[DeploymentState], job: JobState, attempt: int, msg: Msg
    ) -> Envelope | None:
        cause = _event_id_of(msg)
        env = new_event(
            ev.JobStarted(job_id=job.id, job_type=job.type, attempt=attempt, executor=self.name),
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=loaded.aggregate_id,
            causation_id=cause,
            actor=self.name,
            correlation_id=loaded.aggregate_id,
            job_id=job.id,
            attempt=attempt,
        )

        def decide(state: DeploymentState) -> list[Envelope]:
            current = state.jobs.get(job.id)
            if current is None or current.attempt != attempt - 1:
                return []
            if current.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                return []
            if state.ended is not None or state.paused:
                return []
            return [env]

        _, appended = await self.repo.execute(
            Aggregate.DEPLOYMENT, loaded.aggregate_id, decide, loaded=loaded
        )
        # Only a claim that *this* append stored is mine: an executor handling the same trigger
        # builds the same event id, so "the id is stored" does not tell whose claim it was.
        if any(a.envelope.event_id == env.event_id and not a.duplicate for a in appended):
            return env
        return None

    async def _run(
        self,
        spec: JobTypeSpec,
        loaded: Loaded[DeploymentState],
        job: JobState,
        attempt: int,
        started: Envelope,
        lease: Lease,
        msg: Msg,
    ) -> bool:
        dep_id = loaded.aggregate_id
        logger = JobLogger(
            self._publish_log,
            subjects.job_log_subject(dep_id, job.id),
            job.id,
            attempt,
            interval_s=self.settings.log_batch_s,
            max_bytes=self.settings.log_batch_bytes,
        ).start()
        lease.keep_alive(self.settings.lease_refresh_s)

        async def refresh() -> DeploymentState:
            await self.repo.refresh(loaded)
            return loaded.state

        ctx = JobContext(
            deployment_id=dep_id,
            job=loaded.state.jobs[job.id],
            attempt=attempt,
            state=loaded.state,
            log=logger,
            settings=self.settings,
            executor=self.name,
            refresh=refresh,
            services=dict(self.services),
            started_event_id=started.event_id,
        )
        logger.info(f"{job.type.value} attempt {attempt} started on {self.name}")
        handler: asyncio.Task[HandlerResult] = asyncio.create_task(
            _call(spec, ctx), name=f"job:{dep_id}:{job.id}"
        )
        watcher = asyncio.create_task(self._watch(loaded, job.id, attempt, ctx))
        progress = asyncio.create_task(self._keep_in_progress(msg))
        lost = asyncio.create_task(lease.lost.wait())
        try:
            await asyncio.wait({handler, watcher, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Shutting down: stop the handler and free the lease so another executor takes
            # over as soon as the message is redelivered.
            handler.cancel()
            await logger.close()
            await lease.release()
            raise
        finally:
            helpers = (watcher, progress, lost)
            for t in helpers:
                t.cancel()
            # Bounded: a helper that misses its cancellation must never hold the job up.
            await asyncio.wait(helpers, timeout=1.0)
            for t in helpers:
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved, so asyncio does not warn
        if not handler.done():
            handler.cancel()
            with contextlib.suppress(BaseException):
                await handler
            ended = ctx.cancelled.is_set()
            reason = ctx.state.status.value if ended else "lease lost"
            logger.info(f"stopped: {reason}")
            await logger.close()
            await lease.release()
            if not ended:
                return False  # not an end of the deployment: leave the message for redelivery
            if spec.cleanup is not None:
                with contextlib.suppress(Exception):
                    await spec.cleanup(ctx)
            return True  # ended: the caller finds nothing runnable and acks the message once

        terminal = self._terminal_event(handler, dep_id, job, attempt, started, logger)
        try:
            stored = await self._append_terminal(loaded, job.id, attempt, terminal)
        finally:
            await logger.close()
            await lease.release()
        if not stored and spec.cleanup is not None:
            with contextlib.suppress(Exception):
                await spec.cleanup(ctx)  # a stale attempt cleans up its own resources
        return True

    def _terminal_event(
        self,
        handler: asyncio.Task[HandlerResult],
        dep_id: str,
        job: JobState,
        attempt: int,
        started: Envelope,
        logger: JobLogger,
    ) -> Envelope:
        exc = handler.exception() if not handler.cancelled() else asyncio.CancelledError()
        data: ev.JobSucceeded | ev.JobFailed | ev.JobSkipped
        if exc is None:
            res = handler.result()
            if not isinstance(res, JobResult):
                res = JobResult(output=res or {})
            data = ev.JobSucceeded(
                job_id=job.id, attempt=attempt, output=res.output_dict(), next_jobs=res.next_jobs
            )
            logger.info(f"{job.type.value} succeeded")
        elif isinstance(exc, JobSkip):
            data = ev.JobSkipped(job_id=job.id, reason=exc.reason)
            logger.info(f"skipped: {exc.reason}")
        elif isinstance(exc, JobError):
            data = ev.JobFailed(
                job_id=job.id, attempt=attempt, error=exc.message, failure_code=exc.code
            )
            logger.error(f"failed: {exc.message}")
        elif isinstance(exc, Fenced):
            data = ev.JobFailed(
                job_id=job.id, attempt=attempt, error=str(exc), failure_code="fenced"
            )
        else:
            log.error(
                "job %s/%s attempt %d crashed (event %s):\n%s",
                dep_id,
                job.id,
                attempt,
                started.event_id,
                "".join(traceback.format_exception(exc)),
            )
            data = ev.JobFailed(
                job_id=job.id,
                attempt=attempt,
                error=f"internal error: {type(exc).__name__}: {exc}",
                failure_code="internal",
            )
            logger.error(f"failed: {type(exc).__name__}: {exc}")
        return new_event(
            data,
            aggregate=Aggregate.DEPLOYMENT,
            aggregate_id=dep_id,
            causation_id=started.event_id,
            actor=self.name,
            correlation_id=dep_id,
            job_id=job.id,
            attempt=attempt,
        )

    async def _append_terminal(
        self, loaded: Loaded[DeploymentState], job_id: str, attempt: int, env: Envelope
    ) -> bool:
        """Rule 5: while my attempt is the latest and unfinished, (re)append; else I am stale."""

        def decide(state: DeploymentState) -> list[Envelope]:
            job = state.jobs.get(job_id)
            if job is None or job.attempt != attempt or job.status is not JobStatus.RUNNING:
                raise _Stale
            return [env]

        try:
            await self.repo.execute(
                Aggregate.DEPLOYMENT, loaded.aggregate_id, decide, loaded=loaded
            )
        except _Stale:
            return env.event_id in loaded.ids
        return True

    async def _watch(
        self, loaded: Loaded[DeploymentState], job_id: str, attempt: int, ctx: JobContext
    ) -> None:
        """Rule 8: returns (so the handler is cancelled) once the deployment ended or I am stale."""
        wake = asyncio.Event()

        async def on_event(_: Msg) -> None:
            wake.set()

        sub = None
        try:
            sub = await self.nc.subscribe(
                subjects.aggregate_live(Aggregate.DEPLOYMENT, loaded.aggregate_id), cb=on_event
            )
        except Exception as exc:  # the poll below still notices the end, only later
            log.warning("live watch of %s unavailable: %s", loaded.aggregate_id, exc)
        try:
            while True:
                # asyncio.timeout, not wait_for: wait_for on 3.11 can swallow a cancellation
                # that arrives as the inner wait completes, and the task would never end.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.cancel_poll_s):
                        await wake.wait()
                wake.clear()
                try:
                    await self.repo.refresh(loaded)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # A failed read is no reason to stop the job: only a real end is.
                    log.debug("watch refresh of %s failed: %s", loaded.aggregate_id, exc)
                    continue
                ctx.state = loaded.state
                job = loaded.state.jobs.get(job_id)
                if loaded.state.ended is not None or job is None or job.attempt != attempt:
                    ctx.cancelled.set()
                    return
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _keep_in_progress(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.settings.in_progress_every_s)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _publish_log(self, subject: str, payload: bytes) -> None:
        await self.nc.publish(subject, payload)


HandlerResult = JobResult | BaseModel | dict[str, Any] | None


async def _call(spec: JobTypeSpec, ctx: JobContext) -> HandlerResult:
    return await spec.handler(ctx)


def _event_id_of(msg: Msg) -> str:
    hdr = msg.headers or {}
    return hdr.get("Nats-Msg-Id") or f"seq-{msg.metadata.sequence.stream}"


async def _nak(msg: Msg, delay: float) -> None:
    with contextlib.suppress(Exception):
        await msg.nak(delay=delay)
