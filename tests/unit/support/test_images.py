from __future__ import annotations

import sys
from pathlib import Path

import pytest

from libs.infra import find_binary
from tests.support.images import (
    DEBIAN,
    DEFAULT_MIRROR,
    PYTHON,
    ImageBuildError,
    debian_mirror,
    is_static_elf,
    scratch_image,
)


def _apt(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_mirror_comes_from_a_deb822_sources_file(tmp_path: Path) -> None:
    apt = _apt(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n"
    )})  # fmt: skip
    assert debian_mirror(apt) == "http://mirror.example/debian"


def test_mirror_comes_from_a_one_line_sources_list(tmp_path: Path) -> None:
    apt = _apt(tmp_path, {"sources.list": (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )})  # fmt: skip
    assert debian_mirror(apt) == "http://one.example/debian"


def test_disabled_and_foreign_sources_are_ignored(tmp_path: Path) -> None:
    apt = _apt(tmp_path, {
        "sources.list.d/off.sources": (
            "Enabled: no\nTypes: deb\nURIs: http://off/\nSuites: bookworm\n"
        ),
        "sources.list.d/node.list.disabled": "deb http://node/ bookworm main\n",
        "sources.list.d/other.list": "deb http://other/ nodistro main\n",
    })  # fmt: skip
    assert debian_mirror(apt) == DEFAULT_MIRROR


def test_recipes_differ_so_each_image_is_cached_on_its_own() -> None:
    assert DEBIAN.digest != PYTHON.digest
    assert PYTHON.include == ("python3",)
    assert DEBIAN.name == "slipway-test-debian-bookworm"


def test_static_and_dynamic_executables_are_told_apart(tmp_path: Path) -> None:
    assert is_static_elf(find_binary("caddy"))
    assert not is_static_elf(Path(sys.executable).resolve())
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    assert not is_static_elf(script)


def test_scratch_image_refuses_a_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(ImageBuildError, match="no such file"):
        scratch_image(tmp_path / "missing", "slipway-test/none:1")


def test_scratch_image_refuses_a_dynamic_binary() -> None:
    with pytest.raises(ImageBuildError, match="not a static ELF"):
        scratch_image(Path(sys.executable).resolve(), "slipway-test/none:1")
