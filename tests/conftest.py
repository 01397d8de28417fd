"""Session-wide test infrastructure: one NATS, one PostgreSQL, one Caddy per run, never per test.

Fixtures: `nats_url`, `postgres_url`, `postgres_database` (a fresh database per test),
`docker_client`, `debian_base_image`, `python_base_image`, `make_scratch_image`, `caddy`.
A fixture that cannot get its dependency skips with the reason; with CI=true the skip fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from libs.infra import EmbeddedCaddy, EmbeddedNats, free_port
from tests.support import images
from tests.support.ci_skips import pytest_make_collect_report, pytest_runtest_makereport
from tests.support.docker_engine import DockerUnavailable, connect_docker
from tests.support.names import unique_identifier
from tests.support.postgres import (
    PostgresStartError,
    PostgresUnavailable,
    TemporaryPostgres,
    asyncpg_url,
    create_database,
    drop_database,
)

__all__ = ["pytest_make_collect_report", "pytest_runtest_makereport"]

_IMAGE_FIXTURES = {"debian_base_image": images.DEBIAN, "python_base_image": images.PYTHON}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that will debootstrap a missing base image gets a timeout long enough for that."""
    current: dict[str, bool] = {}
    for item in items:
        wanted = [name for name in _IMAGE_FIXTURES if name in getattr(item, "fixturenames", ())]
        if not wanted or item.get_closest_marker("timeout") is not None:
            continue
        for name in wanted:
            if name not in current:
                current[name] = _image_is_current(_IMAGE_FIXTURES[name])
        if not all(current[name] for name in wanted):
            item.add_marker(pytest.mark.timeout(images.DEBOOTSTRAP_TIMEOUT_S + 300))


def _image_is_current(recipe: images.RootfsRecipe) -> bool:
    try:
        client = connect_docker()
    except DockerUnavailable:
        return True  # no engine: the fixture will skip at once, no build to wait for
    try:
        return images.image_is_current(recipe, client)
    except DockerException:
        return True
    finally:
        client.close()


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`NATS_URL` when set, else an embedded JetStream server on a free port for the session."""
    external = os.environ.get("NATS_URL")
    if external:
        yield external
        return
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy asyncpg URL: `DATABASE_URL` when set, else a throwaway local cluster, else a
    testcontainers PostgreSQL; skipped (with every reason) when none can be had."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield asyncpg_url(external)
        return
    reasons: list[str] = []
    try:
        cluster = TemporaryPostgres().start()
    except (PostgresUnavailable, PostgresStartError) as exc:
        reasons.append(f"local cluster: {exc}")
    else:
        try:
            yield cluster.url
        finally:
            cluster.stop()
        return
    try:
        from testcontainers.postgres import PostgresContainer
    except ImportError:
        reasons.append("testcontainers is not installed")
    else:
        try:
            container = PostgresContainer("postgres:15", driver="asyncpg").start()
        except Exception as exc:  # its errors are docker's, requests', or its own
            reasons.append(f"testcontainers: {exc}")
        else:
            try:
                yield str(container.get_connection_url())
            finally:
                container.stop()
            return
    pytest.skip("no PostgreSQL: " + "; ".join(reasons))


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test (asyncpg URL), dropped afterwards."""
    name = unique_identifier("test")
    url = await create_database(postgres_url, name)
    try:
        yield url
    finally:
        await drop_database(postgres_url, name)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect_docker()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield client
    finally:
        client.close()


def _rootfs_image(recipe: images.RootfsRecipe, client: docker.DockerClient) -> str:
    if shutil.which("debootstrap") is None and not images.image_is_current(recipe, client):
        pytest.skip(f"{recipe.tag} is not built and debootstrap is not installed")
    return images.ensure_rootfs_image(recipe, client)


@pytest.fixture(scope="session")
def debian_base_image(docker_client: docker.DockerClient) -> str:
    """Tag of the local Debian bookworm minbase image (built once per machine)."""
    return _rootfs_image(images.DEBIAN, docker_client)


@pytest.fixture(scope="session")
def python_base_image(docker_client: docker.DockerClient) -> str:
    """Tag of the local Debian bookworm + python3 image (built once per machine)."""
    return _rootfs_image(images.PYTHON, docker_client)


@pytest.fixture(scope="session")
def make_scratch_image(docker_client: docker.DockerClient) -> Callable[[Path | str, str], str]:
    """`make_scratch_image(static_binary, tag) -> tag`: FROM scratch + the binary."""

    def make(binary_path: Path | str, tag: str) -> str:
        return images.scratch_image(binary_path, tag, docker_client)

    return make


@pytest.fixture(scope="session")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCaddy]:
    """One Caddy for the session: admin and edge (server `edge`) on free loopback ports."""
    server = EmbeddedCaddy(
        tmp_path_factory.mktemp("caddy"),
        admin=f"127.0.0.1:{free_port()}",
        edge_listen=f"127.0.0.1:{free_port()}",
    )
    with server:
        yield server


@pytest.fixture
def own_nats_url(tmp_path: Path) -> Iterator[str]:
    """A nats-server of this test's own: durable consumers and a short lease TTL are its own."""
    with EmbeddedNats(tmp_path / "nats") as server:
        yield server.url
