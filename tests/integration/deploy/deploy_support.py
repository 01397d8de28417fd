"""Backends for the container runtime contract: the fake and a real Docker Engine.

No registry and no base image exist here, so the test image is written by hand as a `docker save`
archive whose only layer is the static `caddy` binary of the venv: a real HTTP server image.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from libs.containers.docker import DockerContainerRuntime
from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import ContainerSpec

APP_PORT = 8080
TEST_LABEL = "slipway.test"


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_image_tar(
    dest: Path,
    files: dict[str, tuple[bytes, int]],
    *,
    tag: str | None,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    exposed: tuple[int, ...] = (),
) -> str:
    """A `docker save` archive of a one-layer image; returns its image id (sha256 of config)."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer:
        for name, (data, mode) in files.items():
            _add(layer, name, data, mode)
    layer_bytes = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "ExposedPorts": {f"{p}/tcp": {} for p in exposed},
            "Env": ["PATH=/"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "slipway tests"}],
    }
    config_bytes = json.dumps(config).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = diff_id.split(":")[1]
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": [tag] if tag else None,
            "Layers": [f"{layer_dir}/layer.tar"],
        }
    ]
    with tarfile.open(dest, "w") as tar:
        _add(tar, f"{config_hex}.json", config_bytes)
        _add(tar, f"{layer_dir}/layer.tar", layer_bytes)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return f"sha256:{config_hex}"


@dataclass
class Backend:
    """One runtime under test plus what a test needs to drive it like an engine would."""

    name: str
    runtime: DockerContainerRuntime | FakeContainerRuntime
    image: str  # tag of the caddy test image
    run_id: str
    registry: str = "127.0.0.1:9"  # host:port of a registry holding nothing
    registry_push: Callable[[str, str], str] | None = None

    def spec(
        self,
        name: str,
        *,
        command: tuple[str, ...] | None = None,
        labels: dict[str, str] | None = None,
    ) -> ContainerSpec:
        return ContainerSpec(
            name=f"slipway-test-{self.run_id}-{name}",
            image=self.image,
            port=APP_PORT,
            env={"PORT": str(APP_PORT)},
            labels={TEST_LABEL: self.run_id, **(labels or {})},
            command=command,
            cpu=0.5,
            memory="128m",
        )

    async def publish(self, ref: str) -> str:
        """Put the test image in a registry under `ref`, absent locally; returns its image id."""
        if isinstance(self.runtime, FakeContainerRuntime):
            return self.runtime.publish(ref, exposed_ports=(APP_PORT,)).id
        assert self.registry_push is not None
        return self.registry_push(self.image, ref)

    async def crash(self, container_id: str) -> None:
        """Fake: crash it. Docker: the container was started with a bad command; wait for it."""
        if isinstance(self.runtime, FakeContainerRuntime):
            self.runtime.write_logs(container_id, 'Error: unknown command "no-such-command"')
            self.runtime.crash(container_id, exit_code=1)
            return
        for _ in range(100):
            if (await self.runtime.inspect_state(container_id)).crashed:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("container did not crash")


CRASH_COMMAND = ("no-such-command",)
