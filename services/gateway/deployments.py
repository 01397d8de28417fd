"""Creating deployments (create-once) and the user commands on them (§3, §4, §10).

Every create is one `DeploymentRequested` appended with expected sequence 0: a repeat of the same
request (same delivery id, `Idempotency-Key` or trigger id, hence the same deployment id) finds
the deployment already there and answers with it, appending nothing. Commands decide on the
folded state with the pure rules and append under the version check (`Repository.execute`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from libs.events import catalog as ev
from libs.events import plans, rules
from libs.events.envelope import Envelope, EventData, make_event_id, new_event
from libs.events.fold import Recorded, fold_deployment
from libs.events.states import DeploymentState, JobStatus
from libs.events.subjects import Aggregate
from libs.events.values import (
    DEPLOY_JOB_TYPES,
    ConfigSnapshot,
    DeploymentType,
    JobSpec,
    JobType,
    Preset,
    Source,
    TriggerInfo,
)
from libs.eventstore import JetStreamEventStore, Repository, VersionConflict
from libs.records import deployment_record
from libs.settings import Settings
from libs.telemetry import deployment_span
from services.gateway.names import deployment_id_for_key
from services.gateway.problems import conflict, not_found

DEP = Aggregate.DEPLOYMENT


@dataclass(frozen=True)
class Origin:
    """Who asked and under which request id (the causation id of the events appended)."""

    actor: str
    request_id: str
    trigger: TriggerInfo


@dataclass(frozen=True)
class Outcome:
    """A deployment record and the sequence to read it at; `created` False = idempotent repeat."""

    record: dict[str, Any]
    seq: int
    created: bool

    @property
    def status(self) -> int:
        return 202 if self.created else 200


@dataclass(frozen=True)
class NewDeployment:
    deployment_id: str
    project: str
    environment: str
    kind: DeploymentType
    source: Source
    config: ConfigSnapshot
    plan: tuple[JobSpec, ...] | None = None  # default: plans.initial_plan(kind)


class Deployments:
    def __init__(self, store: JetStreamEventStore, repo: Repository, settings: Settings) -> None:
        self.store = store
        self.repo = repo
        self.settings = settings

    def record(self, state: DeploymentState, seq: int) -> dict[str, Any]:
        return deployment_record(
            state, self.settings.base_domain, seq, edge_port=self.settings.edge_port
        )

    async def existing(self, deployment_id: str, *, min_seq: int = 0) -> Outcome | None:
        loaded = await self.repo.load(DEP, deployment_id, min_seq=min_seq)
        if not loaded.state.requested:
            return None
        return Outcome(self.record(loaded.state, loaded.last_seq), loaded.last_seq, False)

    async def request(self, new: NewDeployment, origin: Origin) -> Outcome:
        """Appends the DeploymentRequested (create-once) or answers with the stored one."""
        data = ev.DeploymentRequested(
            deployment_id=new.deployment_id,
            project=new.project,
            environment=new.environment,
            deployment_type=new.kind,
            source=new.source,
            plan=new.plan if new.plan is not None else plans.initial_plan(new.kind),
            config=new.config,
            trigger=origin.trigger,
        )
        envelope = new_event(
            data,
            aggregate=DEP,
            aggregate_id=new.deployment_id,
            causation_id=origin.request_id,
            actor=origin.actor,
            correlation_id=new.deployment_id,
        )
        try:
            # The deployment's trace starts here; the append carries it in its headers (§3).
            with deployment_span(
                f"deployment requested ({new.kind.value})",
                new.deployment_id,
                kind=SpanKind.SERVER,
                event_id=envelope.event_id,
            ):
                appended = await self.store.append(envelope, expected_seq=0, prev_hash=None)
        except VersionConflict:
            appended = None
        if appended is None or appended.duplicate:
            found = await self.existing(new.deployment_id, min_seq=appended.seq if appended else 0)
            if found is None:  # pragma: no cover - a conflict means the aggregate exists
                raise RuntimeError(f"deployment {new.deployment_id} conflicts but is not stored")
            return found
        rec = Recorded(appended.seq, datetime.now(UTC), b"", appended.envelope)
        state = fold_deployment([rec], new.deployment_id)
        return Outcome(self.record(state, appended.seq), appended.seq, True)

    # ------------------------------------------------------------------ commands

    async def command(self, deployment_id: str, verb: str, origin: Origin) -> Outcome:
        rule, build = COMMANDS[verb]
        loaded = await self.repo.load(DEP, deployment_id)
        if not loaded.state.requested:
            raise not_found(f"no deployment {deployment_id}")
        event_type = _event_type(verb)
        event_id = make_event_id(
            DEP,
            deployment_id,
            event_type,
            causation_id=origin.request_id,
            deployment_id=deployment_id,
        )

        def decide(state: DeploymentState) -> list[Envelope]:
            if event_id in loaded.ids:
                return []  # the same request, already applied
            why = rule(state)
            if why is not None:
                raise conflict(why, deployment_id=deployment_id, status_now=state.status.value)
            return [
                new_event(
                    build(state, origin),
                    aggregate=DEP,
                    aggregate_id=deployment_id,
                    causation_id=origin.request_id,
                    actor=origin.actor,
                    correlation_id=deployment_id,
                    event_id=event_id,
                )
            ]

        loaded, appended = await self.repo.execute(DEP, deployment_id, decide, loaded=loaded)
        seq = appended[-1].seq if appended else loaded.last_seq
        return Outcome(self.record(loaded.state, seq), seq, bool(appended))

    async def rollback(self, target_id: str, key: str | None, origin: Origin) -> Outcome:
        """A new deployment reusing the target's image or static files and config snapshot."""
        loaded = await self.repo.load(DEP, target_id)
        target = loaded.state
        if not target.requested:
            raise not_found(f"no deployment {target_id}")
        if key is None:
            new_id = str(uuid.uuid4())
        else:
            scope = f"rollback:{target.id}"
            new_id = deployment_id_for_key(target.project, target.environment, scope, key)
            found = await self.existing(new_id)
            if found is not None:
                return found
        why = rules.can_rollback_to(target)
        if why is not None:
            raise conflict(why, deployment_id=target_id, status_now=target.status.value)
        return await self.request(rollback_deployment(new_id, target), origin)


