"""One sanity check per session fixture: each hands out a server that really answers."""

from __future__ import annotations

import docker
import httpx
import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.infra import EmbeddedCaddy
from tests.support.names import unique


async def test_nats_url_serves_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        stream = unique("infra")
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await js.publish(f"{stream}.x", b"hello")
        assert ack.stream == stream
        assert info.limits is not None
        await js.delete_stream(stream)
    finally:
        await nc.close()


async def test_postgres_url_answers_select_1(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_postgres_database_is_fresh_and_writable(postgres_database: str) -> None:
    engine = create_async_engine(postgres_database)
    try:
        async with engine.begin() as conn:
            tables = await conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
            )
            assert tables.scalar_one() == 0
            await conn.execute(text("CREATE TABLE t (id int)"))
    finally:
        await engine.dispose()


async def test_caddy_admin_answers_config(caddy: EmbeddedCaddy) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{caddy.admin_url}/config/")
        edge = await client.get(f"http://127.0.0.1:{caddy.edge_port}/")
    assert response.status_code == 200
    assert response.json()["apps"]["http"]["servers"]["edge"]["listen"] == [caddy.edge_listen]
    assert edge.status_code == 200  # the edge server is up, with no routes yet


def test_python_base_image_runs_python3(
    docker_client: docker.DockerClient, python_base_image: str
) -> None:
    output = docker_client.containers.run(
        python_base_image, ["python3", "-c", "print(1)"], remove=True
    )
    assert output == b"1\n"


def test_debian_base_image_has_a_shell_and_path(
    docker_client: docker.DockerClient, debian_base_image: str
) -> None:
    output = docker_client.containers.run(
        debian_base_image, ["sh", "-c", "echo $PATH"], remove=True
    )
    assert b"/usr/bin" in output
