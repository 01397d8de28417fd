"""HealthCheckJob on the fake engine: what it probes, and a crash failing at once."""

from __future__ import annotations

import httpx
import pytest

from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import ContainerSpec
from libs.events import plans
from libs.events.config import SlipwayToml
from libs.events.outputs import DeployImageOutput, DownloadRepoOutput
from libs.events.values import DeploymentType
from libs.jobs import JobError
from services.health.health_job import check_health, health_target
from tests.factories import Story
from tests.unit.deploy.job_ctx import job_context


def test_the_health_path_and_status_come_from_the_environment_then_slipway_toml() -> None:
    assert health_target(Story("d1").admit().state) == ("/", None)
    toml = SlipwayToml.model_validate({"health": {"path": "/up", "expected_status": 204}})
    out = DownloadRepoOutput(commit_sha="a" * 40, source_object="s", slipway_toml=toml)
    story = Story("d2", DeploymentType.GIT).admit().start("download")
    story.succeed("download", out.model_dump(mode="json"))
    assert health_target(story.state) == ("/up", 204)


async def test_a_crashed_replica_fails_the_check_at_once_with_its_output_in_the_log() -> None:
    engine = FakeContainerRuntime()
    engine.add_image("img", tags=("img:1",))
    info = await engine.run(ContainerSpec(name="c0", image="img", port=3000))
    engine.write_logs(info.id, "starting", "Error: EADDRINUSE")
    engine.crash(info.id, exit_code=1, restarts=2)
    plan = plans.initial_plan(DeploymentType.IMAGE)
    story = Story("d1", DeploymentType.IMAGE, plan=plan).admit().run("pull").start("deploy")
    story.succeed(
        "deploy", DeployImageOutput(containers=(info,), port=3000).model_dump(mode="json")
    )
    ctx, lines = job_context(story.start("health").state, "health")
    async with httpx.AsyncClient() as client:
        with pytest.raises(JobError, match="container keeps crashing: restarted 2 time") as err:
            await check_health(ctx, engine, client)
    assert err.value.code == "crashed"
    await ctx.log.flush()
    assert lines.text()[-2:] == ["starting", "Error: EADDRINUSE"]
