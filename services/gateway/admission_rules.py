"""Admission decisions (§7), pure: given the environment and the deployments concerned, which
events to append. The admission manager loads, calls `decide`, and appends them as one batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from libs.events import catalog as ev
from libs.events.envelope import Envelope, EventData, new_event
from libs.events.rules import outcome
from libs.events.states import DeploymentState, DeploymentStatus, EnvironmentState
from libs.events.subjects import Aggregate
from libs.events.values import AdmissionPolicy

ACTOR = "admission"
Outcome = Literal["completed", "failed", "cancelled", "stopped"]
CANCELLABLE = (DeploymentStatus.PENDING, DeploymentStatus.RUNNING)


@dataclass(frozen=True)
class Decision:
    events: list[Envelope]

    @property
    def touched(self) -> set[tuple[Aggregate, str]]:
        return {(e.aggregate, e.aggregate_id) for e in self.events}


def _ev(data: EventData, aggregate: Aggregate, aggregate_id: str, cause: str, dep: str) -> Envelope:
    return new_event(
        data,
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        causation_id=cause,
        actor=ACTOR,
        correlation_id=dep,
    )


class _Plan:
    """Accumulates events while simulating their effect on the environment."""

    def __init__(self, env: EnvironmentState, cause: str) -> None:
        self.env_id = env.id
        self.cause = cause
        self.events: list[Envelope] = []
        self.in_flight = [a.deployment_id for a in env.in_flight]
        self.queued = [q[0] for q in env.queued]
        self.ended = set(env.ended)
        self.admitted = {a.deployment_id for a in env.admitted}

    def admit(self, dep: DeploymentState) -> None:
        commit = dep.source.commit_sha
        self.events.append(
            _ev(
                ev.DeploymentAdmitted(deployment_id=dep.id, commit_sha=commit),
                Aggregate.DEPLOYMENT,
                dep.id,
                self.cause,
                dep.id,
            )
        )
        self.events.append(
            _ev(
                ev.DeploymentAdmitted(deployment_id=dep.id, commit_sha=commit),
                Aggregate.ENVIRONMENT,
                self.env_id,
                self.cause,
                dep.id,
            )
        )
        self.in_flight.append(dep.id)
        self.admitted.add(dep.id)
        if dep.id in self.queued:
            self.queued.remove(dep.id)

    def queue(self, dep: DeploymentState) -> None:
        self.events.append(
            _ev(
                ev.DeploymentQueued(deployment_id=dep.id, commit_sha=dep.source.commit_sha),
                Aggregate.ENVIRONMENT,
                self.env_id,
                self.cause,
                dep.id,
            )
        )
        self.queued.append(dep.id)

    def cancel(self, dep: DeploymentState, reason: str, superseded_by: str | None) -> None:
        self.events.append(
            _ev(
                ev.DeploymentCancelled(reason=reason, by=ACTOR, superseded_by=superseded_by),
                Aggregate.DEPLOYMENT,
                dep.id,
                self.cause,
                dep.id,
            )
        )
        self.end(dep.id, "cancelled")

    def end(self, dep_id: str, how: Outcome) -> None:
        if dep_id in self.ended:
            return
        self.events.append(
            _ev(
                ev.DeploymentEnded(deployment_id=dep_id, outcome=how),
                Aggregate.ENVIRONMENT,
                self.env_id,
                self.cause,
                dep_id,
            )
        )
        self.ended.add(dep_id)
        if dep_id in self.in_flight:
            self.in_flight.remove(dep_id)
        if dep_id in self.queued:
            self.queued.remove(dep_id)


def decide(
    env: EnvironmentState,
    dep: DeploymentState,
    others: Mapping[str, DeploymentState],
    cause: str,
) -> list[Envelope]:
    """Events that admission appends after seeing an event of `dep`.

    `others` holds the current state of every other deployment of the environment that is in
    flight or queued. Idempotent: on a state that already reflects a decision it returns [].
    """
    plan = _Plan(env, cause)
    policy = env.config.policy if env.config else AdmissionPolicy.SUPERSEDE
    known = dep.id in plan.admitted or dep.id in plan.queued or dep.id in plan.ended

    done = outcome(dep)
    if done is not None:
        if dep.requested:
            plan.end(dep.id, cast(Outcome, done))
    elif dep.requested and not known:
        commit = dep.source.commit_sha
        twin = next(
            (
                a.deployment_id
                for a in env.in_flight
                if commit and a.commit_sha == commit and a.deployment_id != dep.id
            ),
            None,
        )
        if twin is not None and commit:
            plan.cancel(
                dep, f"duplicate of {twin} (commit {commit[:12]} is already deploying)", twin
            )
        elif policy is AdmissionPolicy.SUPERSEDE:
            plan.admit(dep)
            for other_id in [*env.queued_ids, *[a.deployment_id for a in env.in_flight]]:
                other = others.get(other_id)
                if other is None or other_id == dep.id or other.status not in CANCELLABLE:
                    continue  # one already deploying is stopped by the route fence instead
                plan.cancel(other, f"superseded by {dep.id}", dep.id)
        else:
            plan.queue(dep)

    if policy is AdmissionPolicy.QUEUE:
        _promote(plan, others, dep)
    return plan.events


def _promote(plan: _Plan, others: Mapping[str, DeploymentState], dep: DeploymentState) -> None:
    """Queue policy: admit the head of the queue whenever nothing is in flight (strict FIFO)."""
    while not plan.in_flight and plan.queued:
        head = plan.queued[0]
        state = dep if head == dep.id else others.get(head)
        if state is None:
            return  # not loaded: the next event of this environment promotes it
        done = outcome(state)
        if done is not None:
            plan.end(head, cast(Outcome, done))
            continue
        plan.admit(state)
