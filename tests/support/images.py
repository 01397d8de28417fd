"""Local images for tests, built once per machine and reused by tag.

There is no registry here (`docker pull` fails), so test images come from two recipes:
- `scratch_image(binary, tag)`: `FROM scratch` + one static binary (a few seconds);
- `debian_base_image()` / `python_base_image()`: a Debian bookworm `--variant=minbase` rootfs made
  by `debootstrap` from the configured Debian mirror, then `docker import`ed. Both images together
  took about 1 minute here (a slow mirror: up to ~5 min each); it runs once per machine: the debs
  and rootfs tarballs stay in `CACHE_DIR`, and the image is reused while its recipe label matches.

Prebuild outside pytest's per-test timeout with `python -m tests.support.images` (`make test` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docker import DockerClient
from docker.errors import DockerException, ImageNotFound

from tests.support.docker_engine import DockerUnavailable, connect_docker

CACHE_DIR = Path(os.environ.get("SLIPWAY_TEST_CACHE", "/var/cache/slipway-test"))
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RECIPE_LABEL = "slipway-test.recipe"
DEBOOTSTRAP_TIMEOUT_S = 1800


class ImageBuildError(RuntimeError):
    """A test image could not be built (the message says which step and why)."""


@dataclass(frozen=True)
class RootfsRecipe:
    tag: str
    include: tuple[str, ...]
    cmd: tuple[str, ...]

    @property
    def name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.tag.lower()).strip("-")

    @property
    def digest(self) -> str:
        # Bump "v1" when the build steps below change, so cached images are rebuilt.
        key = f"v1|{SUITE}|minbase|{','.join(self.include)}|{self.cmd}|{PATH_ENV}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


DEBIAN = RootfsRecipe("slipway-test/debian:bookworm", (), ("bash",))
PYTHON = RootfsRecipe("slipway-test/python:3", ("python3",), ("python3",))
DEBIAN_IMAGE = DEBIAN.tag
PYTHON_IMAGE = PYTHON.tag


def debian_base_image(client: DockerClient | None = None) -> str:
    """Tag of a Debian bookworm minbase image (`CMD ["bash"]`), built on first use."""
    return ensure_rootfs_image(DEBIAN, client)


def python_base_image(client: DockerClient | None = None) -> str:
    """Tag of Debian bookworm minbase + `python3` (`CMD ["python3"]`), built on first use."""
    return ensure_rootfs_image(PYTHON, client)


def scratch_image(binary_path: Path | str, tag: str, client: DockerClient | None = None) -> str:
    """Tag of `FROM scratch` + the static binary at `/<name>` as ENTRYPOINT; rebuilt only when
    the binary's content changes."""
    binary = Path(binary_path)
    if not binary.is_file():
        raise ImageBuildError(f"scratch_image: no such file {binary}")
    if not is_static_elf(binary):
        raise ImageBuildError(f"scratch_image: {binary} is not a static ELF executable")
    data = binary.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    docker_client = client or connect_docker()
    if _has_image(docker_client, tag, digest):
        return tag
    name = re.sub(r"[^A-Za-z0-9._-]", "_", binary.name)
    dockerfile = f'FROM scratch\nCOPY {name} /{name}\nENTRYPOINT ["/{name}"]\n'.encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile, 0o644)
        _add_bytes(tar, name, data, 0o755)
    context.seek(0)
    try:
        docker_client.images.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, labels={RECIPE_LABEL: digest}
        )
    except DockerException as exc:
        raise ImageBuildError(f"scratch_image: docker build of {tag} failed: {exc}") from exc
    return tag


def ensure_rootfs_image(recipe: RootfsRecipe, client: DockerClient | None = None) -> str:
    docker_client = client or connect_docker()
    if _has_image(docker_client, recipe.tag, recipe.digest):
        return recipe.tag
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Other pytest runs on this machine (other worktrees) may build the same image right now.
    with _locked(CACHE_DIR / "rootfs.lock"):
        if _has_image(docker_client, recipe.tag, recipe.digest):
            return recipe.tag
        tarball = CACHE_DIR / f"{recipe.name}-{recipe.digest}.tar"
        if not tarball.exists():
            _debootstrap_tarball(recipe, tarball)
        _import(docker_client, recipe, tarball)
    return recipe.tag


