"""Teardown targets, container removals and retention decided from a folded log (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.containers.runtime import ManagedContainer
from libs.events import catalog as ev
from libs.events.envelope import Envelope
from libs.events.fold import Recorded
from libs.events.outputs import DeployImageOutput, ImageOutput
from libs.events.subjects import environment_id
from libs.events.values import ContainerInfo
from services.deploy.containers import attempt_labels
from services.deploy.fleet import Fleet
from services.deploy.lifecycle_rules import by_deployment, removals, retention, teardown_targets
from tests.factories import Story, env_event

ENV = environment_id("proj", "prod")


class Log:
    """Deployments and the environment's events, folded into a Fleet in append order."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self.stories: dict[str, Story] = {}

    def deploy(self, dep: str, image: str = "sha256:img") -> Story:
        story = Story(dep).admit()
        self.stories[dep] = story
        self.events += story.events
        self.env(ev.DeploymentAdmitted(deployment_id=dep))
        story.start("pull").succeed("pull", ImageOutput(image_id=image).model_dump(mode="json"))
        story.start("deploy")
        info = container(dep)
        story.add(ev.ContainersStarted(job_id="deploy", attempt=1, containers=(info.info,)))
        out = DeployImageOutput(containers=(info.info,), port=3000).model_dump(mode="json")
        story.succeed("deploy", out)
        self.sync(dep)
        return story

    def sync(self, dep: str) -> None:
        known = {e.event_id for e in self.events}
        self.events += [e for e in self.stories[dep].events if e.event_id not in known]

    def add(self, dep: str, data: ev.EventData) -> None:
        self.stories[dep].add(data)
        self.sync(dep)

    def env(self, data: ev.EventData) -> None:
        self.events.append(env_event(ENV, data))

    def fleet(self) -> Fleet:
        fleet = Fleet()
        for seq, env in enumerate(self.events, 1):
            fleet.apply(Recorded(seq, datetime.now(UTC), b"", env))
        return fleet


def container(dep: str, attempt: int = 1) -> ManagedContainer:
    info = ContainerInfo(id=f"{dep}-a{attempt}", name=f"c-{dep}-a{attempt}", host="h", port=1)
    labels = attempt_labels("proj", "prod", dep, "deploy", attempt)
    return ManagedContainer(info=info, labels=labels, state="running")


def route(log: Log, dep: str, mode: str = "deployment") -> None:
    log.env(ev.TrafficSwitched(mode=mode, deployment_id=dep))  # type: ignore[arg-type]


def test_teardown_targets_the_older_deployments_with_containers_never_the_routed_one() -> None:
    log = Log()
    for dep in ("a", "b", "c"):
        log.deploy(dep)
    route(log, "b")
    actual = by_deployment([container(d) for d in ("a", "b", "c")])
    assert teardown_targets(log.fleet(), "b", actual) == ["a"]
    route(log, "c")
    assert teardown_targets(log.fleet(), "c", actual) == ["a", "b"]
    # The route moved on to c before b's teardown ran: b's teardown never touches c.
    assert teardown_targets(log.fleet(), "b", actual) == ["a"]


def test_failed_cancelled_and_stopped_deployments_lose_their_containers_unless_routed() -> None:
    log = Log()
    for dep in ("failed", "stopped", "routed-stopped", "running"):
        log.deploy(dep)
    log.stories["failed"].start("health").fail("health", "unhealthy")
    log.sync("failed")
    log.add("stopped", ev.DeploymentStopped(reason="by user", by="tok"))
    log.add("routed-stopped", ev.DeploymentStopped(reason="by user", by="tok"))
    route(log, "routed-stopped")  # routing has not moved it to maintenance yet
    actual = by_deployment([container(d) for d in log.stories] + [container("unknown")])
    found = {(r.deployment_id, r.reason) for r in removals(log.fleet(), actual)}
    assert found == {("failed", "failed"), ("stopped", "stopped")}
    route(log, "routed-stopped", mode="maintenance")
    found = {(r.deployment_id, r.reason) for r in removals(log.fleet(), actual, busy={"failed"})}
    assert found == {("stopped", "stopped"), ("routed-stopped", "stopped")}


def test_a_paused_deployment_keeps_its_containers_until_the_route_is_no_longer_theirs() -> None:
    log = Log()
    log.deploy("p")
    route(log, "p")
    log.add("p", ev.DeploymentPaused(by="tok"))
    actual = by_deployment([container("p")])
    assert removals(log.fleet(), actual) == []
    route(log, "p", mode="maintenance")
    assert [(r.deployment_id, r.reason) for r in removals(log.fleet(), actual)] == [("p", "paused")]


def test_only_a_lost_attempts_containers_are_stale() -> None:
    log = Log()
    log.deploy("x")
    newer = container("x", attempt=2)  # claimed after the fleet was read: not stale
    actual = by_deployment([container("x"), newer])
    assert removals(log.fleet(), actual) == []
    story = log.stories["x"]
    story.attempts["deploy"] = 2
    log.add(
        "x",
        ev.JobStarted(
            job_id="deploy", job_type=story.state.jobs["deploy"].type, attempt=2, executor="h"
        ),
    )
    (removal,) = removals(log.fleet(), by_deployment([container("x"), newer]))
    assert [c.info.id for c in removal.containers] == ["x-a1"] and removal.reason == "stale attempt"


def test_retention_keeps_the_last_ones_the_routed_one_and_those_with_containers() -> None:
    log = Log()
    for n in range(5):
        log.deploy(f"d{n}", image=f"sha256:{n}")
        log.add(f"d{n}", ev.ContainersRemoved(container_ids=(f"d{n}-a1",), reason="teardown"))
        log.add(f"d{n}", ev.DeploymentStopped(reason="superseded", by="deploy"))
    route(log, "d0")
    actual = by_deployment([container("d1")])  # the engine still has one: not yet pruned
    pruned = retention(log.fleet(), actual, keep=2)
    assert [(p.deployment_id, p.ref) for p in pruned] == [("d2", "sha256:2")]
