"""Packing a checkout and reading its slipway.toml: no .git, no link followed out of it."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from services.clone.sources import SourceError, app_dir_of, pack_source, read_slipway_toml


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_the_tarball_holds_the_work_tree_without_any_git_directory(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "src",
        {
            "app.py": "print()",
            ".git/config": "[core]",
            "vendor/lib/.git": "gitdir: ../../.git/modules/lib",
            "vendor/lib/lib.py": "x = 1",
            ".github/workflows/ci.yml": "on: push",
        },
    )
    size = pack_source(root, tmp_path / "out.tar.gz", 10_000)
    names = set(members(tmp_path / "out.tar.gz"))
    assert names == {
        "app.py",
        "vendor",
        "vendor/lib",
        "vendor/lib/lib.py",
        ".github",
        ".github/workflows",
        ".github/workflows/ci.yml",
    }
    assert size == (tmp_path / "out.tar.gz").stat().st_size


def test_links_are_stored_as_links_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    root = tree(tmp_path / "src", {"a.txt": "a"})
    os.symlink(secret, root / "leak")
    os.symlink("a.txt", root / "alias")
    pack_source(root, tmp_path / "out.tar.gz", 10_000)
    found = members(tmp_path / "out.tar.gz")
    assert found["leak"].issym() and found["leak"].linkname == str(secret)
    assert found["alias"].issym() and found["alias"].linkname == "a.txt"


def test_a_tree_over_the_limit_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"a.bin": "x" * 600, "b.bin": "y" * 600})
    with pytest.raises(SourceError, match="larger than the limit"):
        pack_source(root, tmp_path / "out.tar.gz", 1000)


def test_no_slipway_toml_reads_as_none(tmp_path: Path) -> None:
    assert read_slipway_toml(tree(tmp_path, {"a": ""})) is None


def test_a_slipway_toml_linking_out_of_the_checkout_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text("[deploy]\nport = 1\n")
    root = tree(tmp_path / "src", {"a": ""})
    os.symlink(outside, root / "slipway.toml")
    assert read_slipway_toml(root) is None


def test_an_oversized_slipway_toml_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path, {"slipway.toml": "# " + "x" * 300_000})
    with pytest.raises(SourceError, match="larger than"):
        read_slipway_toml(root)


def test_a_slipway_toml_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "slipway.toml").write_bytes(b"\xff\xfe[deploy]")
    with pytest.raises(SourceError, match="not UTF-8"):
        read_slipway_toml(tmp_path)


def test_the_app_directory_is_normalised(tmp_path: Path) -> None:
    tree(tmp_path, {"apps/web/index.html": ""})
    assert app_dir_of(tmp_path, "./apps//web/") == "apps/web"
    assert app_dir_of(tmp_path, None) == "."
    assert app_dir_of(tmp_path, ".") == "."


def test_an_app_directory_linking_out_of_the_checkout_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"a": ""})
    os.symlink(tmp_path, root / "up")
    with pytest.raises(SourceError, match="not a directory of the repository"):
        app_dir_of(root, "up")
