"""Removing what a test made on the Docker engine: containers and images it labelled or tagged.

Docker's classic builder keeps the image of every successful step (the layer cache) even when a
later step fails. Test Dockerfiles therefore start with `LABEL slipway.test=<token>`, which every
following step's image inherits, so those leftovers can be found and removed too.
"""

from __future__ import annotations

import contextlib

import docker
from docker.errors import APIError, NotFound

TEST_LABEL = "slipway.test"


def remove_test_artifacts(
    client: docker.DockerClient,
    *,
    token: str | None = None,
    project: str | None = None,
    repository: str | None = None,
) -> None:
    """Containers and images labelled `slipway.test=<token>` or `slipway.project=<project>`,
    and images tagged `<repository>:*` (e.g. `slipway/<project>/<env>`)."""
    filters: list[dict[str, str]] = []
    if token:
        filters.append({"label": f"{TEST_LABEL}={token}"})
    if project:
        filters.append({"label": f"slipway.project={project}"})
    for flt in filters:
        for container in client.containers.list(all=True, filters=flt):
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
    for _ in range(10):  # children before parents: repeat until nothing is left to remove
        images = []
        for flt in filters:
            images += client.images.list(all=True, filters=flt)
        if repository:
            images += [
                image
                for image in client.images.list(all=True)
                if any(tag.startswith(repository + ":") for tag in image.tags)
            ]
        if not images:
            return
        for image in {i.id: i for i in images}.values():
            with contextlib.suppress(NotFound, APIError):
                client.images.remove(image.id, force=True)
