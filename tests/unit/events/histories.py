"""Hypothesis strategies for every history the plans and rules allow, with an independent model.

A simulator plays the real system: the gateway (commands allowed by `rules`), the admission
manager, the executors (claims, lost-holder takeovers, results, stale results of superseded
attempts) and the deploy service (containers, pruning, supersede stops). It keeps its own model of
what the deployment should look like, apart from the fold, so a property can compare the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events import outputs, plans, rules
from libs.events.envelope import Envelope, EventData
from libs.events.fold import Recorded, evolve
from libs.events.states import DeploymentState, DeploymentStatus, JobStatus
from libs.events.values import (
    AdmissionPolicy,
    ConfigSnapshot,
    ContainerInfo,
    DeploymentType,
    JobSpec,
    JobType,
    Preset,
    Source,
    TriggerInfo,
)
from tests.factories import dep_event, env_event

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
St = DeploymentStatus
# A static rollback has no deploy job: its RouteTrafficJob is the step that goes live.
GOES_LIVE = frozenset(
    {
        JobType.DEPLOY_IMAGE,
        JobType.DEPLOY_STATIC,
        JobType.DEPLOY_STATIC_BUNDLE,
        JobType.ROUTE_TRAFFIC,
    }
)
SATISFIED = (JobStatus.SUCCESS, JobStatus.SKIPPED)


def preset_of(kind: DeploymentType, drawn: Preset) -> Preset:
    """What a deployment of `kind` ends up serving; `drawn` decides where the plans allow both."""
    if kind in (DeploymentType.GIT, DeploymentType.MANUAL, DeploymentType.ROLLBACK):
        return drawn
    if kind is DeploymentType.STATIC_BUNDLE:
        return Preset.STATIC
    return Preset.CONTAINER


def source_for(kind: DeploymentType, preset: Preset) -> Source:
    if kind in (DeploymentType.GIT, DeploymentType.MANUAL):
        return Source(repo_url="https://git.example/app.git", branch="main", commit_sha="c0ffee")
    if kind is DeploymentType.IMAGE:
        return Source(image_ref="example/app:1", pull="missing")
    if kind is DeploymentType.IMAGE_UPLOAD:
        return Source(upload_object="uploads/app.tar", image_id="sha256:abc")
    if kind is DeploymentType.STATIC_BUNDLE:
        return Source(bundle="bundles/site.tar.gz")
    if preset is Preset.STATIC:
        return Source(rollback_of="dep0", static_object="static/dep0.tar")
    return Source(rollback_of="dep0", image_id="sha256:abc")


def output_for(job_type: JobType, dep_id: str, job_id: str, attempt: int, preset: Preset) -> Any:
    """A realistic typed output, as JSON (what `JobSucceeded.output` stores)."""
    containers = (
        ContainerInfo(
            id=f"{dep_id}-{job_id}-{attempt}", name=f"app-{job_id}-a{attempt}", host="h", port=3000
        ),
    )
    model: Any
    if job_type is JobType.DOWNLOAD_REPO:
        model = outputs.DownloadRepoOutput(commit_sha="c0ffee", source_object="sources/x.tar")
    elif job_type is JobType.BUILD_IMAGE:
        static = preset is Preset.STATIC
        model = outputs.BuildImageOutput(
            preset="static" if static else "node",
            kind=preset.value,
            signal="index.html" if static else "package.json",
            image_id=None if static else "sha256:abc",
            static_object="static/x.tar" if static else None,
        )
    elif job_type in (JobType.PULL_EXTERNAL_IMAGE, JobType.VERIFY_LOCAL_IMAGE):
        model = outputs.ImageOutput(image_id="sha256:abc", exposed_ports=(3000,))
    elif job_type is JobType.DEPLOY_IMAGE:
        model = outputs.DeployImageOutput(containers=containers, port=3000)
    elif job_type in (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE):
        model = outputs.DeployStaticOutput(static_root=f"/srv/{dep_id}", files=3)
    elif job_type is JobType.HEALTH_CHECK:
        model = outputs.HealthCheckOutput(probes=2, time_to_healthy_s=0.25, status=200)
    elif job_type is JobType.ROUTE_TRAFFIC:
        model = outputs.RouteTrafficOutput(
            host="prod.app.localhost", deployment_host="d-1.app.localhost", traffic_seq=7
        )
    elif job_type is JobType.MARK_DEPLOYMENT_COMPLETE:
        model = outputs.MarkCompleteOutput(url="http://prod.app.localhost")
    else:
        model = outputs.ArtifactOutput(summary=f"{job_type.value} done")
    return model.model_dump(mode="json")


# ---------------------------------------------------------------- deployment aggregate


@dataclass
class ModelJob:
    spec: JobSpec
    segment: int
    status: JobStatus = JobStatus.PENDING
    attempt: int = 0


PROGRESS, NOISE, ENDING = "progress", "noise", "ending"


@dataclass(frozen=True)
class Action:
    label: str
    run: Callable[[], None]
    weight: str  # PROGRESS moves the plan on, ENDING ends the deployment, NOISE is the rest

    def __repr__(self) -> str:
        return self.label


@dataclass(frozen=True)
class DeploymentHistory:
    deployment_id: str
    kind: DeploymentType
    preset: Preset
    events: tuple[Envelope, ...]
    # What the model expects after each event (same length as `events`).
    statuses: tuple[DeploymentStatus, ...]
    runnable: tuple[tuple[str, ...], ...]
    # Positions of events the fold must ignore: stale attempts' results, commands after the end.
    ignorable: frozenset[int]
    jobs: dict[str, tuple[JobStatus, int]]  # the model's final (status, attempt) of every job
    segment: int


class DeploymentSim:
    """Plays one deployment through the plans, the command rules and the executors."""

    def __init__(self, dep_id: str, kind: DeploymentType, preset: Preset) -> None:
        self.dep_id = dep_id
        self.kind = kind
        self.preset = preset
        self.events: list[Envelope] = []
        self.statuses: list[DeploymentStatus] = []
        self.runnable_trace: list[tuple[str, ...]] = []
        self.ignorable: set[int] = set()
        self.fold_state = DeploymentState(id=dep_id)  # only for asking `rules`
        self.jobs: dict[str, ModelJob] = {}
        self.segment = 0
        self.admitted = False
        self.paused = False
        self.ended: DeploymentStatus | None = None
        self.routed = False
        self.containers: dict[str, ContainerInfo] = {}
        self.reported_containers: set[tuple[str, int]] = set()
        self.stale: list[tuple[str, int]] = []  # superseded attempts that may still report

    # ------------------------------------------------------------ the model

    def status(self) -> DeploymentStatus:
        if self.ended is not None:
            return self.ended
        if self.paused:
            return St.PAUSED
        latest = [j for j in self.jobs.values() if j.segment == self.segment]
        done = {j.spec.type for j in latest if j.status is JobStatus.SUCCESS}
        if JobType.MARK_DEPLOYMENT_COMPLETE in done:
            return St.COMPLETED
        if JobType.ROUTE_TRAFFIC in done:
            return St.READY
        if self.segment > 0 or any(
            j.spec.type in GOES_LIVE and j.status is not JobStatus.PENDING for j in latest
        ):
            return St.DEPLOYING
        if self.admitted and any(j.status is not JobStatus.PENDING for j in self.jobs.values()):
            return St.RUNNING
        return St.PENDING

    def runnable(self) -> list[str]:
        if not self.admitted or self.paused or self.ended is not None:
            return []
        return [
            j.spec.id
            for j in self.jobs.values()
            if j.status is JobStatus.PENDING
            and all(d in self.jobs and self.jobs[d].status in SATISFIED for d in j.spec.depends_on)
        ]

    def add_jobs(self, specs: tuple[JobSpec, ...], segment: int) -> None:
        for spec in specs:
            self.jobs.setdefault(spec.id, ModelJob(spec, segment))

    def end(self, status: DeploymentStatus) -> None:
        if self.ended is None:
            self.ended = status
            self.paused = False

    # ------------------------------------------------------------ appending

    def emit(
        self,
        data: EventData,
        *,
        job_id: str | None = None,
        attempt: int | None = None,
        ignorable: bool = False,
        actor: str = "test",
    ) -> None:
        n = len(self.events)
        envelope = dep_event(
            self.dep_id,
            data,
            cause=f"cause-{n}",
            job_id=job_id,
            attempt=attempt,
            actor=actor,
            occurred_at=BASE_TIME + timedelta(seconds=n),
        )
        self.events.append(envelope)
        if ignorable:
            self.ignorable.add(n)
        self.fold_state = evolve(self.fold_state, envelope)
        self.statuses.append(self.status())
        self.runnable_trace.append(tuple(self.runnable()))

    def request(self) -> None:
        rollback_preset = self.preset if self.kind is DeploymentType.ROLLBACK else None
        plan = plans.initial_plan(self.kind, rollback_preset=rollback_preset)
        self.add_jobs(plan, 0)
        self.emit(
            ev.DeploymentRequested(
                deployment_id=self.dep_id,
                project="app",
                environment="prod",
                deployment_type=self.kind,
                source=source_for(self.kind, self.preset),
                plan=plan,
                config=ConfigSnapshot(port=3000),
                trigger=TriggerInfo(kind="api", request_id="req-1"),
            ),
            actor="gateway",
        )

    def admit(self) -> None:
        self.admitted = True
        self.emit(ev.DeploymentAdmitted(deployment_id=self.dep_id), actor="admission")

    def start(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job.status is JobStatus.RUNNING:  # a lost holder: its attempt can still report later
            self.stale.append((job_id, job.attempt))
        job.status = JobStatus.RUNNING
        job.attempt += 1
        self.emit(
            ev.JobStarted(
                job_id=job_id, job_type=job.spec.type, attempt=job.attempt, executor="host:1"
            ),
            job_id=job_id,
            attempt=job.attempt,
        )

    def succeed(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.status = JobStatus.SUCCESS
        tail: tuple[JobSpec, ...] = ()
        if job.spec.type is JobType.BUILD_IMAGE:
            tail = plans.build_tail(self.preset, after=job_id)
            self.add_jobs(tail, job.segment)
        if job.spec.type is JobType.ROUTE_TRAFFIC:
            self.routed = True
        output = output_for(job.spec.type, self.dep_id, job_id, job.attempt, self.preset)
        self.emit(
            ev.JobSucceeded(job_id=job_id, attempt=job.attempt, output=output, next_jobs=tail),
            job_id=job_id,
            attempt=job.attempt,
        )

    def fail(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.status = JobStatus.FAILURE
        if not job.spec.optional:
            self.end(St.FAILED)
        self.emit(
            ev.JobFailed(job_id=job_id, attempt=job.attempt, error="boom", failure_code="error"),
            job_id=job_id,
            attempt=job.attempt,
        )

    def skip(self, job_id: str) -> None:
        self.jobs[job_id].status = JobStatus.SKIPPED
        self.emit(ev.JobSkipped(job_id=job_id, reason="not available here"), job_id=job_id)

    def stale_result(self, index: int, success: bool) -> None:
        job_id, attempt = self.stale.pop(index)
        data: EventData
        if success:
            data = ev.JobSucceeded(
                job_id=job_id,
                attempt=attempt,
                output={},
                next_jobs=plans.build_tail(self.preset, after=job_id)
                if self.jobs[job_id].spec.type is JobType.BUILD_IMAGE
                else (),
            )
        else:
            data = ev.JobFailed(job_id=job_id, attempt=attempt, error="lost lease")
        self.emit(data, job_id=job_id, attempt=attempt, ignorable=True)

    def containers_started(self, job_id: str) -> None:
        job = self.jobs[job_id]
        self.reported_containers.add((job_id, job.attempt))
        started = tuple(
            ContainerInfo(
                id=f"{job_id}-{job.attempt}-{r}",
                name=f"app-{job_id}-a{job.attempt}-{r}",
                host="127.0.0.1",
                port=40000 + r,
                replica=r,
            )
            for r in range(2)
        )
        self.containers.update({c.id: c for c in started})
        self.emit(
            ev.ContainersStarted(job_id=job_id, attempt=job.attempt, containers=started),
            job_id=job_id,
            attempt=job.attempt,
            actor="deploy",
        )

    def containers_removed(self) -> None:
        gone = tuple(self.containers)
        self.containers.clear()
        self.emit(ev.ContainersRemoved(container_ids=gone, reason="teardown"), actor="deploy")

    def cancel(self, by: str) -> None:
        self.end(St.CANCELLED)
        self.emit(ev.DeploymentCancelled(reason="cancelled", by=by), actor=by)

    def pause(self) -> None:
        self.paused = True
        self.emit(ev.DeploymentPaused(by="tok-1"), actor="gateway")

    def resume(self) -> None:
        segment: tuple[JobSpec, ...] = ()
        if self.routed:  # a deployed app starts again and retakes its route
            segment = plans.resume_segment(self.preset, self.segment + 1)
            self.segment += 1
            self.add_jobs(segment, self.segment)
        self.paused = False
        self.emit(ev.DeploymentResumed(by="tok-1", segment=segment), actor="gateway")

    def stop(self, reason: str, by: str, superseded_by: str | None = None) -> None:
        self.end(St.STOPPED)
        self.emit(ev.DeploymentStopped(reason=reason, by=by, superseded_by=superseded_by), actor=by)

    def prune(self, kind: str) -> None:
        self.emit(ev.ArtifactPruned(kind=kind, ref="sha256:abc"), actor="deploy")

    def after_end(self, data: EventData) -> None:
        self.emit(data, ignorable=True)

    # ------------------------------------------------------------ choices

    def actions(self) -> list[Action]:
        acts: list[Action] = []

        def add(label: str, run: Callable[[], None], weight: str = NOISE) -> None:
            acts.append(Action(label, run, weight))

        live = self.ended is None
        claimable = live and self.admitted and not self.paused
        if live and not self.admitted:
            add("admit", self.admit, PROGRESS)
        for job_id in self.runnable():
            add(f"start {job_id}", partial(self.start, job_id), PROGRESS)
            if self.jobs[job_id].spec.optional:
                add(f"skip {job_id}", partial(self.skip, job_id))
        for job_id, job in list(self.jobs.items()):
            if job.status is not JobStatus.RUNNING:
                continue
            add(f"succeed {job_id}", partial(self.succeed, job_id), PROGRESS)
            add(f"fail {job_id}", partial(self.fail, job_id), ENDING)
            if job.spec.optional:
                add(f"skip running {job_id}", partial(self.skip, job_id))
            if claimable:
                add(f"take over {job_id}", partial(self.start, job_id))
            if (
                live
                and job.spec.type is JobType.DEPLOY_IMAGE
                and (job_id, job.attempt) not in self.reported_containers
            ):
                add(f"containers of {job_id}", partial(self.containers_started, job_id), PROGRESS)
        for i, (job_id, attempt) in enumerate(self.stale):
            add(f"stale success {job_id}#{attempt}", partial(self.stale_result, i, True))
            add(f"stale failure {job_id}#{attempt}", partial(self.stale_result, i, False))
        if self.containers:
            add("remove containers", self.containers_removed)

        state = self.fold_state
        if rules.can_cancel(state) is None:
            add("cancel by user", lambda: self.cancel("tok-1"), ENDING)
            add("cancel superseded", lambda: self.cancel("admission"), ENDING)
        if rules.can_pause(state) is None:
            add("pause", self.pause)
        if rules.can_resume(state) is None:
            add("resume", self.resume, PROGRESS)
        if rules.can_stop(state) is None:
            add("stop by user", lambda: self.stop("stopped by user", "tok-1"), ENDING)
            if self.routed:
                add(
                    "superseded after teardown",
                    lambda: self.stop("superseded by dep9", "deploy", "dep9"),
                    ENDING,
                )
            if any(
                j.spec.type is JobType.ROUTE_TRAFFIC and j.status is JobStatus.RUNNING
                for j in self.jobs.values()
            ):
                add(
                    "refused by the fence",
                    lambda: self.stop("superseded by dep9", "routing", "dep9"),
                    ENDING,
                )
        if not live:
            if not self.containers:
                add("prune image", lambda: self.prune("image"))
                add("prune static", lambda: self.prune("static"))
            add("late cancel", lambda: self.after_end(ev.DeploymentCancelled(reason="x", by="u")))
            add("late stop", lambda: self.after_end(ev.DeploymentStopped(reason="x", by="u")))
            add("late pause", lambda: self.after_end(ev.DeploymentPaused(by="u")))
            add(
                "late resume",
                lambda: self.after_end(
                    ev.DeploymentResumed(by="u", segment=plans.resume_segment(self.preset, 9))
                ),
            )
        return acts

    def history(self) -> DeploymentHistory:
        return DeploymentHistory(
            deployment_id=self.dep_id,
            kind=self.kind,
            preset=self.preset,
            events=tuple(self.events),
            statuses=tuple(self.statuses),
            runnable=tuple(self.runnable_trace),
            ignorable=frozenset(self.ignorable),
            jobs={k: (j.status, j.attempt) for k, j in self.jobs.items()},
            segment=self.segment,
        )


def _pool(draw: st.DrawFn, acts: list[Action]) -> list[Action]:
    # Mostly move forward, so completed and resumed deployments are common rather than rare.
    roll = draw(st.integers(0, 99))
    wanted = PROGRESS if roll < 78 else NOISE if roll < 97 else ENDING
    pool = [a for a in acts if a.weight == wanted]
    return pool or [a for a in acts if a.weight == PROGRESS] or acts


@st.composite
def deployment_histories(draw: st.DrawFn, max_steps: int = 60) -> DeploymentHistory:
    """Every history the plans and rules allow for one deployment, stale events included."""
    kind = draw(st.sampled_from(DeploymentType))
    preset = preset_of(kind, draw(st.sampled_from(Preset)))
    sim = DeploymentSim("dep1", kind, preset)
    sim.request()
    for _ in range(draw(st.integers(0, max_steps))):
        acts = sim.actions()
        if not acts:
            break
        # With nothing left to move forward, a history often just stops there (e.g. completed).
        if not any(a.weight == PROGRESS for a in acts) and draw(st.booleans()):
            break
        draw(st.sampled_from(_pool(draw, acts))).run()
    return sim.history()


# ---------------------------------------------------------------- environment aggregate


@dataclass(frozen=True)
class EnvironmentHistory:
    environment_id: str
    events: tuple[Recorded, ...]
    ignorable: frozenset[int]
    admitted: tuple[str, ...]
    queued: tuple[str, ...]
    ended: dict[str, str]
    route: tuple[str, str | None, tuple[str, ...], int | None, int] | None
    policy: AdmissionPolicy


@dataclass
class EnvironmentSim:
    """Plays the admission manager and the route claims of one environment."""

    env_id: str
    events: list[Recorded] = field(default_factory=list)
    ignorable: set[int] = field(default_factory=set)
    policy: AdmissionPolicy = AdmissionPolicy.SUPERSEDE
    requested: int = 0
    admitted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)
    routed: str | None = None
    route: tuple[str, str | None, tuple[str, ...], int | None, int] | None = None
    seq: int = 0

    def emit(self, data: EventData, dep: str | None = None, ignorable: bool = False) -> int:
        n = len(self.events)
        self.seq += 1 + n % 3  # other aggregates' events sit in between in the stream
        envelope = env_event(
            self.env_id,
            data,
            cause=f"cause-{n}",
            dep=dep,
            occurred_at=BASE_TIME + timedelta(seconds=n),
        )
        self.events.append(Recorded(self.seq, envelope.occurred_at, b"", envelope))
        if ignorable:
            self.ignorable.add(n)
        return self.seq

    def in_flight(self) -> list[str]:
        return [d for d in self.admitted if d not in self.ended]

    def configure(self, policy: AdmissionPolicy, replicas: int) -> None:
        self.policy = policy
        self.emit(
            ev.EnvironmentConfigured(
                project="app", environment="prod", policy=policy, replicas=replicas
            )
        )

    def admit(self, dep: str) -> None:
        self.admitted.append(dep)
        if dep in self.queued:
            self.queued.remove(dep)
        self.emit(ev.DeploymentAdmitted(deployment_id=dep, commit_sha=f"sha-{dep}"), dep)

    def request(self) -> None:
        self.requested += 1
        dep = f"dep{self.requested}"
        if self.policy is AdmissionPolicy.QUEUE and (self.in_flight() or self.queued):
            self.queued.append(dep)
            self.emit(ev.DeploymentQueued(deployment_id=dep, commit_sha=f"sha-{dep}"), dep)
        else:
            self.admit(dep)

    def end(self, dep: str, outcome: str) -> None:
        self.ended[dep] = outcome
        if dep in self.queued:
            self.queued.remove(dep)
        self.emit(ev.DeploymentEnded(deployment_id=dep, outcome=outcome), dep)

    def may_route(self, dep: str) -> bool:
        """The fence: no deployment admitted later is in flight or routed."""
        later = self.admitted[self.admitted.index(dep) + 1 :]
        return not any(d not in self.ended or d == self.routed for d in later)

    def switch(self, dep: str, replicas: int, static: bool) -> None:
        upstreams = () if static else tuple(f"127.0.0.1:{40000 + r}" for r in range(replicas))
        root = f"/srv/{dep}" if static else None
        number = self.admitted.index(dep) + 1
        data = ev.TrafficSwitched(
            mode="deployment",
            deployment_id=dep,
            upstreams=upstreams,
            static_root=root,
            admission_seq=number,
            job_id="route",
        )
        self.routed = dep
        seq = self.emit(data, dep)
        self.route = ("deployment", dep, upstreams, number, seq)

    def maintenance(self) -> None:
        dep = self.routed
        seq = self.emit(ev.TrafficSwitched(mode="maintenance", deployment_id=dep), dep)
        number = self.admitted.index(dep) + 1 if dep else None
        self.route = ("maintenance", dep, (), number, seq)

    def replay(self, index: int) -> None:
        """An idempotent replay (admitted, queued or ended again) changes nothing."""
        envelope = self.events[index].envelope
        self.emit(envelope.data, envelope.correlation_id, ignorable=True)

    def actions(self, draw: st.DrawFn) -> list[Action]:
        acts: list[Action] = []

        def add(label: str, run: Callable[[], None], weight: str = NOISE) -> None:
            acts.append(Action(label, run, weight))

        policy = draw(st.sampled_from(AdmissionPolicy))
        add(f"configure {policy.value}", lambda: self.configure(policy, 2))
        add("request", self.request, PROGRESS)
        outcome = draw(st.sampled_from(("completed", "failed", "cancelled", "stopped")))
        for dep in self.in_flight():
            add(f"end {dep} {outcome}", partial(self.end, dep, outcome), PROGRESS)
            if self.may_route(dep):
                add(f"route {dep}", partial(self.switch, dep, 2, False), PROGRESS)
                add(f"route static {dep}", partial(self.switch, dep, 1, True))
        for dep in self.queued:
            add(f"cancel queued {dep}", partial(self.end, dep, "cancelled"))
        if self.queued and (self.policy is AdmissionPolicy.SUPERSEDE or not self.in_flight()):
            add("admit next", lambda: self.admit(self.queued[0]), PROGRESS)
        if self.routed is not None:
            add("maintenance", self.maintenance)
        replayable = [
            i
            for i, recorded in enumerate(self.events)
            if isinstance(
                recorded.envelope.data,
                ev.DeploymentAdmitted | ev.DeploymentQueued | ev.DeploymentEnded,
            )
        ]
        if replayable:
            i = draw(st.sampled_from(replayable))
            add(f"replay #{i}", lambda: self.replay(i))
        return acts

    def history(self) -> EnvironmentHistory:
        return EnvironmentHistory(
            environment_id=self.env_id,
            events=tuple(self.events),
            ignorable=frozenset(self.ignorable),
            admitted=tuple(self.admitted),
            queued=tuple(self.queued),
            ended=dict(self.ended),
            route=self.route,
            policy=self.policy,
        )


@st.composite
def environment_histories(draw: st.DrawFn, max_steps: int = 40) -> EnvironmentHistory:
    """Every history the admission manager and the route fence allow for one environment."""
    sim = EnvironmentSim("app_prod")
    sim.configure(draw(st.sampled_from(AdmissionPolicy)), 1)
    for _ in range(draw(st.integers(0, max_steps))):
        acts = sim.actions(draw)
        draw(st.sampled_from(_pool(draw, acts))).run()
    return sim.history()


def without(events: tuple[Any, ...], drop: frozenset[int]) -> list[Any]:
    return [e for i, e in enumerate(events) if i not in drop]


def bookkeeping_cleared(state: Any) -> Any:
    """The state without the fields every event moves (counters, hashes, last update time)."""
    changes: dict[str, Any] = {"version": 0, "last_seq": 0, "last_hash": None}
    if isinstance(state, DeploymentState):
        changes["updated_at"] = None
    return dataclasses.replace(state, **changes)
