"""ImageBuilder in memory. It reads just enough of a Dockerfile to keep the contract:
`COPY <src> <dest>` puts context files in the image, `EXPOSE <port>` exposes, `RUN exit <n>` with
n > 0 fails the build the way Docker words it; anything else is a step that succeeds."""

from __future__ import annotations

import asyncio
import hashlib
import io
import posixpath
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.build.builder import BuildError, BuildSpec, BuiltImage, LineSink

_COPY = re.compile(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$", re.IGNORECASE)
_EXPOSE = re.compile(r"^EXPOSE\s+(\d+)", re.IGNORECASE)
_EXIT = re.compile(r"^RUN\s+exit\s+(\d+)\s*$", re.IGNORECASE)


@dataclass
class FakeImage:
    id: str
    labels: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path -> content
    exposed_ports: tuple[int, ...] = ()


class FakeImageBuilder:
    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.images: dict[str, FakeImage] = {}
        self.builds: list[BuildSpec] = []
        self.cancelled: list[str] = []
        self.running = 0
        self.most_running = 0

    async def build(self, spec: BuildSpec, log: LineSink) -> BuiltImage:
        self.builds.append(spec)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            text = await asyncio.to_thread((spec.context / spec.dockerfile).read_text)
            image = await self._run(spec, text, log)
        except asyncio.CancelledError:
            self.cancelled.append(spec.tag)
            raise
        finally:
            self.running -= 1
        self.images[spec.tag] = image
        return BuiltImage(id=image.id, tag=spec.tag, exposed_ports=image.exposed_ports)

    async def _run(self, spec: BuildSpec, text: str, log: LineSink) -> FakeImage:
        steps = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        files: dict[str, bytes] = {}
        ports: list[int] = []
        for n, step in enumerate(steps, 1):
            log(f"Step {n}/{len(steps)} : {step}", "stdout")
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if found := _EXIT.match(step):
                code = int(found.group(1))
                if code:
                    command = step[len("RUN ") :]
                    message = f"The command '/bin/sh -c {command}' returned a non-zero code: {code}"
                    log(message, "stderr")
                    raise BuildError(f"docker build failed: {message}")
            elif found := _COPY.match(step):
                files.update(await asyncio.to_thread(_copy, spec.context, *found.groups()))
            elif found := _EXPOSE.match(step):
                ports.append(int(found.group(1)))
        digest = hashlib.sha256(repr((spec.tag, sorted(files.items()))).encode()).hexdigest()
        return FakeImage(
            id=f"sha256:{digest}",
            labels=dict(spec.labels),
            files=files,
            exposed_ports=tuple(sorted(ports)),
        )

    async def export_path(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str]
    ) -> None:
        found = self._find(image)
        if found is None:
            raise BuildError(f"cannot open the built image {image}: no such image")
        root = path.rstrip("/")
        inside = {k: v for k, v in found.files.items() if k.startswith(root + "/")}
        if not inside:
            raise BuildError(f"the built image has no {path}", "no_output")
        base = posixpath.basename(root)
        await asyncio.to_thread(_write_tar, dest, base, root, inside)

    async def remove_image(self, image: str, labels: Mapping[str, str] | None = None) -> bool:
        found = self._find(image)
        if found is None:
            return False
        if labels and any(found.labels.get(k) != v for k, v in labels.items()):
            return False
        self.images = {tag: i for tag, i in self.images.items() if i.id != found.id}
        return True

    def _find(self, image: str) -> FakeImage | None:
        """By tag or by id, as Docker finds images."""
        if image in self.images:
            return self.images[image]
        return next((i for i in self.images.values() if i.id == image), None)


def _copy(context: Path, src: str, dest: str) -> dict[str, bytes]:
    base = (context / src).resolve()
    if base.is_file():
        return {posixpath.join(dest, base.name): base.read_bytes()}
    out: dict[str, bytes] = {}
    for item in sorted(base.rglob("*")):
        if item.is_file() and not item.is_symlink():
            out[posixpath.join(dest, item.relative_to(base).as_posix())] = item.read_bytes()
    return out


def _write_tar(dest: Path, base: str, root: str, files: dict[str, bytes]) -> None:
    with tarfile.open(dest, "w") as tar:
        info = tarfile.TarInfo(base)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        for name, data in sorted(files.items()):
            member = tarfile.TarInfo(base + name[len(root) :])
            member.size = len(data)
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
