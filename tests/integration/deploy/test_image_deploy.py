"""An image deployment run by the job mechanism: pull (local image) → deploy → health → route."""

from __future__ import annotations

import docker
import httpx

from libs.events import plans
from libs.events.outputs import DeployImageOutput, HealthCheckOutput, ImageOutput
from libs.events.states import DeploymentStatus
from libs.events.subjects import job_log_subject
from libs.events.values import ConfigSnapshot, DeploymentType, JobType, Source
from tests.integration.deploy.runside import APP_PORT, RunSide


async def test_an_image_deploys_with_its_variables_at_the_snapshot_revisions_and_gets_healthy(
    side: RunSide,
    deploy_app_image: str,
    http: httpx.AsyncClient,
    docker_client: docker.DockerClient,
) -> None:
    greeting = await side.put_variable("GREETING", "hello at revision one")
    await side.put_variable("GREETING", "changed after the request")
    cron = await side.put_variable("CRON_SECRET", "cron-secret-value")
    password = await side.put_variable("SLIPWAY_REGISTRY_PASSWORD", "never-injected")
    await side.start_deploy()
    await side.start_health(http)
    await side.start_router()

    dep = await side.request(
        DeploymentType.IMAGE,
        Source(image_ref=deploy_app_image, pull="missing"),
        plan=plans.initial_plan(DeploymentType.IMAGE),
        config=ConfigSnapshot(
            replicas=2,
            memory="256m",
            cpu=0.5,
            variables={
                "GREETING": greeting,
                "CRON_SECRET": cron,
                "SLIPWAY_REGISTRY_PASSWORD": password,
            },
        ),
    )
    state = await side.wait_for(dep, lambda s: s.status is DeploymentStatus.COMPLETED)

    pulled = ImageOutput.model_validate(state.jobs["pull"].output)
    assert pulled.exposed_ports == (APP_PORT,)
    out = DeployImageOutput.model_validate(state.jobs["deploy"].output)
    assert out.port == APP_PORT  # no setting, no slipway.toml: the image's EXPOSE
    assert [c.replica for c in out.containers] == [0, 1]
    for c in out.containers:
        env = (await http.get(f"http://{c.host}:{c.port}/env")).json()
        assert env["PORT"] == str(APP_PORT)
        assert env["HOST"] == "0.0.0.0"
        assert env["SLIPWAY_DEPLOYMENT_ID"] == dep
        assert env["SLIPWAY_ENVIRONMENT"] == "prod"
        assert env["GREETING"] == "hello at revision one"
        assert env["CRON_SECRET"] == "cron-secret-value"
        assert "SLIPWAY_REGISTRY_PASSWORD" not in env

        attrs = docker_client.containers.get(c.id).attrs
        host = attrs["HostConfig"]
        assert host["Init"] is True
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        assert host["Memory"] == 256 * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000
        assert host["PortBindings"][f"{APP_PORT}/tcp"][0]["HostIp"] == "127.0.0.1"
        labels = attrs["Config"]["Labels"]
        assert labels["slipway.deployment"] == dep
        assert labels["slipway.job"] == "deploy"
        assert labels["slipway.attempt"] == "1"
        assert c.name.endswith(f"-a1-r{c.replica}")

    # ContainersStarted is on the deployment before the deploy job's success.
    types = [(e.type, getattr(e.data, "job_id", None)) for e in await side.events(dep)]
    started = types.index(("ContainersStarted", "deploy"))
    assert started < types.index(("JobSucceeded", "deploy"))
    assert {c.id for c in state.containers} == {c.id for c in out.containers}

    health = HealthCheckOutput.model_validate(state.jobs["health"].output)
    assert health.status == 200 and health.probes >= 2
    lines = [r["line"] for r in await side.log_lines(job_log_subject(dep, "health"))]
    assert any(line.startswith("health probe 1: ") for line in lines)
    assert any("healthy after" in line for line in lines)
    assert state.jobs["route"].status.value == "success"
    assert state.jobs["pull"].type is JobType.PULL_EXTERNAL_IMAGE
