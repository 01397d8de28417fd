"""What the deploy service's lifecycle does to containers and artifacts (§7). Pure: decisions only.

- Teardown after deployment X's RouteTrafficJob succeeded: every other deployment of X's
  environment admitted before X that has live containers (or static files, while it has not
  ended) and is not the one traffic goes to.
- Docker reconciler: containers of failed, cancelled and stopped deployments go; a paused
  deployment's go once the route is no longer theirs; a stale attempt's go. NEVER the containers
  of the deployment an environment's latest TrafficSwitched sends traffic to. Containers of
  deployments this log does not know are left alone (another Slipway may share the engine).
- Retention: `services.deploy.retention` over every environment, with the engine's view of which
  deployments still have containers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from libs.containers.runtime import ManagedContainer
from libs.events.states import DeploymentState
from libs.events.values import JobType
from services.deploy.containers import ATTEMPT_LABEL, DEPLOYMENT_LABEL, JOB_LABEL
from services.deploy.fleet import Fleet
from services.deploy.retention import Artifacts, Prune, artifacts_of, to_prune

Actual = Mapping[str, Sequence[ManagedContainer]]
STATIC_JOBS = (JobType.DEPLOY_STATIC, JobType.DEPLOY_STATIC_BUNDLE)


@dataclass(frozen=True)
class Removal:
    deployment_id: str
    containers: tuple[ManagedContainer, ...]
    reason: str


def by_deployment(found: Sequence[ManagedContainer]) -> dict[str, list[ManagedContainer]]:
    out: dict[str, list[ManagedContainer]] = {}
    for c in found:
        dep = c.labels.get(DEPLOYMENT_LABEL)
        if dep:
            out.setdefault(dep, []).append(c)
    return out


def has_static_files(state: DeploymentState) -> bool:
    return "static" not in state.pruned and any(state.output_of(t) for t in STATIC_JOBS)


def teardown_targets(fleet: Fleet, routed: str, actual: Actual) -> list[str]:
    env_id = fleet.environment_of(routed)
    number = fleet.admission_number(routed)
    if env_id is None or number is None:
        return []
    serving = fleet.serving(env_id)
    targets = []
    for state in fleet.admitted(env_id):
        n = fleet.admission_number(state.id)
        if state.id in (routed, serving) or n is None or n >= number:
            continue
        live = bool(state.containers) or bool(actual.get(state.id))
        if live or (state.ended is None and has_static_files(state)):
            targets.append(state.id)
    return targets


def _stale(state: DeploymentState, container: ManagedContainer) -> bool:
    job = state.jobs.get(container.labels.get(JOB_LABEL, ""))
    try:
        attempt = int(container.labels.get(ATTEMPT_LABEL, ""))
    except ValueError:
        return False
    # A higher attempt than the fold knows was claimed after our read: not stale.
    return job is not None and attempt < job.attempt


def removals(fleet: Fleet, actual: Actual, busy: Collection[str] = ()) -> list[Removal]:
    out = []
    for dep_id, containers in sorted(actual.items()):
        state = fleet.deployments.get(dep_id)
        if state is None or not state.requested or dep_id in busy or not containers:
            continue
        if fleet.is_serving(dep_id):
            # Still receives traffic (a user stop before routing moved it to maintenance):
            # at most a lost attempt's containers may go.
            stale = tuple(c for c in containers if _stale(state, c))
            if stale:
                out.append(Removal(dep_id, stale, "stale attempt"))
            continue
        if state.ended is not None:
            out.append(Removal(dep_id, tuple(containers), state.ended.value))
        elif state.paused:
            out.append(Removal(dep_id, tuple(containers), "paused"))
        else:
            stale = tuple(c for c in containers if _stale(state, c))
            if stale:
                out.append(Removal(dep_id, stale, "stale attempt"))
    return out


def retention(fleet: Fleet, actual: Actual, keep: int) -> list[Prune]:
    environments: dict[str, list[Artifacts]] = {}
    for env_id in sorted(fleet.environments):
        route = fleet.route_names(env_id)
        views = []
        for state in fleet.admitted(env_id):
            view = artifacts_of(state, route)
            if actual.get(state.id):
                view = dataclasses.replace(view, has_containers=True)
            views.append(view)
        environments[env_id] = views
    return to_prune(environments, keep)
