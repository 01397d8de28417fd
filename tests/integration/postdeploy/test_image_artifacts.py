"""SBOM and source maps of a real image (python_base_image plus a fake installed package), and a
failing post-deploy job that leaves the deployment completed."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator

import docker
import pytest
from nats.aio.client import Client as NATS

from libs.events.states import DeploymentStatus, JobStatus
from libs.events.values import DeploymentType, JobType
from libs.eventstore import Repository
from libs.settings import Settings
from tests.integration.postdeploy.api_client import artifacts_client
from tests.integration.postdeploy.toys import World, image_plan

METADATA = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nLicense: MIT\n"
SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"


@pytest.fixture
def foo_image(docker_client: docker.DockerClient, python_base_image: str) -> Iterator[str]:
    """python_base_image + site-packages/foo-1.0.dist-info/METADATA + an app source map."""
    dockerfile = (
        f"FROM {python_base_image}\n"
        f"COPY METADATA {SITE_PACKAGES}/foo-1.0.dist-info/METADATA\n"
        "COPY main.js.map /app/dist/main.js.map\n"
    ).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (
            ("Dockerfile", dockerfile),
            ("METADATA", METADATA),
            ("main.js.map", b'{"version":3}'),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"slipway-test/pd-foo:{uuid.uuid4().hex[:10]}"
    image, _ = docker_client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    yield str(image.id)
    docker_client.images.remove(tag, force=True)


def finished(job: str) -> object:
    return lambda s: s.jobs[job].finished_at is not None


async def test_the_sbom_of_a_python_image_lists_its_python_and_debian_packages(
    pnc: NATS, prepo: Repository, pd_settings: Settings, foo_image: str
) -> None:
    world = World(pnc, prepo, pd_settings)
    async with world.running():
        dep = await world.deploy(
            image_plan((JobType.SCAN_VULNERABILITIES, JobType.CAPTURE_SOURCE_MAPS)),
            kind=DeploymentType.IMAGE_UPLOAD,
            image=foo_image,
            commit="feedface",
        )
        state = await world.wait(
            dep, lambda s: all(s.jobs[j].finished_at for j in ("scan", "sourcemaps")), 120
        )
    scan = state.jobs["scan"]
    assert scan.status is JobStatus.SUCCESS, scan.error
    assert state.status is DeploymentStatus.COMPLETED
    summary = scan.output["summary"]
    assert "vulnerability matching skipped: no vulnerability scanner is installed" in summary
    assert scan.output["details"]["by_ecosystem"]["pypi"] == 1
    assert scan.output["details"]["by_ecosystem"]["deb"] > 50  # a minbase Debian and python3
    assert scan.output["details"]["os"] == "debian 12"
    async with artifacts_client(pnc, prepo) as api:
        r = await api.get(f"/api/deployments/{dep}/artifacts/sbom")
        listing = (await api.get(f"/api/deployments/{dep}/artifacts")).json()["items"]
    assert r.headers["content-type"] == "application/vnd.cyclonedx+json"
    doc = json.loads(r.content)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.5")
    foo = [c for c in doc["components"] if c.get("purl") == "pkg:pypi/foo@1.0"]
    assert foo and foo[0]["licenses"] == [{"license": {"name": "MIT"}}]
    purls = [c.get("purl", "") for c in doc["components"]]
    assert any(p.startswith("pkg:deb/debian/python3@") for p in purls)
    maps = state.jobs["sourcemaps"].output
    assert maps["objects"] == ["sourcemaps/feedface/app/dist/main.js.map"]
    assert {i["kind"] for i in listing} == {"sbom", "sourcemap"}


async def test_a_failing_post_deploy_job_leaves_the_deployment_completed(
    pnc: NATS, prepo: Repository, pd_settings: Settings
) -> None:
    world = World(pnc, prepo, pd_settings)
    missing = "sha256:" + "0" * 64
    async with world.running():
        dep = await world.deploy(
            image_plan((JobType.SCAN_VULNERABILITIES,)),
            kind=DeploymentType.IMAGE_UPLOAD,
            image=missing,
        )
        state = await world.wait(dep, finished("scan"))
    job = state.jobs["scan"]
    assert job.status is JobStatus.FAILURE
    assert job.failure_code == "image_missing"
    assert job.error is not None and "is not present on this host" in job.error
    assert state.status is DeploymentStatus.COMPLETED
    assert state.ended is None


async def test_reading_an_image_never_starts_it_and_leaves_no_container(
    docker_client: docker.DockerClient, debian_base_image: str
) -> None:
    from libs.containers.runtime import ImageNotFound
    from services.postdeploy.adapters.docker_image_files import DockerImageFiles

    labels = {"slipway.deployment": f"pdtest-{uuid.uuid4().hex[:8]}", "slipway.job": "scan"}
    files = DockerImageFiles()
    try:
        found = await files.read(
            debian_base_image,
            lambda p: p in ("etc/os-release", "usr/lib/os-release", "etc/debian_version"),
            labels=labels,
            max_file_bytes=1 << 20,
        )
        with pytest.raises(ImageNotFound, match="not present"):
            await files.read("sha256:" + "1" * 64, lambda p: True, labels=labels, max_file_bytes=1)
        await files.remove_leftovers(labels)
    finally:
        files.close()
    # Regular files only: Debian's etc/os-release is a symlink to usr/lib/os-release.
    assert set(found) == {"usr/lib/os-release", "etc/debian_version"}
    assert b"ID=debian" in found["usr/lib/os-release"]
    wanted = [f"{k}={v}" for k, v in labels.items()]
    assert docker_client.containers.list(all=True, filters={"label": wanted}) == []
