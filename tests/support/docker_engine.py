"""Reaching the Docker engine from tests, with one clear reason when it is not there."""

from __future__ import annotations

import gc
import warnings

import docker
from docker.errors import DockerException


class DockerUnavailable(RuntimeError):
    """No Docker engine answers (the message says why)."""


def connect_docker() -> docker.DockerClient:
    """A client for the engine of DOCKER_HOST (else the local socket), already pinged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        client: docker.DockerClient | None = None
        try:
            client = docker.from_env()
            client.ping()
            return client
        except DockerException as exc:
            reason = str(exc)
        if client is not None:
            client.close()
        # docker-py leaves the socket of a failed connect unclosed; finalize it while ignored,
        # or `filterwarnings = error` turns it into an error at the end of the session.
        gc.collect()
    raise DockerUnavailable(f"no Docker engine: {reason}")