def rollback_deployment(new_id: str, target: DeploymentState) -> NewDeployment:
    artifact = rules.rollback_artifact(target)
    assert artifact is not None  # can_rollback_to checked it
    kind, ref = artifact
    downloaded = target.output_of(JobType.DOWNLOAD_REPO) or {}
    src = target.source
    source = Source(
        repo_url=src.repo_url,
        branch=src.branch,
        commit_sha=src.commit_sha or downloaded.get("commit_sha"),
        commit_message=src.commit_message or downloaded.get("commit_message"),
        image_ref=src.image_ref,
        image_id=ref if kind == "image" else None,
        static_object=ref if kind == "static" else None,
        rollback_of=target.id,
    )
    preset = Preset.STATIC if source.static_object else Preset.CONTAINER
    return NewDeployment(
        deployment_id=new_id,
        project=target.project,
        environment=target.environment,
        kind=DeploymentType.ROLLBACK,
        source=source,
        config=target.config,
        plan=plans.initial_plan(DeploymentType.ROLLBACK, rollback_preset=preset),
    )


def preset_of(state: DeploymentState) -> Preset:
    types = {j.type for j in state.jobs.values()}
    if types & {JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE}:
        return Preset.STATIC
    if JobType.DEPLOY_IMAGE in types:
        return Preset.CONTAINER
    artifact = rules.rollback_artifact(state)
    return Preset.STATIC if artifact and artifact[0] == "static" else Preset.CONTAINER


def was_deployed(state: DeploymentState) -> bool:
    """Containers or files were placed (or a route taken): a resume must place them again."""
    return state.routed or any(
        j.type in DEPLOY_JOB_TYPES and j.status is JobStatus.SUCCESS and j.segment == state.segment
        for j in state.jobs.values()
    )


def _cancelled(state: DeploymentState, origin: Origin) -> EventData:
    return ev.DeploymentCancelled(reason="cancelled by user", by=origin.actor)


def _paused(state: DeploymentState, origin: Origin) -> EventData:
    return ev.DeploymentPaused(reason="paused by user", by=origin.actor)


def _resumed(state: DeploymentState, origin: Origin) -> EventData:
    segment: tuple[JobSpec, ...] = ()
    if was_deployed(state):
        segment = plans.resume_segment(preset_of(state), state.segment + 1)
    return ev.DeploymentResumed(by=origin.actor, segment=segment)


def _stopped(state: DeploymentState, origin: Origin) -> EventData:
    return ev.DeploymentStopped(reason="stopped by user", by=origin.actor)


Rule = Callable[[DeploymentState], str | None]
Build = Callable[[DeploymentState, Origin], EventData]

COMMANDS: dict[str, tuple[Rule, Build]] = {
    "cancel": (rules.can_cancel, _cancelled),
    "pause": (rules.can_pause, _paused),
    "resume": (rules.can_resume, _resumed),
    "stop": (rules.can_stop, _stopped),
}

_EVENT_TYPES: dict[str, type[EventData]] = {
    "cancel": ev.DeploymentCancelled,
    "pause": ev.DeploymentPaused,
    "resume": ev.DeploymentResumed,
    "stop": ev.DeploymentStopped,
}


def _event_type(verb: str) -> str:
    return _EVENT_TYPES[verb].event_type()