def image_is_current(recipe: RootfsRecipe, client: DockerClient) -> bool:
    return _has_image(client, recipe.tag, recipe.digest)


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The first Debian mirror configured for the suite in apt's sources, else deb.debian.org."""
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in {".list", ".sources"})
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found = _deb822_mirror(text) if path.suffix == ".sources" else _one_line_mirror(text)
        if found:
            return found
    return DEFAULT_MIRROR


def _one_line_mirror(text: str) -> str | None:
    for line in text.splitlines():
        # Drop comments and "[arch=amd64 signed-by=...]" options before splitting.
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
            return words[1].rstrip("/")
    return None


def _deb822_mirror(text: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if (
            "deb" in fields.get("types", [])
            and SUITE in fields.get("suites", [])
            and fields.get("enabled", ["yes"]) != ["no"]
            and fields.get("uris")
        ):
            return fields["uris"][0].rstrip("/")
    return None


def _debootstrap_tarball(recipe: RootfsRecipe, tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    debs = CACHE_DIR / "debs"
    debs.mkdir(exist_ok=True)
    staging = CACHE_DIR / f"staging-{recipe.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    rootfs = staging / "rootfs"
    command = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}"]
    if recipe.include:
        command.append(f"--include={','.join(recipe.include)}")
    command += [SUITE, str(rootfs), debian_mirror()]
    try:
        log = staging / "debootstrap.log"
        staging.mkdir(parents=True)
        with log.open("wb") as out:
            result = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT_S
            )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise ImageBuildError(f"{' '.join(command)} failed ({result.returncode}):\n{tail}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*",
             "--exclude=./sys/*", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        partial.rename(tarball)
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(f"building {recipe.tag} timed out: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(f"packing {recipe.tag} failed: {exc.stderr!r}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _import(client: DockerClient, recipe: RootfsRecipe, tarball: Path) -> None:
    repository, _, tag = recipe.tag.rpartition(":")
    cmd = ", ".join(f'"{part}"' for part in recipe.cmd)
    changes = [
        f"ENV PATH={PATH_ENV}",
        "ENV LANG=C.UTF-8",
        f"CMD [{cmd}]",
        f"LABEL {RECIPE_LABEL}={recipe.digest}",
    ]
    try:
        client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=changes
        )
    except DockerException as exc:
        raise ImageBuildError(f"docker import of {recipe.tag} failed: {exc}") from exc
    if not _has_image(client, recipe.tag, recipe.digest):
        raise ImageBuildError(f"docker import of {recipe.tag} produced no labelled image")


def _has_image(client: DockerClient, tag: str, digest: str) -> bool:
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return False
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return bool(labels.get(RECIPE_LABEL) == digest)


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (so it runs in `FROM scratch`)."""
    with path.open("rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        is64, endian = header[4] == 2, "<" if header[5] == 1 else ">"
        if is64:
            (phoff,) = struct.unpack_from(f"{endian}Q", header, 32)
            phentsize, phnum = struct.unpack_from(f"{endian}HH", header, 54)
        else:
            (phoff,) = struct.unpack_from(f"{endian}I", header, 28)
            phentsize, phnum = struct.unpack_from(f"{endian}HH", header, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(
        struct.unpack_from(f"{endian}I", table, i * phentsize)[0] != pt_interp for i in range(phnum)
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> int:
    """Prebuild the rootfs images; a machine without Docker is told so and left alone."""
    try:
        client = connect_docker()
    except DockerUnavailable as exc:
        print(f"test images: {exc}; image tests will skip", file=sys.stderr)
        return 0
    for recipe in (DEBIAN, PYTHON):
        if image_is_current(recipe, client):
            print(f"test images: {recipe.tag} is ready")
            continue
        print(f"test images: building {recipe.tag} (debootstrap, once per machine)...", flush=True)
        ensure_rootfs_image(recipe, client)
        print(f"test images: {recipe.tag} built")
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
