"""The ImageBuilder contract, held by the Docker adapter and by the fake alike."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.build.adapters.docker_builder import DockerImageBuilder
from services.build.adapters.fake_builder import FakeImageBuilder
from services.build.builder import BuildError, BuildSpec, ImageBuilder, Stream
from tests.support.docker_cleanup import TEST_LABEL, remove_test_artifacts


@dataclass
class World:
    builder: ImageBuilder
    token: str
    base: str  # an image with /bin/sh

    def tag(self, name: str) -> str:
        return f"slipway-test/contract-{self.token}:{name}"


@pytest.fixture(params=["docker", "fake"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    token = uuid.uuid4().hex[:10]
    if request.param == "fake":
        yield World(FakeImageBuilder(), token, "base")
        return
    client = request.getfixturevalue("docker_client")
    base = request.getfixturevalue("debian_base_image")
    try:
        yield World(DockerImageBuilder(), token, base)
    finally:
        remove_test_artifacts(client, token=token, repository=f"slipway-test/contract-{token}")


def context(root: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


class Lines(list[tuple[str, Stream]]):
    def __call__(self, line: str, stream: Stream) -> None:
        self.append((line, stream))


async def test_a_build_is_tagged_exposes_its_ports_and_streams_its_steps(
    world: World, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path / "ctx",
        f"FROM scratch\nLABEL {TEST_LABEL}={world.token}\nCOPY site /site/\nEXPOSE 8080\n",
        {"site/index.html": "hi"},
    )
    log = Lines()
    built = await world.builder.build(
        BuildSpec(ctx, "Dockerfile", world.tag("ok"), labels={"slipway.deployment": "d1"}), log
    )
    assert built.tag == world.tag("ok")
    assert built.id.startswith("sha256:")
    assert built.exposed_ports == (8080,)
    assert any(line.startswith("Step 1/") and "FROM scratch" in line for line, _ in log), log


async def test_a_failing_step_raises_with_the_builder_s_words(world: World, tmp_path: Path) -> None:
    ctx = context(
        tmp_path / "ctx", f"FROM {world.base}\nLABEL {TEST_LABEL}={world.token}\nRUN exit 3\n"
    )
    log = Lines()
    with pytest.raises(BuildError, match="returned a non-zero code: 3") as err:
        await world.builder.build(BuildSpec(ctx, "Dockerfile", world.tag("bad")), log)
    assert err.value.code == "build_failed"
    assert any("non-zero code: 3" in line and stream == "stderr" for line, stream in log)


async def test_files_are_copied_out_of_an_image_under_the_directory_s_name(
    world: World, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path / "ctx",
        f"FROM scratch\nLABEL {TEST_LABEL}={world.token}\nCOPY site /site/\n",
        {"site/index.html": "hello", "site/css/a.css": "body{}"},
    )
    built = await world.builder.build(BuildSpec(ctx, "Dockerfile", world.tag("files")), Lines())
    out = tmp_path / "out.tar"
    await world.builder.export_path(built.id, "/site", out, {TEST_LABEL: world.token})
    with tarfile.open(out) as tar:
        found = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile(found["site/index.html"]).read() == b"hello"  # type: ignore[union-attr]
    assert "site/css/a.css" in found


async def test_copying_a_missing_directory_fails(world: World, tmp_path: Path) -> None:
    ctx = context(
        tmp_path / "ctx",
        f"FROM scratch\nLABEL {TEST_LABEL}={world.token}\nCOPY a.txt /a.txt\n",
        {"a.txt": "a"},
    )
    built = await world.builder.build(BuildSpec(ctx, "Dockerfile", world.tag("nosite")), Lines())
    with pytest.raises(BuildError, match="has no /site"):
        await world.builder.export_path(built.id, "/site", tmp_path / "o.tar", {})


async def test_an_image_is_removed_only_when_it_carries_the_labels(
    world: World, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path / "ctx",
        f"FROM scratch\nLABEL {TEST_LABEL}={world.token}\nCOPY a.txt /a.txt\n",
        {"a.txt": "a"},
    )
    labels = {"slipway.deployment": "d1", "slipway.attempt": "1"}
    tag = world.tag("rm")
    await world.builder.build(BuildSpec(ctx, "Dockerfile", tag, labels=labels), Lines())
    assert not await world.builder.remove_image(tag, {"slipway.attempt": "2"})
    assert await world.builder.remove_image(tag, labels)
    assert not await world.builder.remove_image(tag)
