"""PullExternalImageJob and VerifyLocalImageJob on the fake engine."""

from __future__ import annotations

import pytest

from libs.artifacts import FakeArtifactStore
from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import RegistryAuth
from libs.events import catalog as ev
from libs.events import plans
from libs.events.values import ConfigSnapshot, DeploymentType, Source, TriggerInfo
from libs.jobs import JobError
from services.deploy.image_jobs import pull_external_image, verify_local_image
from services.deploy.variables import FakeVariables
from tests.factories import Story
from tests.unit.deploy.job_ctx import job_context

REF = "registry.example/team/app:1"


def _pull_state(
    source: Source,
    variables: dict[str, int] | None = None,
    kind: DeploymentType = DeploymentType.IMAGE,
) -> Story:
    story = Story("d1", kind)
    story.events.clear()
    story.add(
        ev.DeploymentRequested(
            deployment_id="d1",
            project="proj",
            environment="prod",
            deployment_type=kind,
            source=source,
            plan=plans.initial_plan(kind),
            config=ConfigSnapshot(variables=variables or {}),
            trigger=TriggerInfo(kind="api"),
        )
    )
    return story.admit()


async def test_policy_missing_uses_a_local_image_without_pulling() -> None:
    engine = FakeContainerRuntime()
    local = engine.add_image("sha256:" + "1" * 64, tags=(REF,), exposed_ports=(8080,))
    engine.publish(REF)  # a different image in the registry: must not be fetched
    ctx, lines = job_context(_pull_state(Source(image_ref=REF)).start("pull").state, "pull")
    out = await pull_external_image(ctx, engine, FakeVariables())
    assert out.image_id == local.id and out.exposed_ports == (8080,)
    await ctx.log.flush()
    assert any("pull policy missing" in line for line in lines.text())


async def test_policy_always_pulls_with_the_credentials_of_the_snapshot() -> None:
    engine = FakeContainerRuntime()
    engine.add_image("sha256:" + "1" * 64, tags=(REF,))
    auth = RegistryAuth("robot", "pw")
    published = engine.publish(REF, auth=auth)
    variables = FakeVariables()
    revs = {
        "SLIPWAY_REGISTRY_USER": variables.put("proj", "prod", "SLIPWAY_REGISTRY_USER", "robot"),
        "SLIPWAY_REGISTRY_PASSWORD": variables.put(
            "proj", "prod", "SLIPWAY_REGISTRY_PASSWORD", "pw"
        ),
    }
    variables.put("proj", "prod", "SLIPWAY_REGISTRY_PASSWORD", "rotated later")
    story = _pull_state(Source(image_ref=REF, pull="always"), revs).start("pull")
    ctx, _ = job_context(story.state, "pull")
    out = await pull_external_image(ctx, engine, variables)
    assert out.image_id == published.id and out.digest == published.digest


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (Source(), "names no image to pull"),
        (Source(image_ref=REF, pull="sometimes"), "unknown pull policy 'sometimes'"),
        (Source(image_ref=REF), "manifest unknown"),
    ],
)
async def test_pull_errors_are_clear(source: Source, message: str) -> None:
    ctx, _ = job_context(_pull_state(source).start("pull").state, "pull")
    with pytest.raises(JobError, match=message):
        await pull_external_image(ctx, FakeContainerRuntime(), FakeVariables())


async def test_a_rollback_verifies_that_the_target_image_is_still_there() -> None:
    engine = FakeContainerRuntime()
    image = engine.add_image("sha256:" + "2" * 64)
    source = Source(image_id=image.id, rollback_of="d0", commit_sha="cafe123")
    story = _pull_state(source, kind=DeploymentType.ROLLBACK).start("verify")
    ctx, _ = job_context(story.state, "verify")
    assert (await verify_local_image(ctx, engine, artifacts=None)).image_id == image.id  # type: ignore[arg-type]
    await engine.remove_image(image.id)
    with pytest.raises(JobError, match="image pruned — redeploy commit cafe123"):
        await verify_local_image(ctx, engine, FakeArtifactStore())
