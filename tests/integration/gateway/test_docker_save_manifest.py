"""The manifest reader against the real output of `docker save` of a locally built image."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from libs.archives import (
    ArchiveFormat,
    read_docker_save_manifest,
    validate_archive,
)

pytestmark = pytest.mark.docker


def build_context() -> io.BytesIO:
    files = {
        "Dockerfile": b"FROM scratch\nCOPY hello.txt /hello.txt\n",
        "hello.txt": b"hello from slipway\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture
def saved_image(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"no Docker engine: {exc}")
    tag = f"slipway-test/gatewaypure-{uuid.uuid4().hex[:12]}:1"
    image, _ = client.images.build(fileobj=build_context(), custom_context=True, tag=tag, rm=True)
    try:
        path = tmp_path / "image.tar"
        with open(path, "wb") as out:
            for chunk in image.save(named=True):
                out.write(chunk)
        yield path, str(image.id), tag
    finally:
        client.images.remove(image.id, force=True)
        client.close()


def test_real_docker_save_gives_the_engines_image_id(saved_image: tuple[Path, str, str]) -> None:
    path, image_id, tag = saved_image
    info = read_docker_save_manifest(path)
    assert info.image_id == image_id
    assert info.repo_tags == (tag,)
    assert len(info.layers) == 1


def test_gzipped_docker_save_reads_the_same(
    saved_image: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, image_id, _ = saved_image
    gz_path = tmp_path / "image.tar.gz"
    with open(path, "rb") as src, gzip.open(gz_path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert read_docker_save_manifest(gz_path).image_id == image_id


def test_real_docker_save_passes_the_archive_safety_rules(
    saved_image: tuple[Path, str, str],
) -> None:
    path, _, _ = saved_image
    summary = validate_archive(path)
    assert summary.format is ArchiveFormat.TAR
    assert summary.files >= 3  # config, layer, manifest.json (+ legacy metadata)
