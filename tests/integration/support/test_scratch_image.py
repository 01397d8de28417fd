from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from libs.infra import find_binary
from tests.support.names import unique


def test_a_scratch_image_runs_its_static_binary_and_is_reused(
    make_scratch_image: Callable[[Path | str, str], str], docker_client: docker.DockerClient
) -> None:
    binary = find_binary("nats-server")
    tag = make_scratch_image(binary, "slipway-test/nats-scratch:latest")
    image_id = docker_client.images.get(tag).id
    assert make_scratch_image(binary, tag) == tag
    assert docker_client.images.get(tag).id == image_id  # not rebuilt
    output = docker_client.containers.run(tag, ["--version"], name=unique("scratch"), remove=True)
    assert output.startswith(b"nats-server: v")
