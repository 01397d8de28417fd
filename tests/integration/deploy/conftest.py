"""Fixtures of the container runtime contract: the fake and a real Docker Engine."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from libs.containers.docker import DockerContainerRuntime
from libs.containers.fake import FakeContainerRuntime
from tests.integration.deploy.deploy_support import APP_PORT, TEST_LABEL, Backend, write_image_tar
from tests.integration.deploy.runside import deploy_app_image, http, side


@pytest.fixture(scope="session")
def caddy_image_tar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    caddy = shutil.which("caddy") or str(Path(".venv/bin/caddy").resolve())
    tag = f"slipway-test/caddy:{uuid.uuid4().hex[:10]}"
    dest = tmp_path_factory.mktemp("images") / "caddy.tar"
    image_id = write_image_tar(
        dest,
        {"caddy": (Path(caddy).read_bytes(), 0o755)},
        tag=tag,
        entrypoint=["/caddy"],
        cmd=["respond", "--listen", f":{APP_PORT}", "--body", "hello from caddy"],
        exposed=(APP_PORT,),
    )
    return dest, tag, image_id


def docker_engine() -> docker.DockerClient | None:
    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException:
        return None


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker_engine()
    if client is None:
        pytest.skip("no Docker Engine reachable")
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_caddy_image(
    docker_client: docker.DockerClient, caddy_image_tar: tuple[Path, str, str]
) -> Iterator[str]:
    path, tag, image_id = caddy_image_tar
    with path.open("rb") as f:
        docker_client.images.load(f)
    yield tag
    try:
        docker_client.images.remove(image_id, force=True)
    except docker.errors.APIError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (the distribution binary) on loopback, which Docker trusts over HTTP."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        pytest.skip("docker-registry binary not installed")
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{_free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: {address}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("registry did not start: " + (root / "registry.log").read_text())
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _pusher(client: docker.DockerClient) -> Callable[[str, str], str]:
    def push(image: str, ref: str) -> str:
        repository, tag = ref.rsplit(":", 1)
        img = client.images.get(image)
        img.tag(repository, tag)
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise RuntimeError(chunk["error"])
        client.images.remove(ref)  # untag only: the next pull must fetch it
        return str(img.id)

    return push


@pytest.fixture(params=["fake", "docker"])
async def backend(
    request: pytest.FixtureRequest, caddy_image_tar: tuple[Path, str, str]
) -> AsyncIterator[Backend]:
    run_id = uuid.uuid4().hex[:8]
    if request.param == "fake":
        fake = FakeContainerRuntime()
        await fake.load_image(caddy_image_tar[0])
        yield Backend("fake", fake, caddy_image_tar[1], run_id)
        return
    tag: str = request.getfixturevalue("docker_caddy_image")
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    registry: str = request.getfixturevalue("local_registry")
    real = DockerContainerRuntime()
    try:
        yield Backend("docker", real, tag, run_id, registry, _pusher(client))
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={run_id}"}):
            c.remove(force=True)
        real.close()


__all__ = ["deploy_app_image", "http", "side"]
