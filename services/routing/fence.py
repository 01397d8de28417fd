"""The fence (§7): may deployment X claim its environment's route? Pure.

X claims by appending `TrafficSwitched` on the environment under the version check, so an
admission and a claim never interleave. The claim is refused when a deployment admitted later
than X is in flight or holds the route; a deployment that holds the route (a resume, or a retry
after its claim was stored) may always take it again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from libs.events import catalog as ev
from libs.events.states import Admission, EnvironmentState


@dataclass(frozen=True)
class RouteTarget:
    """What X serves: its replicas (host:port, by replica) or a static directory."""

    upstreams: tuple[str, ...] = ()
    static_root: str | None = None

    def __post_init__(self) -> None:
        if bool(self.upstreams) == bool(self.static_root):
            raise ValueError("a route target is either upstreams or a static root")


@dataclass(frozen=True)
class Claim:
    """Append this event; its stream sequence is the claim."""

    event: ev.TrafficSwitched


@dataclass(frozen=True)
class AlreadyRouted:
    """X already holds exactly this route (e.g. the claim of a crashed attempt was stored)."""

    seq: int


@dataclass(frozen=True)
class Refused:
    """A later deployment is in flight or routed: X is superseded by `by`."""

    by: str


class NotAdmitted(Exception):
    """X has no admission on this environment: nothing to fence against."""


Decision = Claim | AlreadyRouted | Refused


def decide_claim(
    env: EnvironmentState,
    deployment_id: str,
    target: RouteTarget,
    *,
    job_id: str | None = None,
    ended: Collection[str] = (),
) -> Decision:
    """`ended`: deployments known (from their own aggregate) to have ended, which the
    environment may not have recorded yet."""
    mine = env.admission_of(deployment_id)
    if mine is None:
        raise NotAdmitted(f"deployment {deployment_id} was never admitted on {env.id}")
    route = env.route
    own = route is not None and route.deployment_id == deployment_id
    if not own:
        blocker = newest_blocker(env, mine, ended)
        if blocker is not None:
            return Refused(blocker)
    if (
        own
        and route is not None
        and route.mode == "deployment"
        and route.upstreams == target.upstreams
        and route.static_root == target.static_root
    ):
        return AlreadyRouted(route.seq)
    return Claim(
        ev.TrafficSwitched(
            mode="deployment",
            deployment_id=deployment_id,
            upstreams=target.upstreams,
            static_root=target.static_root,
            admission_seq=mine.number,
            job_id=job_id,
        )
    )


def later_in_flight(env: EnvironmentState, mine: Admission) -> list[str]:
    """Deployments admitted after `mine` that the environment has not seen end."""
    return [a.deployment_id for a in env.in_flight if a.number > mine.number]


def newest_blocker(env: EnvironmentState, mine: Admission, ended: Collection[str]) -> str | None:
    blockers: list[tuple[int, str]] = [
        (a.number, a.deployment_id)
        for a in env.in_flight
        if a.number > mine.number and a.deployment_id not in ended
    ]
    route = env.route
    if (
        route is not None
        and route.deployment_id is not None
        and route.admission_number is not None
        and route.admission_number > mine.number
    ):
        blockers.append((route.admission_number, route.deployment_id))
    return max(blockers)[1] if blockers else None
