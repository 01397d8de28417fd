"""The routing view: every environment's and deployment's route, folded from the whole log. Pure.

Each event refreshes only the routes of its own aggregate (and the static rollbacks of a
deployment), so following the log stays cheap however long it is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

from libs.events import catalog as ev
from libs.events.fold import Recorded, evolve
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import Aggregate
from services.routing.desired import (
    DeploymentRoute,
    DesiredState,
    EnvironmentRoute,
    deployment_route,
    desired_state,
    environment_route,
)


class RoutingView:
    def __init__(self, base_domain: str) -> None:
        self.base_domain = base_domain
        self.envs: dict[str, EnvironmentState] = {}
        self.deps: dict[str, DeploymentState] = {}
        self.env_routes: dict[str, EnvironmentRoute] = {}
        self.dep_routes: dict[str, DeploymentRoute] = {}
        self.last_seq = 0
        self.version = 0  # +1 whenever the desired state changes
        self._routed_static: dict[str, str] = {}  # deployment -> static root a switch routed
        self._rollbacks_of: defaultdict[str, set[str]] = defaultdict(set)

    def apply(self, rec: Recorded) -> bool:
        """Folds one stored event; True when the desired state changed."""
        self.last_seq = max(self.last_seq, rec.seq)
        envelope = rec.envelope
        aggregate_id = envelope.aggregate_id
        changed = False
        if envelope.aggregate is Aggregate.ENVIRONMENT:
            env = evolve(self.envs.get(aggregate_id) or EnvironmentState(id=aggregate_id), rec)
            self.envs[aggregate_id] = env
            changed = _put(self.env_routes, aggregate_id, environment_route(env))
            data = envelope.data
            if isinstance(data, ev.TrafficSwitched) and data.deployment_id and data.static_root:
                self._routed_static[data.deployment_id] = data.static_root
                changed |= self._refresh(data.deployment_id)
        elif envelope.aggregate is Aggregate.DEPLOYMENT:
            dep = evolve(self.deps.get(aggregate_id) or DeploymentState(id=aggregate_id), rec)
            self.deps[aggregate_id] = dep
            if dep.source.rollback_of:
                self._rollbacks_of[dep.source.rollback_of].add(aggregate_id)
            changed = self._refresh(aggregate_id)
            for rollback in self._rollbacks_of.get(aggregate_id, ()):
                changed |= self._refresh(rollback)
        if changed:
            self.version += 1
        return changed

    def _refresh(self, dep_id: str) -> bool:
        state = self.deps.get(dep_id)
        if state is None or not state.requested:
            return False
        routed = self._routed_static.get(dep_id)
        target = self.deps.get(state.source.rollback_of or "")
        if target is not None and "static" in target.pruned:
            routed = None  # a static rollback serves its target's files, now gone
        return _put(self.dep_routes, dep_id, deployment_route(state, routed_static_root=routed))

    def desired(self) -> DesiredState:
        return desired_state(self.env_routes.values(), self.dep_routes.values(), self.base_domain)


R = TypeVar("R", EnvironmentRoute, DeploymentRoute)


def _put(routes: dict[str, R], key: str, route: R | None) -> bool:
    if route is None:
        return routes.pop(key, None) is not None
    if routes.get(key) == route:
        return False
    routes[key] = route
    return True
