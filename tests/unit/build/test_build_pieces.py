"""The build job's pieces: host slots, context files, static repacking, image names."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

import pytest

from services.build.context import BuildContextError, build_args, image_tag, prepare_context
from services.build.slots import HostBuildSlots
from services.build.static_files import StaticOutputError, repack_static
from services.build.types import Detection


async def test_a_host_slot_is_shared_by_every_slots_object_on_the_same_directory(
    tmp_path: Path,
) -> None:
    first, second = HostBuildSlots(tmp_path, 1), HostBuildSlots(tmp_path, 1)
    waits: list[str] = []
    order: list[str] = []

    async def hold() -> None:
        async with first.acquire():
            order.append("first in")
            await asyncio.sleep(0.3)
            order.append("first out")

    async def wait() -> None:
        await asyncio.sleep(0.05)
        async with second.acquire(waits.append):
            order.append("second in")

    await asyncio.gather(hold(), wait())
    assert order == ["first in", "first out", "second in"]
    assert len(waits) == 1 and "waiting for a build slot" in waits[0]


async def test_n_slots_let_n_builds_in_at_once(tmp_path: Path) -> None:
    slots = HostBuildSlots(tmp_path, 2)
    async with asyncio.timeout(1), slots.acquire() as a, slots.acquire() as b:
        assert {a, b} == {0, 1}


async def test_waiting_for_a_slot_can_be_cancelled_at_once(tmp_path: Path) -> None:
    slots = HostBuildSlots(tmp_path, 1)
    async with slots.acquire():
        waiter = asyncio.create_task(slots.acquire().__aenter__())
        await asyncio.sleep(0.2)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with asyncio.timeout(1), slots.acquire():
        pass


def test_zero_slots_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostBuildSlots(tmp_path, 0)


def detection(**fields: object) -> Detection:
    base: dict[str, object] = {
        "preset": "static",
        "kind": "static",
        "signal": "index.html",
        "start_command": None,
        "static_output_dir": ".",
        "dockerfile": "FROM scratch\nCOPY . /site/\n",
        "package_manager": None,
        "port": None,
    }
    return Detection(**{**base, **fields})  # type: ignore[arg-type]


def test_a_generated_file_replaces_a_link_of_the_same_name_never_writing_through_it(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    root = tmp_path / "src"
    root.mkdir()
    os.symlink(victim, root / ".slipway.Dockerfile")
    prepare_context(root, detection(), None)
    assert victim.read_text() == "untouched"
    assert not (root / ".slipway.Dockerfile").is_symlink()
    assert (root / ".slipway.Dockerfile").read_text() == "FROM scratch\nCOPY . /site/\n"


def test_a_context_outside_the_checkout_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    os.symlink(tmp_path, root / "up")
    with pytest.raises(BuildContextError, match="not in the checkout"):
        prepare_context(root, detection(context_dir="up"), None)


def test_a_directory_in_the_way_of_a_generated_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / ".slipway.Dockerfile").mkdir()
    with pytest.raises(BuildContextError, match=r"directory named \.slipway\.Dockerfile"):
        prepare_context(tmp_path, detection(), None)


def test_a_repository_dockerfile_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    prepare_context(
        tmp_path,
        detection(preset="dockerfile", generated=False, dockerfile_path="Dockerfile"),
        None,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]


def test_build_args_are_those_declared_plus_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    args = build_args("FROM x\narg SLIPWAY_PROJECT\n", {"SLIPWAY_PROJECT": "p", "OTHER": "o"})
    assert args == {"SLIPWAY_PROJECT": "p", "HTTPS_PROXY": "http://proxy:3128"}


def test_image_tags_follow_the_naming_rule() -> None:
    assert image_tag("shop", "prod", "d123") == "slipway/shop/prod:d123"
    with pytest.raises(BuildContextError):
        image_tag("Shop", "prod", "d123")
    with pytest.raises(BuildContextError):
        image_tag("shop", "prod", "-d123")


def export(path: Path, entries: list[tuple[str, bytes | None, str | None]]) -> Path:
    """(name, data or None for a directory, hard link target) into a docker-cp style tar."""
    with tarfile.open(path, "w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.LNKTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_static_files_lose_the_site_prefix_and_everything_never_to_publish(
    tmp_path: Path,
) -> None:
    src = export(
        tmp_path / "export.tar",
        [
            ("site", None, None),
            ("site/index.html", b"home", None),
            ("site/.well-known/security.txt", b"sec", None),
            ("site/.slipway.Dockerfile", b"FROM", None),
            ("site/.dockerignore", b".git", None),
            ("site/.slipway-ca.crt", b"ca", None),
            ("site/.git/config", b"[core]", None),
            ("site/vendor/.git/HEAD", b"ref", None),
            ("site/copy.html", None, "site/index.html"),
        ],
    )
    files = repack_static(src, "site", tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        found = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert found == {
        "index.html": b"home",
        ".well-known/security.txt": b"sec",
        "copy.html": b"home",
    }
    assert files == 3


def test_an_empty_static_output_is_refused(tmp_path: Path) -> None:
    src = export(tmp_path / "export.tar", [("site", None, None)])
    with pytest.raises(StaticOutputError, match="no files"):
        repack_static(src, "site", tmp_path / "out.tar.gz")
