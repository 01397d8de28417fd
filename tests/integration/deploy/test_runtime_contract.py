"""The container runtime contract, held by the fake and by Docker alike."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from libs.containers.docker import DockerContainerRuntime
from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import (
    ContainerNotFound,
    DockerUnavailable,
    ImageInUse,
    ImageNotFound,
    InvalidImageArchive,
    RegistryError,
)
from tests.integration.deploy.deploy_support import (
    CRASH_COMMAND,
    TEST_LABEL,
    Backend,
    write_image_tar,
)


async def test_run_starts_a_container_published_on_loopback(backend: Backend) -> None:
    info = await backend.runtime.run(backend.spec("web", labels={"slipway.deployment": "d1"}))
    assert info.host == "127.0.0.1"
    assert info.port > 0
    assert info.name.endswith("-web")
    state = await backend.runtime.inspect_state(info.id)
    assert state.running and not state.crashed


async def test_run_is_idempotent_by_name(backend: Backend) -> None:
    first = await backend.runtime.run(backend.spec("twice"))
    second = await backend.runtime.run(backend.spec("twice"))
    assert second.id == first.id
    assert second.port == first.port
    listed = await backend.runtime.list({TEST_LABEL: backend.run_id})
    assert [m.info.id for m in listed] == [first.id]


async def test_list_filters_by_every_label_and_reports_state(backend: Backend) -> None:
    a = await backend.runtime.run(backend.spec("a", labels={"slipway.deployment": "d1"}))
    await backend.runtime.run(backend.spec("b", labels={"slipway.deployment": "d2"}))
    found = await backend.runtime.list({TEST_LABEL: backend.run_id, "slipway.deployment": "d1"})
    assert [m.info.id for m in found] == [a.id]
    assert found[0].labels["slipway.deployment"] == "d1"
    assert found[0].labels["slipway.replica"] == "0"
    assert found[0].state == "running"
    assert found[0].info.port == a.port


async def test_stop_and_remove_removes_and_tolerates_a_missing_container(backend: Backend) -> None:
    info = await backend.runtime.run(backend.spec("gone"))
    await backend.runtime.stop_and_remove(info.id, grace_s=1)
    assert await backend.runtime.list({TEST_LABEL: backend.run_id}) == []
    with pytest.raises(ContainerNotFound):
        await backend.runtime.inspect_state(info.id)
    await backend.runtime.stop_and_remove(info.id, grace_s=1)


async def test_crashed_container_is_detected_with_its_logs(backend: Backend) -> None:
    info = await backend.runtime.run(backend.spec("crash", command=CRASH_COMMAND))
    await backend.crash(info.id)
    state = await backend.runtime.inspect_state(info.id)
    assert state.crashed
    assert state.exit_code is None or state.exit_code != 0
    assert "container" in state.describe()
    text = await backend.runtime.logs(info.id, tail=100)
    assert "no-such-command" in text


async def test_logs_of_a_missing_container_is_not_found(backend: Backend) -> None:
    with pytest.raises(ContainerNotFound):
        await backend.runtime.logs("f" * 64)


async def test_run_with_a_missing_image_is_image_not_found(backend: Backend) -> None:
    spec = backend.spec("noimage")
    spec = type(spec)(**{**spec.__dict__, "image": "slipway-test/absent:nope"})
    with pytest.raises(ImageNotFound, match="absent"):
        await backend.runtime.run(spec)


async def test_image_info_reports_id_size_and_exposed_ports(backend: Backend) -> None:
    info = await backend.runtime.image_info(backend.image)
    assert info.id.startswith("sha256:")
    assert info.size > 1_000_000
    assert info.exposed_ports == (8080,)
    assert await backend.runtime.image_exists(info.id)
    assert not await backend.runtime.image_exists("sha256:" + "0" * 64)
    with pytest.raises(ImageNotFound):
        await backend.runtime.image_info("slipway-test/absent:nope")


async def test_load_then_remove_an_image(backend: Backend, tmp_path: Path) -> None:
    tar = tmp_path / "img.tar"
    marker = uuid.uuid4().hex.encode()
    expected = write_image_tar(tar, {"marker": (marker, 0o644)}, tag=None, exposed=(3000,))
    ids = await backend.runtime.load_image(tar)
    assert ids == (expected,)
    assert (await backend.runtime.image_info(expected)).exposed_ports == (3000,)
    await backend.runtime.remove_image(expected)
    assert not await backend.runtime.image_exists(expected)
    await backend.runtime.remove_image(expected)


async def test_loading_a_file_that_is_no_image_archive_fails_clearly(
    backend: Backend, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tarball at all" * 100)
    with pytest.raises(InvalidImageArchive, match="not a docker image archive"):
        await backend.runtime.load_image(junk)
    with pytest.raises(InvalidImageArchive, match="does not exist"):
        await backend.runtime.load_image(tmp_path / "missing.tar")


async def test_an_image_in_use_is_not_removed(backend: Backend) -> None:
    await backend.runtime.run(backend.spec("user"))
    image = await backend.runtime.image_info(backend.image)
    with pytest.raises(ImageInUse):
        await backend.runtime.remove_image(image.id)
    assert await backend.runtime.image_exists(image.id)


async def test_pull_failure_carries_the_registry_message(backend: Backend) -> None:
    with pytest.raises(RegistryError, match=r"pull 127\.0\.0\.1:9/slipway/none:v1 failed: .+"):
        await backend.runtime.pull("127.0.0.1:9/slipway/none:v1")


async def test_pull_fetches_an_image_with_its_digest(backend: Backend) -> None:
    ref = f"{backend.registry}/slipway-test/pulled:{backend.run_id}"
    if backend.name == "fake":
        ref = f"registry.example/slipway-test/pulled:{backend.run_id}"
    expected = await backend.publish(ref)
    info = await backend.runtime.pull(ref)
    assert info.id == expected
    assert info.digest is not None and info.digest.startswith("sha256:")
    assert info.exposed_ports == (8080,)
    assert await backend.runtime.image_exists(info.id)
    with pytest.raises(RegistryError, match=r"failed: .+"):
        await backend.runtime.pull(ref.rsplit(":", 1)[0] + ":no-such-tag")


@pytest.mark.parametrize("kind", ["fake", "docker"])
async def test_unreachable_engine_is_docker_unavailable(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    runtime = FakeContainerRuntime(available=False) if kind == "fake" else DockerContainerRuntime()
    with pytest.raises(DockerUnavailable, match="Docker Engine unreachable at"):
        await runtime.list({})
    with pytest.raises(DockerUnavailable):
        await runtime.image_info("anything")


# ---------------------------------------------------------------- real engine only


async def _get_when_up(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(100):
            try:
                return await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.mark.docker
async def test_docker_container_serves_http_with_limits_env_and_restart_policy(
    docker_caddy_image: str, docker_client: docker.DockerClient
) -> None:
    run_id = uuid.uuid4().hex[:8]
    backend = Backend("docker", DockerContainerRuntime(), docker_caddy_image, run_id)
    try:
        info = await backend.runtime.run(backend.spec("http", labels={"slipway.job": "deploy"}))
        response = await _get_when_up(f"http://{info.host}:{info.port}/")
        assert response.status_code == 200
        assert response.text == "hello from caddy"
        attrs = docker_client.containers.get(info.id).attrs
        host = attrs["HostConfig"]
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        assert host["NanoCpus"] == 500_000_000
        assert host["Memory"] == 128 * 1024 * 1024
        assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
        assert "PORT=8080" in attrs["Config"]["Env"]
        assert attrs["Config"]["Labels"]["slipway.job"] == "deploy"
    finally:
        for c in docker_client.containers.list(
            all=True, filters={"label": f"{TEST_LABEL}={run_id}"}
        ):
            c.remove(force=True)
